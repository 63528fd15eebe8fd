"""C4 and the protocol split: `open_runner` opens storage and builds a runner in one call, names the real
backend, and closes what it opened; the runner works with a minimal custom checkpointer (save and
load_latest only). C2: every storage error has a `kind`."""

from __future__ import annotations

from pathlib import Path

import pytest

import engine
from engine import GraphBuilder, open_runner
from engine.errors import CheckpointConflict, CheckpointerError, StorageErrorKind
from engine.persistence import (
    AuthenticationFailed,
    Checkpoint,
    CheckpointDataError,
    Checkpointer,
    CheckpointStore,
    InMemoryCheckpointer,
    InvalidCheckpointerUrl,
    NotACheckpointDatabase,
    SchemaTooNew,
    StorageFull,
    StorageLocked,
    StorageNotFound,
    StorageReadOnly,
    StorageUnavailable,
)
from engine.persistence.sqlite import SQLiteCheckpointer
from engine.runtime_config import RuntimeConfig
from engine.state import VersionedState

from ..nodes import appender


def app(config: RuntimeConfig | None = None) -> engine.App:
    b = GraphBuilder().add_node("A", appender("a")).add_node("B", appender("b"))
    b = b.add_edge("Start", "A").add_edge("A", "B").add_edge("B", "End")
    if config is not None:
        b = b.with_runtime_config(config)
    return b.compile()


class MinimalCheckpointer:
    """Only what the runner needs."""

    def __init__(self) -> None:
        self.saved: dict[str, Checkpoint] = {}

    async def save(self, checkpoint: Checkpoint, expected_last_step: int | None = None) -> None:
        self.saved[checkpoint.session_id] = checkpoint

    async def load_latest(self, session_id: str) -> Checkpoint | None:
        return self.saved.get(session_id)


async def test_open_runner_sqlite_names_the_backend_and_closes_storage(tmp_path: Path) -> None:
    url = f"sqlite://{tmp_path / 'runs.db'}"
    async with await open_runner(app(), url, lifecycle_events=True) as runner:
        assert runner.run_metadata().checkpointer_backend == "sqlite"
        await runner.create_session("s", VersionedState.new_with_user_message("hi"))
        final = await runner.run_until_complete("s")
        assert [m.content for m in final.messages] == ["hi", "a", "b"]
        storage = runner.checkpointer
    assert isinstance(storage, SQLiteCheckpointer) and storage._closed, "the runner closed what it opened"
    reopened = await SQLiteCheckpointer.connect(url, create=False)
    try:
        assert (await reopened.load_latest("s")).step == 2
    finally:
        await reopened.aclose()
    with pytest.raises(StorageNotFound):
        await open_runner(app(), f"sqlite://{tmp_path / 'absent.db'}", create=False)
    with pytest.raises(TypeError, match="bogus"):
        await open_runner(app(), "memory:", bogus=True)


async def test_open_runner_in_memory_and_from_runtime_config(tmp_path: Path) -> None:
    async with await open_runner(app()) as runner:
        assert runner.run_metadata().checkpointer_backend == "in-memory"
        assert isinstance(runner.checkpointer, InMemoryCheckpointer)
    config = RuntimeConfig(
        sqlite_db_name=str(tmp_path / "cfg.db"), checkpointer=engine.CheckpointerType.SQLITE
    )
    async with await open_runner(app(config)) as runner:
        assert runner.run_metadata().checkpointer_backend == "sqlite"
    assert (tmp_path / "cfg.db").exists()


async def test_a_minimal_custom_checkpointer_runs_sessions() -> None:
    minimal = MinimalCheckpointer()
    assert isinstance(minimal, Checkpointer) and not isinstance(minimal, CheckpointStore)
    assert isinstance(InMemoryCheckpointer(), CheckpointStore)
    async with await open_runner(app(), checkpointer=minimal) as runner:
        assert runner.run_metadata().checkpointer_backend == "custom"
        await runner.create_session("s", VersionedState.new_with_user_message("hi"))
        await runner.run_until_complete("s")
        assert await runner.list_sessions() == ["s"]
    assert minimal.saved["s"].step == 2
    builder = engine.AppRunner.builder().app(app()).checkpointer_custom(MinimalCheckpointer())
    async with await builder.build() as runner:
        await runner.create_session("t", VersionedState.new_with_user_message("hi"))
        await runner.run_until_complete("t")


def test_every_storage_error_has_its_kind() -> None:
    assert engine.StorageErrorKind is StorageErrorKind
    assert {k.value for k in StorageErrorKind} == {
        "invalid_url",
        "not_found",
        "not_ours",
        "locked",
        "unavailable",
        "auth",
        "data",
        "conflict",
        "disk_full",
        "read_only",
        "schema_newer",
        "checkpoint_missing",
        "exists",
        "other",
    }
    fixed = {
        InvalidCheckpointerUrl: "invalid_url",
        StorageNotFound: "not_found",
        NotACheckpointDatabase: "not_ours",
        StorageLocked: "locked",
        StorageUnavailable: "unavailable",
        AuthenticationFailed: "auth",
        CheckpointDataError: "data",
        StorageFull: "disk_full",
        StorageReadOnly: "read_only",
    }
    for cls, kind in fixed.items():
        err = cls("x")
        assert err.kind == kind and err.kind is StorageErrorKind(kind) and isinstance(err, CheckpointerError)
    assert CheckpointConflict("s", 1, 2).kind is StorageErrorKind.CONFLICT
    assert SchemaTooNew("db", 9, 5).kind is StorageErrorKind.SCHEMA_NEWER
    assert CheckpointerError("x").kind is StorageErrorKind.OTHER
    assert CheckpointerError("x", kind="exists").kind is StorageErrorKind.EXISTS
    assert CheckpointerError("x", kind=StorageErrorKind.CHECKPOINT_MISSING).kind == "checkpoint_missing"
    with pytest.raises(ValueError):
        CheckpointerError("x", kind="bogus")
