"""The built-in node types (python, message, set, accumulate, delay, emit, fail, scripted_llm) that graph
documents name, each with the JSON Schema of its config; shared schema pieces and callable imports."""

from __future__ import annotations

import _string
import asyncio
import importlib
import json
import string
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from engine.errors import NodeError
from engine.graph.type_spec import ConfigProblem, NodeTypeSpec
from engine.partial import NodePartial
from engine.types import JSON, Message, Role

if TYPE_CHECKING:
    from engine.node import NodeContext
    from engine.state import StateSnapshot

TEMPLATE_FIELDS = ("extra", "step", "node")

TARGETS_SCHEMA: dict[str, JSON] = {
    "type": "array",
    "items": {"type": "string", "minLength": 1},
    "description": 'Node ids (or "End") to route to.',
}
_DOTTED = r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*"
CALLABLE_SCHEMA: dict[str, JSON] = {
    "type": "string",
    "title": "Callable",
    "description": 'Import path of the function: "package.module:function" (imported only when trusted).',
    "pattern": rf"^{_DOTTED}:{_DOTTED}$",
    "x-error": "is not of the form 'package.module:function'",
}


def config_schema(title: str, properties: dict[str, JSON], required: Sequence[str] = ()) -> dict[str, JSON]:
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": title,
        "type": "object",
        "properties": properties,
        "required": list(required),
        "additionalProperties": False,
    }


# ---------------------------------------------------------------- templates


class _TemplateFormatter(string.Formatter):
    """`str.format` restricted to item access (`{extra[key]}`): attribute access could walk into objects."""

    def get_field(self, field_name: str, args: Sequence[Any], kwargs: Mapping[str, Any]) -> Any:
        first, rest = _string.formatter_field_name_split(field_name)
        obj = self.get_value(first, args, kwargs)
        for is_attr, index in rest:
            if is_attr:
                raise ValueError(f"attribute access '.{index}' is not allowed in templates")
            obj = obj[index]
        return obj, first


_FORMATTER = _TemplateFormatter()


def check_template(template: str) -> str | None:
    """The reason `template` cannot work, or None: bad syntax, attribute access, an unknown top-level name."""
    try:
        for _literal, field_name, _spec, _conv in _FORMATTER.parse(template):
            if field_name is None:
                continue
            if field_name == "" or field_name.isdigit():
                return "positional fields like '{}' are not allowed; use {extra[key]}, {step} or {node}"
            first, rest = _string.formatter_field_name_split(field_name)
            if first not in TEMPLATE_FIELDS:
                return f"unknown field '{first}' (use {{extra[key]}}, {{step}} or {{node}})"
            for is_attr, index in rest:
                if is_attr:
                    return f"attribute access '.{index}' is not allowed (use {{extra[key]}})"
    except ValueError as exc:
        return f"bad template: {exc}"
    return None


def render_template(template: str, snapshot: StateSnapshot, ctx: NodeContext, what: str) -> str:
    """Format `template` over extra, step and node; a missing key is a NodeError naming it."""
    try:
        return _FORMATTER.format(template, extra=snapshot.extra, step=ctx.step, node=ctx.node_id)
    except KeyError as exc:
        key = exc.args[0] if exc.args else "?"
        raise NodeError(f"{what} template names missing key '{key}' (template: {template!r})") from exc
    except (IndexError, ValueError, TypeError) as exc:
        raise NodeError(f"{what} template failed: {exc} (template: {template!r})") from exc


def _template_check(*keys: str) -> Callable[[Mapping[str, JSON]], list[ConfigProblem]]:
    def check(config: Mapping[str, JSON]) -> list[ConfigProblem]:
        out: list[ConfigProblem] = []
        for key in keys:
            value = config.get(key)
            if isinstance(value, str):
                reason = check_template(value)
                if reason is not None:
                    out.append((f".{key}", reason))
        return out

    return check


# ---------------------------------------------------------------- python callables


