"""`open_runner`: the one way to open storage and build a runner (the CLI, `App`'s helpers, the studio)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from engine.persistence.base import CheckpointerType
from engine.persistence.factory import open_checkpointer, resolve_url
from engine.persistence.urls import DatabaseURL

if TYPE_CHECKING:
    from engine.app import App
    from engine.runner import AppRunner

BUILDER_OPTIONS = (
    "autosave",
    "clock",
    "concurrency_limit",
    "event_bus",
    "lifecycle_events",
    "max_steps",
    "start_listener",
)
"""The `AppRunnerBuilder` settings `open_runner` passes on (each is the builder method of that name)."""


async def open_runner(
    app: App, url: str | DatabaseURL | None = None, *, create: bool = True, **builder_options: Any
) -> AppRunner:
    """A built `AppRunner` for `app` over the storage at `url`; use it as `async with await open_runner(...)`.

    `url=None` means what the app's RuntimeConfig says (its custom checkpointer, else its CheckpointerType
    resolved as `resolve_url` does; in-memory by default). `create=False` refuses to create a new database.
    `checkpointer=` hands over an already open checkpointer instead (the runner does not close it); the other
    keyword options are builder settings (`event_bus`, `lifecycle_events`, `autosave`, `clock`,
    `concurrency_limit`, `max_steps`, `start_listener`). Storage the runner opened is closed with the runner,
    and `run_metadata().checkpointer_backend` names the real backend ("sqlite", "postgres", "in-memory").
    """
    from engine.runner import AppRunner

    unknown = sorted(set(builder_options) - set(BUILDER_OPTIONS) - {"checkpointer"})
    if unknown:
        raise TypeError(
            f"open_runner() got unknown option(s) {', '.join(unknown)}; "
            f"use {', '.join(BUILDER_OPTIONS)} or checkpointer"
        )
    checkpointer = builder_options.pop("checkpointer", None)
    owns = False
    if checkpointer is not None:
        backend = str(getattr(checkpointer, "backend_name", "custom"))
    elif url is None and app.runtime_config.custom_checkpointer is not None:
        checkpointer, backend = app.runtime_config.custom_checkpointer, "custom"
    else:
        if url is None:
            cfg = app.runtime_config
            url = resolve_url(cfg.checkpointer or CheckpointerType.IN_MEMORY, cfg.sqlite_db_name)
        checkpointer = await open_checkpointer(url, create=create)
        backend, owns = str(checkpointer.backend_name), True
    try:
        builder = AppRunner.builder().app(app).checkpointer_custom(checkpointer)
        for name, value in builder_options.items():
            getattr(builder, name)(value)
        runner = await builder.build()
    except BaseException:
        if owns:
            await checkpointer.aclose()
        raise
    # The builder knows only "custom" for a checkpointer it did not open; say what it really is, and let
    # the runner close what was opened here.
    runner._backend = backend
    runner._owns_checkpointer = owns
    return runner
