"""Widgets of the checkpoint browser: connection bar (URL, password, recent), pager, message bar, charts."""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtCore import QSettings, Qt, Signal
from PySide6.QtWidgets import (
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMenu,
    QPushButton,
    QTableView,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from studio.models.sessions import SessionsModel, format_bytes
from studio.models.steps import StepsModel
from studio.services.storage import StorageStats, redact, sqlite_url_for_path, strip_password
from studio.widgets.plots import IntegerAxis, ThemedPlot

RECENT_KEY = "checkpointBrowser/recent"
GROWTH_TITLE = "Growth over steps (selected session)"
MAX_RECENT = 10


def short_id(session_id: str, limit: int = 14) -> str:
    """The tail of a long id for chart labels."""
    return session_id if len(session_id) <= limit else "…" + session_id[-(limit - 1) :]


def compact_table(view: QTableView) -> None:
    """One text line per row, no row numbers."""
    view.setWordWrap(False)
    view.verticalHeader().setVisible(False)
    view.verticalHeader().setDefaultSectionSize(view.fontMetrics().height() + 8)


class Pager(QWidget):
    """Previous / page label / next, under a paged table."""

    def __init__(self, name: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.prev = QToolButton()
        self.prev.setArrowType(Qt.ArrowType.LeftArrow)
        self.prev.setObjectName(f"{name}Prev")
        self.next = QToolButton()
        self.next.setArrowType(Qt.ArrowType.RightArrow)
        self.next.setObjectName(f"{name}Next")
        self.label = QLabel("")
        self.label.setObjectName(f"{name}Label")
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.prev)
        row.addWidget(self.label, 1, Qt.AlignmentFlag.AlignCenter)
        row.addWidget(self.next)

    def update_from(self, model: SessionsModel | StepsModel) -> None:
        self.label.setText(model.page_label())
        self.prev.setEnabled(model.page > 0)
        self.next.setEnabled(model.page + 1 < model.page_count)


class Bar(QFrame):
    """A one-line message bar (error, warning or question) that hides itself when empty."""

    def __init__(self, name: str, color: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName(name)
        self.setStyleSheet(
            f"#{name} {{ background: {color}; border-radius: 3px; }} QLabel {{ color: #202020; }}"
        )
        self.label = QLabel("")
        self.label.setObjectName(f"{name}Text")
        self.label.setWordWrap(True)  # a long message wraps; it never widens the window
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.row = QHBoxLayout(self)
        self.row.setContentsMargins(6, 2, 2, 2)
        self.row.addWidget(self.label, 1)
        self.close_button = QToolButton()
        self.close_button.setText("\u2715")
        self.close_button.clicked.connect(self.hide)
        self.row.addWidget(self.close_button)
        self.hide()

    def show_text(self, text: str) -> None:
        self.label.setText(" ".join(text.split()))
        self.setVisible(bool(text))

    def text(self) -> str:
        return "" if self.isHidden() else self.label.text()


def recent_urls(settings: QSettings) -> list[str]:
    """Recently opened databases (URLs without passwords), newest first."""
    value = settings.value(RECENT_KEY, [])
    items = [value] if isinstance(value, str) else value if isinstance(value, list) else []
    return [i for i in items if isinstance(i, str)]


class ConnectionBar(QWidget):
    """URL, password (never shown), Open, File... (non-modal dialog) and the Recent menu (QSettings).

    `open_requested(url)` carries what the user chose; the password stays in `password_edit` and the
    owner adds it (`with_password`) only for the connection.
    """

    open_requested = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._defaults: list[str] = []
        self.url_edit = QLineEdit()
        self.url_edit.setObjectName("browserUrl")
        self.url_edit.setPlaceholderText("SQLite file path, sqlite://file.db, or postgresql://user@host/db")
        self.password_edit = QLineEdit()
        self.password_edit.setObjectName("browserPassword")
        self.password_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.password_edit.setPlaceholderText("password (Postgres)")
        self.password_edit.setMaximumWidth(160)
        self.connect_button = QPushButton("Open")
        self.connect_button.setObjectName("browserConnect")
        self.file_button = QPushButton("File…")
        self.file_button.setObjectName("browserFile")
        self.recent_button = QToolButton()
        self.recent_button.setText("Recent")
        self.recent_button.setObjectName("browserRecent")
        self.recent_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.recent_menu = QMenu(self.recent_button)
        self.recent_button.setMenu(self.recent_menu)
        self.recent_menu.aboutToShow.connect(self.refresh_recent)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.url_edit, 1)
        for w in (self.password_edit, self.connect_button, self.file_button, self.recent_button):
            row.addWidget(w)
        self.url_edit.returnPressed.connect(self._on_connect_clicked)
        self.password_edit.returnPressed.connect(self._on_connect_clicked)
        self.connect_button.clicked.connect(self._on_connect_clicked)
        self.file_button.clicked.connect(self._on_file_clicked)
        self.refresh_recent()

    def remember(self, url: str) -> None:
        """Put `url` (its password removed) first in the recent list."""
        settings = QSettings()
        recent = [strip_password(url)]
        recent += [item for item in recent_urls(settings) if item not in recent]
        settings.setValue(RECENT_KEY, recent[:MAX_RECENT])
        self.url_edit.setText(strip_password(url))
        self.refresh_recent()

    def set_defaults(self, urls: list[str]) -> None:
        """Databases always offered under Recent (the studio's own, those the run console used)."""
        self._defaults = [strip_password(u) for u in urls if u and not u.startswith("memory")]
        self.refresh_recent()

    def recent(self) -> list[str]:
        """What the Recent menu offers: opened here first, then the defaults (no duplicates)."""
        return list(dict.fromkeys([*recent_urls(QSettings()), *self._defaults]))

    def refresh_recent(self) -> None:
        self.recent_menu.clear()
        items = self.recent()
        for item in items:
            action = self.recent_menu.addAction(redact(item))
            action.triggered.connect(lambda _checked=False, u=item: self._open(u))
        if not items:
            self.recent_menu.addAction("(no database opened yet)").setEnabled(False)
        self.recent_button.setEnabled(True)

    def _open(self, url: str) -> None:
        self.url_edit.setText(url)
        self.open_requested.emit(url)

    def _on_connect_clicked(self) -> None:
        if self.url_edit.text().strip():
            self.open_requested.emit(self.url_edit.text().strip())

    def _on_file_clicked(self) -> None:
        dialog = QFileDialog(
            self, "Open checkpoint database", "", "SQLite databases (*.db *.sqlite *.sqlite3);;All (*)"
        )
        dialog.setFileMode(QFileDialog.FileMode.ExistingFile)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.fileSelected.connect(lambda path: self._open(sqlite_url_for_path(path)))
        dialog.open()


class StorageView(QWidget):
    """Summary line, bytes per session (largest 30) and growth over steps of the selected session."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("storageView")
        self.summary = QLabel("")
        self.summary.setObjectName("storageSummary")
        self.summary.setWordWrap(True)
        self.refresh_button = QPushButton("Refresh")
        self.refresh_button.setObjectName("storageRefresh")
        self.bytes_plot = ThemedPlot("Bytes per session (largest 30)")
        self.bytes_plot.setObjectName("bytesPerSession")
        self.bytes_plot.setLabel("left", "bytes")
        self.growth_plot = ThemedPlot(GROWTH_TITLE, axisItems={"bottom": IntegerAxis("bottom")})
        self.growth_plot.setObjectName("growthPlot")
        self.growth_plot.setLabel("left", "bytes")
        self.growth_plot.setLabel("bottom", "step")
        for plot in (self.bytes_plot, self.growth_plot):
            plot.showGrid(x=True, y=True, alpha=0.2)
            plot.setMinimumHeight(140)
            plot.apply_palette()
        self.top_sessions: list[tuple[str, int]] = []
        self.growth: list[tuple[int, int]] = []
        row = QHBoxLayout()
        row.addWidget(self.summary, 1)
        row.addWidget(self.refresh_button)
        layout = QVBoxLayout(self)
        layout.addLayout(row)
        layout.addWidget(self.bytes_plot, 1)
        layout.addWidget(self.growth_plot, 1)

    def clear(self) -> None:
        """Forget the previous database's charts (another one is being opened, or the open failed)."""
        self.top_sessions = []
        self.growth = []
        self.bytes_plot.clear()
        self.bytes_plot.getAxis("bottom").setTicks(None)
        self.growth_plot.clear()
        self.growth_plot.setTitle(GROWTH_TITLE)
        self.summary.setText("")

    def set_stats(self, stats: StorageStats) -> None:
        top = sorted(stats.sessions, key=lambda s: s.bytes, reverse=True)[:30]
        self.top_sessions = [(s.session_id, s.bytes) for s in top]
        self.bytes_plot.clear()
        if top:
            heights = [s.bytes for s in top]
            bars = pg.BarGraphItem(x=list(range(len(top))), height=heights, width=0.7, brush="#4a78b5")
            self.bytes_plot.addItem(bars)
            every = max(1, len(top) // 6)
            ticks = [(i, short_id(s.session_id)) for i, s in enumerate(top)][::every]
            self.bytes_plot.getAxis("bottom").setTicks([ticks])
        extra = ""
        if stats.file_bytes is not None:
            extra = f", file {format_bytes(stats.file_bytes)}"
            if stats.free_bytes:
                extra += f" ({format_bytes(stats.free_bytes)} free)"
        self.summary.setText(
            f"{stats.backend}: {len(stats.sessions)} sessions, {stats.total_steps} steps, "
            f"{format_bytes(stats.total_bytes)} of checkpoints{extra}"
        )

    def set_growth(self, session_id: str, sizes: list[tuple[int, int]]) -> None:
        """`sizes`: (step, stored state bytes) ascending; the chart shows the cumulative total."""
        self.growth = list(sizes)
        self.growth_plot.clear()
        title = f"Growth over steps: {session_id}"
        if sizes:
            xs = [s for s, _ in sizes]
            total, cumulative = 0, []
            for _, b in sizes:
                total += b
                cumulative.append(total)
            pen = pg.mkPen("#4a78b5", width=2)
            self.growth_plot.plot(xs, cumulative, pen=pen, fillLevel=0, brush=(74, 120, 181, 60))
            title += f" (stored state bytes; last step {format_bytes(sizes[-1][1])})"
        self.growth_plot.setTitle(title)