def resolve_callable(ref: str) -> Any:
    """Import "package.module:attr.sub" and return the attribute; ValueError says what is missing."""
    module_name, sep, attr_path = ref.partition(":")
    if not sep or not module_name or not attr_path:
        raise ValueError(f"callable '{ref}' is not of the form 'package.module:function'")
    try:
        obj: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise ValueError(f"callable '{ref}': cannot import module '{module_name}': {exc}") from exc
    for part in attr_path.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError as exc:
            raise ValueError(f"callable '{ref}': '{module_name}' has no attribute '{attr_path}'") from exc
    if not callable(obj) and not callable(getattr(obj, "run", None)):
        raise ValueError(f"callable '{ref}' is a {type(obj).__name__}, not a callable")
    return obj


def python_callable(config: Mapping[str, JSON]) -> Any:
    return resolve_callable(str(config["callable"]))


# ---------------------------------------------------------------- node types


def _message_node(config: Mapping[str, JSON]) -> Any:
    role = Role.parse(str(config.get("role", "assistant")))
    template = str(config.get("content", ""))

    async def message(snapshot: StateSnapshot, ctx: NodeContext) -> NodePartial:
        text = render_template(template, snapshot, ctx, "message content")
        return NodePartial(messages=[Message(role, text)])

    return message


def _set_node(config: Mapping[str, JSON]) -> Any:
    values = dict(config.get("values") or {})

    async def set_values(snapshot: StateSnapshot, ctx: NodeContext) -> NodePartial:
        return NodePartial(extra=json.loads(json.dumps(values)))

    return set_values


def _number(value: JSON, what: str) -> int | float:
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise NodeError(f"{what} is {type(value).__name__} {value!r}, expected a number")
    return value


def _accumulate_node(config: Mapping[str, JSON]) -> Any:
    key, into = str(config["key"]), str(config["into"])

    async def accumulate(snapshot: StateSnapshot, ctx: NodeContext) -> NodePartial:
        total = _number(snapshot.extra.get(into), f"extra['{into}']")
        add = _number(snapshot.extra.get(key), f"extra['{key}']")
        return NodePartial(extra={into: total + add})

    return accumulate


def _delay_node(config: Mapping[str, JSON]) -> Any:
    seconds = float(config.get("ms", 100)) / 1000.0

    async def delay(snapshot: StateSnapshot, ctx: NodeContext) -> None:
        await asyncio.sleep(seconds)

    return delay


def _emit_node(config: Mapping[str, JSON]) -> Any:
    scope = str(config.get("scope", "progress"))
    template = str(config.get("message", ""))

    async def emit(snapshot: StateSnapshot, ctx: NodeContext) -> None:
        ctx.emit(scope, render_template(template, snapshot, ctx, "emit message"))

    return emit


def _fail_node(config: Mapping[str, JSON]) -> Any:
    message = str(config.get("message", "boom"))

    async def fail(snapshot: StateSnapshot, ctx: NodeContext) -> None:
        raise NodeError(message)

    return fail


def _scripted_llm_node(config: Mapping[str, JSON]) -> Any:
    reply = str(config.get("reply", ""))
    size = int(config.get("chunk_chars", 4))
    pause = float(config.get("delay_ms", 20)) / 1000.0

    async def scripted_llm(snapshot: StateSnapshot, ctx: NodeContext) -> NodePartial:
        stream_id = f"{ctx.node_id}-{ctx.step}"
        chunks = [reply[i : i + size] for i in range(0, len(reply), size)]
        for index, chunk in enumerate(chunks):
            if index and pause:
                await asyncio.sleep(pause)
            ctx.emit_llm_chunk(chunk, stream_id=stream_id)
        ctx.emit_llm_final(reply, stream_id=stream_id)
        return NodePartial(messages=[Message.assistant(reply)])

    return scripted_llm


