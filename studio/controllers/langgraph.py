"""Queries on an open LangGraph database (no widgets): the browser controller owns the reader, its lock and
the tasks; this one asks for threads, the checkpoint tree, a checkpoint with its parent (for the diff),
analytics, the prune preview and the prune, and reports each through a signal. Results of a database that
was replaced meanwhile are dropped (the reader is compared before emitting)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QObject, Signal

from studio.controllers.browser import BrowserController
from studio.services import langgraph
from studio.services.langgraph import CheckpointDetail, ThreadKey, ThreadQuery

__all__ = ["CheckpointView", "LangGraphController"]


@dataclass(frozen=True, slots=True)
class CheckpointView:
    """A checkpoint opened for the views: its detail and state, and its parent's state (None for a root)."""

    detail: CheckpointDetail
    state: Any
    parent: CheckpointDetail | None
    parent_state: Any


class LangGraphController(QObject):
    """See the module docstring; failures go to the browser controller's `error` signal."""

    threads_loaded = Signal(list, int)  # ThreadInfo page, total
    tree_loaded = Signal(object)  # CheckpointTree
    checkpoint_loaded = Signal(object)  # CheckpointView
    analytics_loaded = Signal(object)  # StorageReport
    prune_previewed = Signal(object)  # PrunePlan
    pruned = Signal(object, bool)  # PrunePlan, vacuumed
    prune_failed = Signal(str)

    def __init__(self, browser: BrowserController, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("langGraphController")
        self.browser = browser

    def _reader(self) -> Any:
        return self.browser.langgraph_reader

    def load_threads(self, query: ThreadQuery) -> None:
        self.browser.run(self._threads(query), "listing LangGraph threads", key="lg-threads")

    async def _threads(self, query: ThreadQuery) -> None:
        reader = self._reader()
        if reader is None:
            return
        async with self.browser.lock:
            page = await reader.list_threads(query)
        if reader is self._reader():
            self.threads_loaded.emit(list(page.items), page.total_count)

    def load_tree(self, key: ThreadKey) -> None:
        self.browser.run(self._tree(key), "reading the checkpoint tree", key="lg-tree")

    async def _tree(self, key: ThreadKey) -> None:
        reader = self._reader()
        if reader is None:
            return
        async with self.browser.lock:
            tree = await reader.checkpoint_tree(key)
        if reader is self._reader():
            self.tree_loaded.emit(tree)

    def load_checkpoint(self, key: ThreadKey, checkpoint_id: str) -> None:
        self.browser.run(self._checkpoint(key, checkpoint_id), "loading a checkpoint", key="lg-checkpoint")

    async def _checkpoint(self, key: ThreadKey, checkpoint_id: str) -> None:
        reader = self._reader()
        if reader is None:
            return
        async with self.browser.lock:
            detail = await reader.load_checkpoint(key, checkpoint_id)
            parent_id = detail.info.parent_checkpoint_id
            parent = None
            if parent_id is not None:
                try:
                    parent = await reader.load_checkpoint(key, parent_id)
                except LookupError:  # the parent was pruned: no diff
                    parent = None
        view = CheckpointView(
            detail,
            langgraph.state_of(detail),
            parent,
            langgraph.state_of(parent) if parent is not None else None,
        )
        if reader is self._reader():
            self.checkpoint_loaded.emit(view)

    def load_analytics(self) -> None:
        self.browser.run(self._analytics(), "LangGraph storage analytics", key="lg-analytics")

    async def _analytics(self) -> None:
        reader = self._reader()
        if reader is None:
            return
        async with self.browser.lock:
            report = await reader.analytics(keep_last=langgraph.KEEP_LAST_ESTIMATES)
        if reader is self._reader():
            self.analytics_loaded.emit(report)

    def preview_prune(self, keep_last: int, thread_ids: list[str] | None) -> None:
        self.browser.run(self._preview(keep_last, thread_ids), "prune preview", key="lg-prune")

    async def _preview(self, keep_last: int, thread_ids: list[str] | None) -> None:
        reader = self._reader()
        if reader is None:
            return
        try:
            async with self.browser.lock:
                plan = await reader.plan_prune(keep_last, thread_ids)
        except Exception as exc:
            self.prune_failed.emit(_line(exc))
            return
        if reader is self._reader():
            self.prune_previewed.emit(plan)

    def prune(self, keep_last: int, thread_ids: list[str] | None, vacuum: bool) -> None:
        """Apply keep-last-N (its own read-write connection, planned again inside its transaction)."""
        self.browser.run(self._prune(keep_last, thread_ids, vacuum), "prune", key="lg-prune")

    async def _prune(self, keep_last: int, thread_ids: list[str] | None, vacuum: bool) -> None:
        url = self.browser.url
        if url is None or self._reader() is None:
            return
        try:
            async with self.browser.lock:
                plan = await langgraph.apply_prune(url, keep_last, thread_ids, vacuum)
                await self.browser.refresh_langgraph_reader()
        except Exception as exc:
            self.prune_failed.emit(_line(exc))
            return
        self.pruned.emit(plan, vacuum)


def _line(exc: BaseException) -> str:
    from studio.bridge import one_line

    return one_line(exc)
