"""Databases written by real LangGraph runs, built once per module and copied per test that changes them."""

from __future__ import annotations

import hashlib
import os
import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from langgraph.checkpoint.sqlite import SqliteSaver

from tests.engine.foreign.lg_graphs import populate


def snapshot(path: Path) -> tuple[str, list[str]]:
    """sha256 of the file and the sorted listing of its directory."""
    return hashlib.sha256(path.read_bytes()).hexdigest(), sorted(os.listdir(path.parent))


@pytest.fixture(scope="module")
def lg_master(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    path = tmp_path_factory.mktemp("lg") / "master.db"
    conn = sqlite3.connect(path, check_same_thread=False)
    try:
        facts = populate(SqliteSaver(conn))
    finally:
        conn.close()
    return path, facts


@pytest.fixture
def lg_db(lg_master: tuple[Path, dict[str, Any]], tmp_path: Path) -> Iterator[Path]:
    """A private copy of the LangGraph SQLite database, alone in its own directory."""
    folder = tmp_path / "db"
    folder.mkdir()
    target = folder / "lg.db"
    shutil.copyfile(lg_master[0], target)
    yield target
