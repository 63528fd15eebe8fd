"""Graceful shutdown: SIGTERM or SIGINT lets the running superstep finish and save, then stops the run.

    stop = GracefulShutdown(grace_s=25)
    try:
        final = await stop.run(runner.run_until_complete(sid), runner=runner)
    except Stopped as exc:
        ...  # exc.code is 143 (SIGTERM) or 130 (SIGINT); exc.line says where the session stands

How: `run()` runs the coroutine as a task with asyncio signal handlers installed, and for its duration
wraps two things of the runner: `run_step` (the runner's loop calls it through the instance) and the
checkpointer. After the first signal the running step goes on: it finishes, saves and publishes its events,
and the next `run_step` raises `ShutdownRequested` instead of starting a step, so the run stops exactly at a
saved step (a session that became complete simply finishes). If the step is still running `grace_s` seconds
after the signal, or on a second signal, the task is cancelled (never in the middle of a save): that step is
lost and the session stays at its last saved step. Either way a restart resumes from the checkpoint. The
caller's `async with` blocks then drain the sinks and close storage as usual.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

from engine.errors import EngineError

__all__ = ["EXIT_CODES", "GracefulShutdown", "ShutdownRequested", "Stopped"]

T = TypeVar("T")

EXIT_CODES = {signal.SIGTERM: 143, signal.SIGINT: 130}
"""Exit status of a process stopped by a signal: 128 + the signal number, as shells report it."""


class ShutdownRequested(EngineError):
    """Raised inside the run, instead of starting another step, when a stop was requested."""


class Stopped(EngineError):
    """The run was stopped by a signal; `code` is the exit status to use, `line` the one line to print."""

    def __init__(self, line: str, code: int, step: int | None) -> None:
        self.line = line
        self.code = code
        self.step = step
        super().__init__(line)


class _TrackSaves:
    """The runner's checkpointer, seen through `GracefulShutdown`: it knows when a save is in progress (a
    cancellation waits for it) and which step was saved last."""

    def __init__(self, inner: Any, owner: GracefulShutdown) -> None:
        self._inner = inner
        self._owner = owner

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def save(self, checkpoint: Any, *args: Any, **kwargs: Any) -> Any:
        owner = self._owner
        owner.saving = True
        try:
            result = await self._inner.save(checkpoint, *args, **kwargs)
        finally:
            owner.saving = False
        owner.saved_step = checkpoint.step
        if owner.cancel_pending:
            owner.cancel_now()
        return result


class GracefulShutdown:
    """Stops a run cleanly on SIGTERM/SIGINT (see the module docstring). One instance serves one run at a
    time; `requested` is the signal received (None when none came)."""

    def __init__(
        self, grace_s: float = 25.0, *, signals: tuple[signal.Signals, ...] = (signal.SIGTERM, signal.SIGINT)
    ) -> None:
        if grace_s < 0:
            raise ValueError(f"grace_s must be zero or more seconds, got {grace_s}")
        self.grace_s = grace_s
        self.signals = signals
        self.requested: signal.Signals | None = None
        self.saving = False
        self.saved_step: int | None = None
        self.cancel_pending = False
        self.cancelled = False
        self._task: asyncio.Task[Any] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._installed: list[signal.Signals] = []

    def _install(self, loop: asyncio.AbstractEventLoop) -> list[signal.Signals]:
        installed: list[signal.Signals] = []
        for sig in self.signals:
            try:
                loop.add_signal_handler(sig, self.request, sig)
            except (NotImplementedError, RuntimeError, ValueError):  # not the main thread, or Windows
                continue
            installed.append(sig)
        self._installed = installed
        return installed

    def __enter__(self) -> GracefulShutdown:
        """Keep the signal handlers installed for a whole block, between runs too (a worker: a signal
        between jobs only sets `requested`, which its loop checks before taking the next job). Call it from
        a coroutine (it needs the running loop)."""
        self._install(asyncio.get_running_loop())
        return self

    def __exit__(self, *exc: object) -> None:
        loop = asyncio.get_running_loop()
        for sig in self._installed:
            loop.remove_signal_handler(sig)
        self._installed = []

    def request(self, sig: signal.Signals = signal.SIGTERM) -> None:
        """What a signal does (also callable directly): the first asks the run to stop after its running
        step (cancelled after `grace_s`); a second cancels it now."""
        if self.requested is not None:
            self.cancel_now()
            return
        self.requested = sig
        if self._task is not None:
            loop = self._task.get_loop()
            self._timer = loop.call_later(self.grace_s, self.cancel_now)

    def cancel_now(self) -> None:
        """Cancel the run (after the save in progress, if one is)."""
        if self.saving:
            self.cancel_pending = True
            return
        self.cancel_pending = False
        task = self._task
        if task is not None and not task.done():
            self.cancelled = True
            task.cancel()

    async def run(
        self, coro: Coroutine[Any, Any, T], *, runner: Any = None, session_id: str | None = None
    ) -> T:
        """Await `coro` with the signal handlers installed; its result, or `Stopped` after a signal.
        `runner`: the `AppRunner` whose saves mark the end of a step (its checkpointer is wrapped while
        `coro` runs); `session_id` names the session in the line."""
        loop = asyncio.get_running_loop()
        task = loop.create_task(coro)
        self._task = task
        installed = [] if self._installed else self._install(loop)
        inner = runner.checkpointer if runner is not None else None
        if inner is not None:
            runner.checkpointer = _TrackSaves(inner, self)
        if runner is not None:
            runner.run_step = self._guard_steps(runner.run_step)
        try:
            if self.requested is not None:  # a signal came before the run started
                self.request(self.requested)
            try:
                return await task
            except ShutdownRequested as exc:
                raise self._stopped(session_id, finished_step=True) from exc
            except asyncio.CancelledError:
                if self.cancelled and self.requested is not None:
                    raise self._stopped(session_id, finished_step=False) from None
                raise
        finally:
            if not task.done():  # we were cancelled from outside
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            if inner is not None:
                runner.checkpointer = inner
            if runner is not None:
                with contextlib.suppress(AttributeError):
                    del runner.run_step  # the class's method again
            for sig in installed:
                loop.remove_signal_handler(sig)
            self._installed = [sig for sig in self._installed if sig not in installed]
            self._task = None

    def _guard_steps(self, run_step: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        async def guarded(session_id: str, *args: Any, **kwargs: Any) -> Any:
            if self.requested is not None:
                raise ShutdownRequested(f"stopped by {self.requested.name} before step {self.saved_step}")
            return await run_step(session_id, *args, **kwargs)

        return guarded

    def _stopped(self, session_id: str | None, *, finished_step: bool) -> Stopped:
        sig = self.requested
        assert sig is not None
        code = EXIT_CODES.get(sig, 128 + int(sig))
        who = f"session '{session_id}'" if session_id else "the session"
        step = self.saved_step
        where = f"saved up to step {step}" if step is not None else "not saved"
        if finished_step:
            what = f"the running step finished; {who} is {where}"
        else:
            what = (
                f"the running step was cancelled after the {self.grace_s:g} s grace period; {who} is {where}"
            )
        line = f"weavegraph: stopped by {sig.name}: {what}; run it again to resume"
        return Stopped(line, code, step)
