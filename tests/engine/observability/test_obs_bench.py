"""Smoke run of bench/obs_bench.py (tiny sizes, one round): every mode's child starts, the 'absent' child
really has no OpenTelemetry or prometheus-client, and the table prints. Not a measurement."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.slow
def test_the_observability_bench_runs(tmp_path: Path) -> None:
    out = tmp_path / "obs.json"
    done = subprocess.run(
        [sys.executable, "-m", "bench.obs_bench", "--smoke", "--repeat", "1", "--json", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    rows = [line.split()[:2] for line in lines[2:-2]]
    modes = ["off", "off2", "absent", "events", "tracing", "sampled", "metrics"]
    assert rows == [[w, m] for w in ("chain", "work", "sqlite") for m in modes]
    assert lines[-2].startswith("OpenTelemetry SDK alone")
    assert lines[-1].startswith("Engine's share of tracing")
    assert out.stat().st_size > 0


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["stub", "bare", "floor"])
def test_the_instruction_count_runs_start(mode: str) -> None:
    """`--ir MODE N` (what callgrind runs) works for the modes only it knows."""
    done = subprocess.run(
        [sys.executable, "-m", "bench.obs_bench", "--ir", mode, "1"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
