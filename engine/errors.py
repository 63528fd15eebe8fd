"""The engine's exception tree, rooted at :class:`EngineError`.

::

    EngineError
    ├── BuilderError                a builder was called with a bad argument (fix the call)
    │   ├── ReservedNodeName        add_node("Start"/"End") (also a ValueError)
    │   ├── DuplicateNode           add_node twice with one name (also a ValueError)
    │   ├── InvalidNode             the node is not callable and has no run() (also a TypeError)
    │   ├── InvalidPredicate        a conditional edge's predicate is not callable (also a TypeError)
    │   ├── UnknownChannel          with_reducer on a channel that does not exist (also a ValueError)
    │   ├── InvalidReducer          the reducer has no apply() (also a TypeError)
    │   ├── InvalidNodeName         a node given as something other than a str or NodeKind (also a TypeError)
    │   └── InvalidOption           an option out of range or missing (also a ValueError)
    ├── InvalidEvent                an event with a reserved or unknown scope for its type (also a ValueError)
    ├── RecordDecodeError           JSON that is not a valid message / error event / event (also a ValueError)
    ├── GraphCompileError           compile() rejected the graph
    │   ├── MissingEntry            nothing leaves Start
    │   ├── CycleDetected           a cycle of unconditional edges
    │   ├── UnreachableNodes        nodes that Start cannot reach
    │   ├── NoPathToEnd             nodes that cannot reach End
    │   ├── DuplicateEdge           the same edge twice
    │   ├── EdgeFromEnd             an edge leaving End
    │   ├── UnknownNode             an edge (or a join's wait_for) names an unregistered node
    │   ├── InvalidNodePolicy       a node's retry policy or timeout is out of range
    │   └── InvalidJoin             a join waits on itself, Start/End, or a node that never runs before it
    ├── NodeError                   raised by (or on behalf of) a node
    │   ├── MissingInput
    │   ├── ValidationFailed
    │   ├── ProviderError
    │   ├── InvalidNodeResult       a node returned something that is not a NodePartial (also a TypeError)
    │   └── NodeTimeout             an attempt ran longer than the node's timeout
    ├── RunnerError                 a session could not go on
    │   ├── NodeRunError            a node failed in a superstep
    │   ├── RoutingError            a predicate returned something that is not a list of targets
    │   ├── StepLimitExceeded       more supersteps than max_steps in one invocation
    │   ├── SessionNotFound
    │   ├── NoStartNodes
    │   └── InvalidIterativeEntry
    ├── CheckpointerError           storage failed (driver errors are chained); `.kind` a StorageErrorKind
    │   └── CheckpointConflict      another writer moved the session on
    ├── StateSlotError              typed state slots
    │   ├── StateSlotMissing
    │   ├── StateSlotSerialize
    │   └── StateSlotDeserialize
    ├── ReplayConformanceError      two runs that should match do not
    └── DocumentError               a graph document is malformed (engine.graph.doc_model; `.problems`
        └── UntrustedDocument       carry JSON paths); it names Python callables not yet trusted
    (CheckpointerError's children live in engine.persistence.errors; EventBusError in engine.events.bus.)
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from typing import Any


class EngineError(Exception):
    """Root of every error the engine raises on purpose."""


# ---------------------------------------------------------------- builder misuse


class BuilderError(EngineError):
    """A builder (`GraphBuilder`, `AppRunner.builder()`) was called with a bad argument. Each subclass also
    derives from the built-in error Python code would expect (ValueError or TypeError)."""


class ReservedNodeName(BuilderError, ValueError):
    """`name` cannot be registered: a virtual node, or `reason` (e.g. a reserved prefix) when given."""

    def __init__(self, name: str, reason: str | None = None) -> None:
        self.name = name
        why = reason if reason is not None else "is a virtual node and cannot be registered"
        super().__init__(f"'{name}' {why}; choose another name")


class DuplicateNode(BuilderError, ValueError):
    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(f"node '{name}' is already registered; register each name once")


class InvalidNode(BuilderError, TypeError):
    def __init__(self, name: str, type_name: str) -> None:
        self.name = name
        self.type_name = type_name
        where = f"node '{name}'" if name else "a node"
        super().__init__(
            f"{where} must be callable as node(snapshot, ctx) or have a run(snapshot, ctx) method; "
            f"got {type_name}"
        )


class InvalidPredicate(BuilderError, TypeError):
    def __init__(self, source: str, type_name: str) -> None:
        self.source = source
        self.type_name = type_name
        super().__init__(
            f"the predicate of the conditional edge from '{source}' is not callable (got {type_name})"
        )


class UnknownChannel(BuilderError, ValueError):
    def __init__(self, channel: str, channels: Sequence[str]) -> None:
        self.channel = channel
        self.channels = tuple(channels)
        super().__init__(f"unknown channel '{channel}'; channels are {', '.join(self.channels)}")


class InvalidReducer(BuilderError, TypeError):
    def __init__(self, channel: str, type_name: str) -> None:
        self.channel = channel
        self.type_name = type_name
        super().__init__(
            f"the reducer for channel '{channel}' needs an apply(state, merged) method; got {type_name}"
        )


class InvalidNodeName(BuilderError, TypeError):
    def __init__(self, value: Any) -> None:
        self.value = value
        self.type_name = type(value).__name__
        super().__init__(f"expected a node name (str) or NodeKind, got {self.type_name}: {value!r}")


class InvalidOption(BuilderError, ValueError):
    """A runner builder option is out of range (`concurrency_limit(0)`) or missing (`app`)."""

    def __init__(self, option: str, value: Any, requirement: str) -> None:
        self.option = option
        self.value = value
        self.requirement = requirement
        got = "" if value is None else f", got {value!r}"
        super().__init__(f"{option} {requirement}{got}")


# ---------------------------------------------------------------- records


class InvalidEvent(EngineError, ValueError):
    """An event that cannot be built: a reserved sentinel scope on a non-diagnostic event, or an LLM event
    whose scope is not "chunk", "final" or "error"."""

    def __init__(self, type_: str, scope: str, allowed: Sequence[str] = ()) -> None:
        self.type = type_
        self.scope = scope
        self.allowed = tuple(allowed)
        if self.allowed:
            label = "LLM" if type_ == "llm" else type_
            text = f"an {label} event scope is one of {', '.join(self.allowed)}; got {scope!r}"
        else:
            text = f"scope {scope!r} is reserved for the runner's diagnostic events (not a {type_} event)"
        super().__init__(text)


class RecordDecodeError(EngineError, ValueError):
    """JSON that does not describe the record it should (`record`: "message", "error event", "event")."""

    def __init__(self, record: str, detail: str) -> None:
        self.record = record
        self.detail = detail
        super().__init__(f"invalid {record} JSON: {detail}")


# ---------------------------------------------------------------- graph compile


class GraphCompileError(EngineError):
    """The graph definition is invalid; `GraphBuilder.compile()` refused it."""


class MissingEntry(GraphCompileError):
    def __init__(self) -> None:
        super().__init__(
            "graph has no entry: nothing leaves Start (add an edge or a conditional edge from 'Start')"
        )


class CycleDetected(GraphCompileError):
    def __init__(self, cycle: Sequence[str]) -> None:
        self.cycle = list(cycle)
        super().__init__(
            f"cycle of unconditional edges: {' -> '.join(self.cycle)} "
            "(loops must go through a conditional edge or a frontier command)"
        )


class UnreachableNodes(GraphCompileError):
    def __init__(self, nodes: Sequence[str]) -> None:
        self.nodes = sorted(nodes)
        super().__init__(f"nodes not reachable from Start: {', '.join(self.nodes)}")


class NoPathToEnd(GraphCompileError):
    def __init__(self, nodes: Sequence[str]) -> None:
        self.nodes = sorted(nodes)
        super().__init__(f"nodes with no path to End: {', '.join(self.nodes)}")


class DuplicateEdge(GraphCompileError):
    def __init__(self, src: str, dst: str) -> None:
        self.src, self.dst = src, dst
        super().__init__(f"duplicate edge {src} -> {dst}")


class EdgeFromEnd(GraphCompileError):
    def __init__(self, dst: str | None = None) -> None:
        self.dst = dst
        target = f" (to {dst})" if dst else ""
        super().__init__(f"an edge leaves End{target}; End is terminal")


class UnknownNode(GraphCompileError):
    def __init__(self, kind: Any, where: str = "") -> None:
        self.kind = kind
        self.where = where
        suffix = f" ({where})" if where else ""
        super().__init__(f"unknown node '{kind}'{suffix}: register it with add_node first")


class InvalidNodePolicy(GraphCompileError):
    """A node's retry policy or timeout cannot work (`node` names it, `detail` says what is wrong)."""

    def __init__(self, node: str, detail: str) -> None:
        self.node = node
        self.detail = detail
        super().__init__(f"node '{node}': {detail}")