NODE_TYPES: list[NodeTypeSpec] = [
    NodeTypeSpec(
        "python",
        "node",
        "Python function",
        "Calls a node function (snapshot, ctx) -> NodePartial | None, imported from a module.",
        config_schema("Python function", {"callable": CALLABLE_SCHEMA}, ["callable"]),
        python_callable,
        imports_code=True,
    ),
    NodeTypeSpec(
        "message",
        "node",
        "Message",
        "Appends one message; the content is a template over {extra[key]}, {step} and {node}.",
        config_schema(
            "Message",
            {
                "role": {
                    "type": "string",
                    "title": "Role",
                    "description": "user, assistant, system, tool or a custom role.",
                    "default": "assistant",
                    "examples": ["assistant", "user", "system", "tool"],
                    "minLength": 1,
                },
                "content": {
                    "type": "string",
                    "title": "Content",
                    "description": "Template: {extra[key]}, {step} and {node} are replaced.",
                    "default": "",
                },
            },
            ["content"],
        ),
        _message_node,
        check=_template_check("content"),
    ),
    NodeTypeSpec(
        "set",
        "node",
        "Set values",
        "Writes keys of extra; a null value deletes the key.",
        config_schema(
            "Set values",
            {
                "values": {
                    "type": "object",
                    "title": "Values",
                    "description": "Keys to write into extra (null deletes).",
                    "default": {},
                }
            },
            ["values"],
        ),
        _set_node,
    ),
    NodeTypeSpec(
        "accumulate",
        "node",
        "Accumulate",
        "extra[into] = (extra[into] or 0) + (extra[key] or 0).",
        config_schema(
            "Accumulate",
            {
                "key": {
                    "type": "string",
                    "title": "Key",
                    "description": "Extra key whose value is added.",
                    "default": "tick",
                    "minLength": 1,
                },
                "into": {
                    "type": "string",
                    "title": "Into",
                    "description": "Extra key holding the running total.",
                    "default": "sum",
                    "minLength": 1,
                },
            },
            ["key", "into"],
        ),
        _accumulate_node,
    ),
    NodeTypeSpec(
        "delay",
        "node",
        "Delay",
        "Sleeps without blocking the event loop.",
        config_schema(
            "Delay",
            {
                "ms": {
                    "type": "number",
                    "title": "Milliseconds",
                    "description": "How long to sleep.",
                    "default": 100,
                    "minimum": 0,
                }
            },
            ["ms"],
        ),
        _delay_node,
    ),
    NodeTypeSpec(
        "emit",
        "node",
        "Emit event",
        "Emits a node event with a scope and a templated message.",
        config_schema(
            "Emit event",
            {
                "scope": {
                    "type": "string",
                    "title": "Scope",
                    "description": "Event scope.",
                    "default": "progress",
                    "minLength": 1,
                },
                "message": {
                    "type": "string",
                    "title": "Message",
                    "description": "Template: {extra[key]}, {step} and {node} are replaced.",
                    "default": "",
                },
            },
            ["message"],
        ),
        _emit_node,
        check=_template_check("message"),
    ),
    NodeTypeSpec(
        "fail",
        "node",
        "Fail",
        "Raises a node error with the given message (for testing error paths).",
        config_schema(
            "Fail",
            {
                "message": {
                    "type": "string",
                    "title": "Message",
                    "description": "The node error's message.",
                    "default": "boom",
                }
            },
        ),
        _fail_node,
    ),
    NodeTypeSpec(
        "scripted_llm",
        "node",
        "Scripted LLM",
        "Streams a fixed reply as LLM chunk events, then appends it as an assistant message.",
        config_schema(
            "Scripted LLM",
            {
                "reply": {
                    "type": "string",
                    "title": "Reply",
                    "description": "The text to stream.",
                    "default": "",
                },
                "chunk_chars": {
                    "type": "integer",
                    "title": "Chunk size",
                    "description": "Characters per chunk event.",
                    "default": 4,
                    "minimum": 1,
                },
                "delay_ms": {
                    "type": "number",
                    "title": "Delay between chunks (ms)",
                    "description": "Pause between chunk events.",
                    "default": 20,
                    "minimum": 0,
                },
            },
            ["reply"],
        ),
        _scripted_llm_node,
    ),
]
