"""Read-only widgets for one state (messages list, extra as a tree, errors) and for a per-channel diff."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QHeaderView,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QTabWidget,
    QTreeView,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from engine.state import StateSnapshot, VersionedState
from studio.diff import CheckpointDiff, StateDiff, error_line, short_json
from studio.models.state_tree import JsonTreeModel

_ADDED = QColor("#2e7d32")
_REMOVED = QColor("#c62828")
_CHANGED = QColor("#b26a00")


class StateView(QWidget):
    """Tabs Messages / Extra / Errors for one state; the title line names the step and the versions."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("stateView")
        self.title = QLabel("No step selected")
        self.title.setObjectName("stateTitle")
        self.title.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.messages = QListWidget()
        self.messages.setObjectName("stateMessages")
        self.messages.setWordWrap(True)
        self.messages.setAlternatingRowColors(True)
        self.extra_model = JsonTreeModel(self)
        self.extra = QTreeView()
        self.extra.setObjectName("stateExtra")
        self.extra.setModel(self.extra_model)
        self.extra.setAlternatingRowColors(True)
        self.extra.setUniformRowHeights(True)
        self.extra.header().setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        self.extra.header().setStretchLastSection(False)
        self.extra.header().setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.errors = QListWidget()
        self.errors.setObjectName("stateErrors")
        self.errors.setWordWrap(True)
        self.tabs = QTabWidget()
        self.tabs.addTab(self.messages, "Messages")
        self.tabs.addTab(self.extra, "Extra")
        self.tabs.addTab(self.errors, "Errors")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.title)
        layout.addWidget(self.tabs)

    def clear(self, title: str = "No step selected") -> None:
        self.title.setText(title)
        self.messages.clear()
        self.errors.clear()
        self.extra_model.set_value({})
        self._set_counts(0, 0, 0)

    def set_state(self, state: VersionedState | StateSnapshot, title: str = "") -> None:
        self.title.setText(
            (title + "  ·  " if title else "")
            + f"versions: messages {state.messages_version}, extra {state.extra_version}, "
            f"errors {state.errors_version}"
        )
        self.messages.clear()
        for i, m in enumerate(state.messages):
            item = QListWidgetItem(f"{i + 1}. {m.role_name}: {m.content}")
            item.setToolTip(m.content[:4000])
            self.messages.addItem(item)
        self.extra_model.set_value(state.extra)
        self.extra.expandToDepth(0)
        self.errors.clear()
        for e in state.errors:
            item = QListWidgetItem(error_line(e))
            item.setForeground(QBrush(_REMOVED))
            self.errors.addItem(item)
        self._set_counts(len(state.messages), len(state.extra), len(state.errors))

    def _set_counts(self, messages: int, extra: int, errors: int) -> None:
        self.tabs.setTabText(0, f"Messages ({messages})")
        self.tabs.setTabText(1, f"Extra ({extra})")
        self.tabs.setTabText(2, f"Errors ({errors})")


class DiffView(QWidget):
    """A tree with one branch per channel: rows Change / Key / Old / New, coloured by kind of change."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("diffView")
        self.title = QLabel("Pick two steps to compare")
        self.title.setObjectName("diffTitle")
        self.tree = QTreeWidget()
        self.tree.setObjectName("diffTree")
        self.tree.setColumnCount(4)
        self.tree.setHeaderLabels(["Change", "Key", "Old", "New"])
        self.tree.setAlternatingRowColors(True)
        self.tree.header().setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.title)
        layout.addWidget(self.tree)
        self._diff: CheckpointDiff | None = None

    @property
    def diff(self) -> CheckpointDiff | None:
        return self._diff

    def clear(self, title: str = "Pick two steps to compare") -> None:
        self._diff = None
        self.title.setText(title)
        self.tree.clear()

    def set_diff(self, diff: CheckpointDiff) -> None:
        self._diff = diff
        d = diff.state
        changed = ", ".join(d.changed_channels) or "nothing"
        frontier = ""
        if diff.old_frontier != diff.new_frontier:
            frontier = f"  ·  frontier [{', '.join(diff.old_frontier)}] → [{', '.join(diff.new_frontier)}]"
        self.title.setText(f"step {diff.old_step} → step {diff.new_step}: changed {changed}{frontier}")
        self.tree.clear()
        self._fill(d)
        self.tree.expandAll()

    def _branch(self, name: str, count: int, versions: tuple[int, int] | None) -> QTreeWidgetItem:
        ver = f"  v{versions[0]} → v{versions[1]}" if versions else ""
        top = QTreeWidgetItem(self.tree, [f"{name} ({count}){ver}"])
        top.setFirstColumnSpanned(True)
        font = top.font(0)
        font.setBold(True)
        top.setFont(0, font)
        return top

    def _row(self, parent: QTreeWidgetItem, change: str, key: str, old: str, new: str, color: QColor) -> None:
        item = QTreeWidgetItem(parent, [change, key, old, new])
        for col in range(4):
            item.setForeground(col, QBrush(color))
        item.setToolTip(2, old[:4000])
        item.setToolTip(3, new[:4000])

    def _fill(self, d: StateDiff) -> None:
        v = d.versions
        msgs = self._branch("messages", len(d.messages_added) + len(d.messages_removed), v.get("messages"))
        for m in d.messages_added:
            self._row(msgs, "added", m.role_name, "", m.content, _ADDED)
        for m in d.messages_removed:
            self._row(msgs, "removed", m.role_name, m.content, "", _REMOVED)
        count = len(d.extra_added) + len(d.extra_removed) + len(d.extra_changed)
        extra = self._branch("extra", count, v.get("extra"))
        for k, val in d.extra_added.items():
            self._row(extra, "added", k, "", short_json(val, 200), _ADDED)
        for k, val in d.extra_removed.items():
            self._row(extra, "removed", k, short_json(val, 200), "", _REMOVED)
        for c in d.extra_changed:
            self._row(extra, "changed", c.key, short_json(c.old, 200), short_json(c.new, 200), _CHANGED)
        errs = self._branch("errors", len(d.errors_added) + len(d.errors_removed), v.get("errors"))
        for e in d.errors_added:
            self._row(errs, "added", e.scope.kind, "", error_line(e), _ADDED)
        for e in d.errors_removed:
            self._row(errs, "removed", e.scope.kind, error_line(e), "", _REMOVED)

    def rows(self) -> list[tuple[str, str, str, str, str]]:
        """(channel, change, key, old, new) for every row shown (tests and export read it)."""
        out = []
        for i in range(self.tree.topLevelItemCount()):
            top = self.tree.topLevelItem(i)
            if top is None:
                continue
            channel = top.text(0).split(" ", 1)[0]
            for j in range(top.childCount()):
                c = top.child(j)
                if c is not None:
                    out.append((channel, c.text(0), c.text(1), c.text(2), c.text(3)))
        return out
