"""Carries out a prune dialog's requests on the browser's open database: a batched dry run for the preview,
the batched deletion with progress, Cancel between batches, then the optional VACUUM."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from PySide6.QtCore import QObject, Signal

from studio.bridge import one_line
from studio.controllers.browser import BrowserController
from studio.services.storage import Checkpointer, PrunePolicy, PruneReport

__all__ = ["PruneController", "PruneOptionsLike", "PruneView", "prune_in_batches"]


class PruneOptionsLike(Protocol):
    """What `prune_in_batches` needs of the prune dialog's options."""

    @property
    def session_ids(self) -> tuple[str, ...] | None: ...

    @property
    def vacuum(self) -> bool: ...

    def policy(self, session_ids: tuple[str, ...] | None = None) -> PrunePolicy: ...


class PruneView(Protocol):
    """What the controller tells the dialog (the dialog's signals come in through `connect_view`)."""

    def set_progress(self, done: int, total: int, steps: int, verb: str = "deleted") -> None: ...

    def set_vacuuming(self) -> None: ...

    def show_preview(self, options: Any, report: PruneReport) -> None: ...

    def show_preview_cancelled(self) -> None: ...

    def show_result(self, report: PruneReport, cancelled: bool, vacuumed: bool) -> None: ...

    def show_error(self, message: str) -> None: ...


async def prune_in_batches(
    cp: Checkpointer,
    options: PruneOptionsLike,
    *,
    on_progress: Callable[[int, int, int], None] | None = None,
    cancelled: Callable[[], bool] = lambda: False,
    batch_size: int = 20,
    dry_run: bool = False,
) -> tuple[PruneReport, bool]:
    """Apply `options.policy(batch)` to sessions `batch_size` at a time so progress shows and Cancel
    takes effect between batches (a batch in flight always completes: nothing is half-deleted).
    A policy selects steps session by session, so the batches of a dry run add up to exactly what the
    real run then deletes (barring concurrent writes). Returns the summed report and whether it was
    cancelled."""
    ids = list(options.session_ids) if options.session_ids else await cp.list_sessions()
    batches = [tuple(ids[i : i + batch_size]) for i in range(0, len(ids), batch_size)]
    steps = size = sessions = 0
    for done, batch in enumerate(batches):
        if cancelled():
            return PruneReport(steps, size, sessions, dry_run), True
        report = await cp.prune(options.policy(batch), dry_run=dry_run)
        steps, size, sessions = steps + report.steps, size + report.bytes, sessions + report.sessions
        if on_progress is not None:
            on_progress(done + 1, len(batches), steps)
    return PruneReport(steps, size, sessions, dry_run), False


class PruneController(QObject):
    """`preview(options)` / `prune(options)` / `cancel()` against the browser controller's database (its
    lock serialises them with the browser's queries). `finished(report, cancelled)` follows a deletion
    (after the optional VACUUM); `failed(message)` any error (also shown in the view)."""

    finished = Signal(object, bool)
    failed = Signal(str)

    def __init__(self, browser: BrowserController, view: PruneView, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("pruneController")
        self.browser = browser
        self.view = view
        self.cancelled = False

    def preview(self, options: PruneOptionsLike) -> None:
        self.cancelled = False
        self.browser.run(self._preview(options), "prune preview")

    def prune(self, options: PruneOptionsLike) -> None:
        self.cancelled = False
        self.browser.run(self._prune(options), "prune")

    def cancel(self) -> None:
        self.cancelled = True

    async def _preview(self, options: PruneOptionsLike) -> None:
        cp = self.browser.checkpointer
        if cp is None:
            return

        def progress(done: int, total: int, steps: int) -> None:
            self.view.set_progress(done, total, steps, verb="counted")

        try:
            async with self.browser.lock:
                report, cancelled = await prune_in_batches(
                    cp, options, on_progress=progress, cancelled=lambda: self.cancelled, dry_run=True
                )
        except Exception as exc:
            self._fail(exc)
            return
        if cancelled:
            self.view.show_preview_cancelled()
        else:
            self.view.show_preview(options, report)

    async def _prune(self, options: PruneOptionsLike) -> None:
        cp = self.browser.checkpointer
        if cp is None:
            return
        vacuumed = False
        try:
            async with self.browser.lock:
                report, cancelled = await prune_in_batches(
                    cp, options, on_progress=self.view.set_progress, cancelled=lambda: self.cancelled
                )
                if options.vacuum and not cancelled:
                    self.view.set_vacuuming()
                    await cp.vacuum()
                    vacuumed = True
        except Exception as exc:
            self._fail(exc)
            return
        self.view.show_result(report, cancelled, vacuumed)
        self.finished.emit(report, cancelled)

    def _fail(self, exc: BaseException) -> None:
        self.view.show_error(one_line(exc))
        self.failed.emit(one_line(exc))
