"""A full disk (a real 2 MB tmpfs, mounted as root) gives `StorageFull` naming the disk and what is saved."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.errors import StorageErrorKind
from engine.persistence.errors import StorageFull
from engine.persistence.sqlite import SQLiteCheckpointer

from .helpers import make_cp


def _mount_reason(target: Path) -> str | None:
    """Why a tmpfs cannot be mounted here (None when it can)."""
    if os.geteuid() != 0:
        return "mounting a tmpfs needs root"
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(target)], capture_output=True, text=True
    )
    return None if done.returncode == 0 else f"mount -t tmpfs failed: {done.stderr.strip()}"


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    target = tmp_path / "disk"
    target.mkdir()
    reason = _mount_reason(target)
    if reason is not None:
        pytest.skip(f"cannot test a full disk on this machine: {reason}")
    try:
        yield target
    finally:
        subprocess.run(["umount", "-l", str(target)], check=True)


@pytest.mark.slow
async def test_full_disk_names_the_file_and_the_last_saved_step(small_disk: Path) -> None:
    path = small_disk / "full.db"
    cp = await SQLiteCheckpointer.connect(f"sqlite://{path}", storage_mode="full")
    saved = -1
    try:
        with pytest.raises(StorageFull) as info:
            for step in range(200):
                blob = os.urandom(60_000).hex()  # incompressible, about 120 KB of state per step
                await cp.save(make_cp("s", step, extra={"blob": blob}))
                saved = step
        assert saved >= 1, "the disk filled before anything could be saved"
        message = str(info.value)
        assert f"the disk holding '{path}' is full" in message
        assert f"every step up to {saved} of session 's' is saved" in message
        assert info.value.kind is StorageErrorKind.DISK_FULL
        latest = await cp.load_latest("s")
        assert latest is not None and latest.step == saved, "what was saved stays readable"
    finally:
        await cp.aclose()
