"""Node policies: retries with backoff (`RetryPolicy`), a time limit per attempt, and `run_attempts`, the one
coroutine the executor calls to run a node under them. `NodePolicy` is what `add_node` keeps per node."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from engine.clock import Clock
from engine.errors import InvalidNodePolicy, NodeError, NodeTimeout
from engine.hitl_types import NodeInterrupted
from engine.partial import NodePartial

NEVER_RETRIED: tuple[type[BaseException], ...] = (NodeInterrupted,)
"""Exception types no policy ever retries, whatever its `retry_on` (the executor's own control flow):
`NodeInterrupted` (ENGINE.md 8.3); `RetryPolicy.never_retry` adds more."""

_ATTEMPTS_ATTR = "_weavegraph_attempts"


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Retry a failing node: up to `max_attempts` attempts in all, waiting `initial_delay` seconds after the
    first failure and `backoff` times longer after each further one, never more than `max_delay` (real time).
    Only exceptions that are instances of `retry_on` and of none of `never_retry` are retried. Out-of-range
    values are reported by `GraphBuilder.compile()` as `InvalidNodePolicy`, naming the node."""

    max_attempts: int = 3
    initial_delay: float = 0.5
    backoff: float = 2.0
    max_delay: float = 30.0
    retry_on: tuple[type[BaseException], ...] = (Exception,)
    never_retry: tuple[type[BaseException], ...] = field(default=())

    def __post_init__(self) -> None:
        for name in ("retry_on", "never_retry"):  # a single class is accepted where a tuple is expected
            value = getattr(self, name)
            if isinstance(value, type):
                object.__setattr__(self, name, (value,))
            elif isinstance(value, list):
                object.__setattr__(self, name, tuple(value))

    def problems(self) -> list[str]:
        """What is out of range, one phrase each (empty when the policy is usable)."""
        out: list[str] = []
        if not isinstance(self.max_attempts, int) or isinstance(self.max_attempts, bool):
            out.append(f"retry max_attempts must be an integer, got {self.max_attempts!r}")
        elif self.max_attempts < 1:
            out.append(f"retry max_attempts must be at least 1, got {self.max_attempts}")
        for name in ("initial_delay", "max_delay"):
            value = getattr(self, name)
            if not _number(value) or value < 0:
                out.append(f"retry {name} must be a finite number of seconds >= 0, got {value!r}")
        if not _number(self.backoff) or self.backoff < 1:
            out.append(f"retry backoff must be a finite number >= 1, got {self.backoff!r}")
        for name in ("retry_on", "never_retry"):
            value = getattr(self, name)
            if not isinstance(value, tuple) or not all(
                isinstance(t, type) and issubclass(t, BaseException) for t in value
            ):
                out.append(f"retry {name} must be exception classes, got {value!r}")
        return out

    def delay(self, failed_attempt: int) -> float:
        """Seconds to wait after attempt `failed_attempt` (counting from 1) failed, before the next one."""
        try:
            value = self.initial_delay * self.backoff ** (failed_attempt - 1)
        except OverflowError:
            return float(self.max_delay)
        return float(min(value, self.max_delay))

    def retries(self, exc: BaseException) -> bool:
        """Whether `exc` is worth another attempt under this policy (the attempt count aside)."""
        if isinstance(exc, NEVER_RETRIED) or isinstance(exc, self.never_retry):
            return False
        return isinstance(exc, self.retry_on)

    def to_json(self) -> dict[str, Any]:
        """The document form: `{"max_attempts", "initial_delay_s", "backoff", "max_delay_s"}` (`retry_on`
        and `never_retry` are code, not data, and are not part of it)."""
        return {
            "max_attempts": self.max_attempts,
            "initial_delay_s": self.initial_delay,
            "backoff": self.backoff,
            "max_delay_s": self.max_delay,
        }

    @classmethod
    def from_json(cls, value: Mapping[str, Any]) -> RetryPolicy:
        """The policy of a document's `retry` object; absent fields keep their defaults."""
        defaults = cls()
        return cls(
            max_attempts=value.get("max_attempts", defaults.max_attempts),
            initial_delay=value.get("initial_delay_s", defaults.initial_delay),
            backoff=value.get("backoff", defaults.backoff),
            max_delay=value.get("max_delay_s", defaults.max_delay),
        )


@dataclass(frozen=True, slots=True)
class NodePolicy:
    """A node's policies as registered with `add_node`: retry, timeout (seconds per attempt) and the nodes a
    join waits for (empty for an ordinary node)."""

    retry: RetryPolicy | None = None
    timeout: float | None = None
    wait_for: tuple[str, ...] = ()

    @property
    def runs_guarded(self) -> bool:
        """Whether the node's calls go through `run_attempts` (a retry policy or a timeout)."""
        return self.retry is not None or self.timeout is not None

    def check(self, node: str) -> None:
        """Raise `InvalidNodePolicy` naming `node` when the retry policy or timeout is out of range."""
        if self.retry is not None:
            if not isinstance(self.retry, RetryPolicy):
                raise InvalidNodePolicy(node, f"retry must be a RetryPolicy, got {type(self.retry).__name__}")
            problems = self.retry.problems()
            if problems:
                raise InvalidNodePolicy(node, "; ".join(problems))
        if self.timeout is not None and (not _number(self.timeout) or self.timeout <= 0):
            raise InvalidNodePolicy(node, f"timeout must be a number of seconds > 0, got {self.timeout!r}")


class Emit(Protocol):
    """Publishes one lifecycle event of the node being run: `emit(scope, message, **metadata)`."""

    def __call__(self, scope: str, message: str, **metadata: Any) -> None: ...


def attempts_of(exc: BaseException) -> int:
    """How many attempts a node made before failing with `exc` (or with a `NodeError` wrapping it); 1 when
    the failure did not come out of `run_attempts`."""
    for candidate in (exc, exc.__cause__):
        count = getattr(candidate, _ATTEMPTS_ATTR, None)
        if isinstance(count, int):
            return count
    return 1


def _describe(exc: BaseException) -> str:
    if isinstance(exc, NodeError):
        return str(exc)
    detail = str(exc)
    return f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__


async def _attempt(
    call: Callable[[], Awaitable[NodePartial | None]], node: str, step: int, seconds: float | None
) -> NodePartial | None:
    if seconds is None:
        return await call()
    limit = asyncio.timeout(seconds)
    try:
        async with limit:
            return await call()
    except TimeoutError as exc:
        if limit.expired():  # ours; a TimeoutError the node raised on its own stays what it is
            raise NodeTimeout(node, step, seconds) from exc
        raise


async def run_attempts(
    call: Callable[[], Awaitable[NodePartial | None]],
    *,
    node: str,
    step: int,
    retry: RetryPolicy | None,
    timeout: float | None,  # noqa: ASYNC109  (C9's name; applied per attempt with asyncio.timeout)
    clock: Clock | None = None,
    emit: Emit | None = None,
) -> tuple[NodePartial | None, int]:
    """Run `call()` (one attempt of the node) under its policies; returns (result, attempts made).

    Each attempt is limited to `timeout` seconds: an async node is cancelled, a thread node is abandoned (the
    thread runs on and its late result is discarded) and the attempt fails with `NodeTimeout`. A failure that
    the retry policy covers is retried after its delay (`asyncio.sleep`, real time), announced first with a
    lifecycle `node.retry` event through `emit` (metadata `attempt`, the attempt that failed counting from
    1, `max_attempts`, `delay_s`, `error`, and `retry_at_unix_ms` from `clock` when there is one). Only the
    last failure propagates, unchanged, carrying its attempt count for `attempts_of`. Cancellation is never
    caught.
    """
    limit = retry.max_attempts if retry is not None else 1
    attempt = 1
    while True:
        try:
            return await _attempt(call, node, step, timeout), attempt
        except Exception as exc:
            if retry is None or attempt >= limit or not retry.retries(exc):
                try:
                    setattr(exc, _ATTEMPTS_ATTR, attempt)
                except (AttributeError, TypeError):  # an exception type with __slots__: count unknown
                    pass
                raise
            delay = retry.delay(attempt)
            if emit is not None:
                error = _describe(exc)
                meta: dict[str, Any] = {
                    "attempt": attempt,
                    "max_attempts": limit,
                    "delay_s": delay,
                    "error": error,
                }
                if clock is not None:
                    meta["retry_at_unix_ms"] = clock.now_unix_ms() + round(delay * 1000)
                emit(
                    "node.retry",
                    f"{node} attempt {attempt} of {limit} failed ({error}); retrying in {delay:g} s",
                    **meta,
                )
        await asyncio.sleep(delay)
        attempt += 1


# ---------------------------------------------------------------- document form


def policy_from_document(node: Mapping[str, Any]) -> dict[str, Any]:
    """The `add_node` keyword arguments (`retry`, `timeout`, `wait_for`) of a document node's fields `retry`,
    `timeout_s` and `wait_for`; absent fields give no argument. The document checks validated them."""
    out: dict[str, Any] = {}
    retry = node.get("retry")
    if isinstance(retry, Mapping):
        out["retry"] = RetryPolicy.from_json(retry)
    if node.get("timeout_s") is not None:
        out["timeout"] = node["timeout_s"]
    if node.get("wait_for"):
        out["wait_for"] = list(node["wait_for"])
    return out


def policy_to_document(policy: NodePolicy | None) -> dict[str, Any]:
    """The document fields of a node's policies (see `policy_from_document`); `retry_on` and `never_retry`
    are Python classes and have no document form."""
    if policy is None:
        return {}
    out: dict[str, Any] = {}
    if policy.retry is not None:
        out["retry"] = policy.retry.to_json()
    if policy.timeout is not None:
        out["timeout_s"] = policy.timeout
    if policy.wait_for:
        out["wait_for"] = list(policy.wait_for)
    return out