class InvalidJoin(GraphCompileError):
    """A join's `wait_for` cannot be satisfied: it names the join itself, a virtual node, or nodes that can
    never run before the join. `node` is the join, `waits_on` the offending names."""

    def __init__(self, node: str, waits_on: Sequence[str], detail: str) -> None:
        self.node = node
        self.waits_on = list(waits_on)
        super().__init__(f"join '{node}' waits for {', '.join(self.waits_on)}: {detail}")


# ---------------------------------------------------------------- node errors


class NodeError(EngineError):
    """A node failed. Unexpected exceptions from nodes are wrapped in this, chained with `__cause__`."""


class MissingInput(NodeError):
    def __init__(self, what: str) -> None:
        self.what = what
        super().__init__(f"missing expected input: {what}")


class ValidationFailed(NodeError):
    def __init__(self, text: str) -> None:
        self.text = text
        super().__init__(f"validation failed: {text}")


class ProviderError(NodeError):
    def __init__(self, provider: str, message: str) -> None:
        self.provider = provider
        self.provider_message = message
        super().__init__(f"provider error ({provider}): {message}")


class InvalidNodeResult(NodeError, TypeError):
    """A node returned something other than `NodePartial` or None."""

    def __init__(self, node: str, type_name: str) -> None:
        self.node = node
        self.type_name = type_name
        super().__init__(f"node '{node}' returned {type_name}; expected NodePartial or None")


