"""A full disk (C6): `weavegraph run` on a 2 MB tmpfs stops with one line saying that the disk holding the
database is full and up to which step the session is saved; that step and every one before it load and equal
the reference run; after the disk grows (remount) the same command resumes and completes the session.

Mounting needs root (or CAP_SYS_ADMIN); where the machine cannot mount a tmpfs the test is skipped and says
why."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from engine.persistence.serde import state_to_json
from engine.persistence.sqlite import SQLiteCheckpointer
from tests.faults.helpers import (
    SESSION,
    loop_document,
    reference_states,
    run_cli,
    saved_states,
    write_document,
)

pytestmark = pytest.mark.slow

BLOB = 60_000
"""Characters each round's message adds: the 2 MB disk fills after about 30 rounds in compact storage."""


def _mount(target: Path, size: str) -> str | None:
    """Mount a tmpfs of `size` at `target`; the reason when the machine cannot."""
    if os.geteuid() != 0:
        return "mounting a tmpfs needs root"
    if shutil.which("mount") is None:
        return "no mount command"
    proc = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(target)],
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        return f"mount -t tmpfs failed: {proc.stderr.strip() or proc.returncode}"
    return None


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    target = tmp_path / "disk"
    target.mkdir()
    reason = _mount(target, "2m")
    if reason:
        pytest.skip(f"cannot test a full disk here: {reason}")
    try:
        yield target
    finally:
        subprocess.run(["umount", "-l", str(target)], capture_output=True)


def _document() -> dict[str, Any]:
    data = loop_document(limit=60)
    data["nodes"][1]["config"]["content"] = "{extra[blob]}"
    data["input"]["extra"]["blob"] = "x" * BLOB
    return data


async def _stored_copy(db: Path, folder: Path) -> list[Any]:
    """The steps saved in `db`, read from a copy (the full disk has no room for a reader's -shm file)."""
    copy = folder / "copy"
    copy.mkdir()
    for source in (db, db.with_name(db.name + "-wal")):
        if source.exists():
            shutil.copyfile(source, copy / source.name)
    storage = await SQLiteCheckpointer.connect(f"sqlite://{copy / 'full.db'}", create=False)
    try:
        assert await storage.integrity_check() == "ok"
        return await saved_states(storage, SESSION)
    finally:
        await storage.aclose()


def test_a_full_disk_is_one_clear_line_and_loses_no_saved_step(small_disk: Path, tmp_path: Path) -> None:
    data = _document()
    doc = write_document(tmp_path / "big.wgraph.json", data)
    reference = asyncio.run(reference_states(data, tmp_path, mode="compact"))
    db = small_disk / "full.db"
    url = f"sqlite://{db}"

    result = run_cli("run", str(doc), "--db", url, "--session", SESSION, cwd=tmp_path)
    lines = result.err.strip().splitlines()
    assert result.code == 1, result
    assert len(lines) == 1 and "Traceback" not in result.err, result.err
    assert f"the disk holding '{db}' is full" in lines[0], lines[0]
    found = re.search(rf"every step up to (\d+) of session '{SESSION}' is saved", lines[0])
    assert found, lines[0]
    last = int(found[1])

    stored = asyncio.run(_stored_copy(db, tmp_path))
    assert len(stored) - 1 == last, (
        f"the message says step {last}, the database holds up to {len(stored) - 1}"
    )
    assert stored == reference[: last + 1]

    grown = subprocess.run(
        ["mount", "-o", "remount,size=64m", str(small_disk)], capture_output=True, text=True
    )
    assert grown.returncode == 0, grown.stderr
    resumed = run_cli("run", str(doc), "--db", url, "--session", SESSION, "--json", cwd=tmp_path)
    assert resumed.code == 0, resumed.err
    assert json.loads(resumed.out)["state"] == state_to_json(reference[-1])
