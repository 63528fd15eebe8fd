"""The built-in node type `ask` (ENGINE.md 8.3): a document's human-in-the-loop step. It interrupts with
`{"prompt": <the rendered prompt>}` (and the optional answer schema) and writes the answer to `extra[key]`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from engine.graph.builtin_types import _template_check, config_schema, render_template
from engine.graph.type_spec import ConfigProblem, NodeTypeSpec
from engine.partial import NodePartial
from engine.types import JSON

if TYPE_CHECKING:
    from engine.node import NodeContext
    from engine.state import StateSnapshot


def _ask_node(config: Mapping[str, JSON]) -> Any:
    prompt, key = str(config["prompt"]), str(config["key"])
    schema = config.get("schema")

    async def ask(snapshot: StateSnapshot, ctx: NodeContext) -> NodePartial:
        text = render_template(prompt, snapshot, ctx, "ask prompt")
        answer = ctx.interrupt({"prompt": text}, schema if isinstance(schema, dict) else None)
        return NodePartial(extra={key: answer})

    return ask


def _check(config: Mapping[str, JSON]) -> list[ConfigProblem]:
    out = _template_check("prompt")(config)
    schema = config.get("schema")
    if isinstance(schema, dict):
        try:
            Draft202012Validator.check_schema(schema)
        except SchemaError as exc:
            where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in exc.path)
            out.append((f".schema{where}", f"not valid JSON Schema: {exc.message}"))
    return out


ASK_TYPE = NodeTypeSpec(
    "ask",
    "node",
    "Ask a person",
    "Waits for a person's answer (an interrupt) and writes it to extra[key]; answer with the inbox or "
    "`weavegraph resume`.",
    config_schema(
        "Ask a person",
        {
            "prompt": {
                "type": "string",
                "title": "Prompt",
                "description": "The question; a template over {extra[key]}, {step} and {node}.",
                "default": "Approve?",
            },
            "schema": {
                "type": "object",
                "title": "Answer schema",
                "description": "Optional JSON Schema the answer must fit.",
            },
            "key": {
                "type": "string",
                "title": "Key",
                "description": "Extra key the answer is written to.",
                "default": "answer",
                "minLength": 1,
            },
        },
        ["prompt", "key"],
    ),
    _ask_node,
    check=_check,
)