class NodeTimeout(NodeError):
    """One attempt of `node` at `step` ran longer than its timeout of `seconds`."""

    def __init__(self, node: str, step: int, seconds: float) -> None:
        self.node = node
        self.step = step
        self.seconds = seconds
        super().__init__(f"node '{node}' timed out after {seconds:g} s at step {step}")


# ---------------------------------------------------------------- runner errors


class RunnerError(EngineError):
    """A session could not go on."""


class NodeRunError(RunnerError):
    """A node failed during a superstep; the node error is the `__cause__`."""

    def __init__(self, kind: Any, step: int, error: BaseException) -> None:
        self.kind = kind
        self.step = step
        self.error = error
        super().__init__(f"node '{kind}' failed at step {step}: {error}")


class RoutingError(RunnerError):
    """A conditional edge's predicate failed or returned something that is not a list of targets."""

    def __init__(self, source: Any, step: int, detail: str) -> None:
        self.source = source
        self.step = step
        super().__init__(f"conditional edge from '{source}' at step {step}: {detail}")


class StepLimitExceeded(RunnerError):
    def __init__(self, session_id: str, max_steps: int, step: int) -> None:
        self.session_id = session_id
        self.max_steps = max_steps
        self.step = step
        super().__init__(
            f"session '{session_id}' exceeded max_steps={max_steps} in one invocation (at step {step}); "
            "raise the limit with max_steps(n) or check the graph for an endless loop"
        )


class SessionNotFound(RunnerError):
    def __init__(self, session_id: str) -> None:
        self.session_id = session_id
        super().__init__(f"session not found: '{session_id}'")


class NoStartNodes(RunnerError):
    def __init__(self, session_id: str = "") -> None:
        self.session_id = session_id
        super().__init__(f"session '{session_id}' has nothing to run: the first frontier is empty")


class InvalidIterativeEntry(RunnerError):
    def __init__(self, entry: Any, reason: str) -> None:
        self.entry = entry
        super().__init__(f"invalid iterative entry '{entry}': {reason}")


# ---------------------------------------------------------------- persistence


class StorageErrorKind(enum.StrEnum):
    """What went wrong with storage, for callers that act on it (the studio switches on `exc.kind`)."""

    INVALID_URL = "invalid_url"
    NOT_FOUND = "not_found"
    NOT_OURS = "not_ours"
    LOCKED = "locked"
    UNAVAILABLE = "unavailable"
    AUTH = "auth"
    DATA = "data"
    CONFLICT = "conflict"
    DISK_FULL = "disk_full"
    READ_ONLY = "read_only"
    SCHEMA_NEWER = "schema_newer"
    CHECKPOINT_MISSING = "checkpoint_missing"
    EXISTS = "exists"
    OTHER = "other"


class CheckpointerError(EngineError):
    """Checkpoint storage failed; the driver's exception is chained as `__cause__`.

    `kind` says what failed: each subclass fixes its own; the base class is `other` unless `kind=` is
    given (the kinds without a subclass, `checkpoint_missing` and `exists`, are raised that way).
    """

    kind: StorageErrorKind = StorageErrorKind.OTHER

    def __init__(self, *args: object, kind: StorageErrorKind | str | None = None) -> None:
        super().__init__(*args)
        if kind is not None:
            self.kind = StorageErrorKind(kind)


class CheckpointConflict(CheckpointerError):
    kind = StorageErrorKind.CONFLICT

    def __init__(self, session_id: str, expected: int | None, actual: int | None) -> None:
        self.session_id = session_id
        self.expected = expected
        self.actual = actual
        super().__init__(
            f"checkpoint conflict for session '{session_id}': expected last step {expected}, "
            f"but another writer is at {actual}"
        )


# ---------------------------------------------------------------- typed slots


class StateSlotError(EngineError):
    """A typed state slot could not be read or written."""


class StateSlotMissing(StateSlotError):
    def __init__(self, key: str) -> None:
        self.key = key
        super().__init__(f"state slot '{key}' is missing")


class StateSlotSerialize(StateSlotError):
    def __init__(self, key: str, detail: str) -> None:
        self.key = key
        super().__init__(f"state slot '{key}' could not be serialised: {detail}")


class StateSlotDeserialize(StateSlotError):
    def __init__(self, key: str, detail: str) -> None:
        self.key = key
        super().__init__(f"state slot '{key}' could not be deserialised: {detail}")


# ---------------------------------------------------------------- replay


class ReplayConformanceError(EngineError):
    def __init__(self, differences: Sequence[str]) -> None:
        self.differences = list(differences)
        super().__init__("replay runs differ: " + "; ".join(self.differences))
