"""Smoke test of workload 9 (many SQLite sessions at once, bench/sqlite_concurrent.py): both sides run at
the tiny size and the table rows build. Not a measurement."""

from __future__ import annotations

import importlib.util

import pytest

from bench import worker
from bench.common import Sizes
from bench.report import build_rows, format_table

TINY = Sizes.tiny()


def test_our_side_runs_with_its_ceiling() -> None:
    result = worker.build("sqlite_concurrent", "ours", "-", TINY)(False)
    assert (result["sessions"], result["invocations"]) == (3, 2)
    assert result["rows"] == 3 * 3 * 2 + 3  # step 0 of each session, then 3 steps per invocation
    assert result["ceiling_seconds"] > 0 and result["engine_only_invocations_per_s"] > 0
    assert result["groups"] >= 1 and result["saves_per_group"] >= 1


@pytest.mark.skipif(importlib.util.find_spec("langgraph") is None, reason="langgraph (bench extra) missing")
def test_langgraph_side_runs() -> None:
    result = worker.build("sqlite_concurrent", "langgraph", "async", TINY)(False)
    assert result["invocations_per_s"] > 0


def test_rows() -> None:
    ours = {
        "invocations_per_s": 2000.0,
        "ceiling_invocations_per_s": 20000.0,
        "engine_only_invocations_per_s": 8000.0,
        "saves_per_group": 40.0,
        "sessions": 50,
        "invocations": 40,
    }
    results = {
        "sqlite_concurrent": {
            "ours": {"runs": [ours]},
            "langgraph/async": {"runs": [{"invocations_per_s": 80.0}]},
        }
    }
    rows = build_rows(results, {}, TINY)
    text = format_table("t", rows)
    assert "50 sessions x 40 invocations at once, SQLite" in text
    assert "25.0x" in text and "ours = 0.10 of ceiling" in text and "ours = 0.25 of it" in text
    ceiling = next(r for r in rows if "ceiling" in r.measure)
    assert ceiling.met is False and ceiling.ratio_value == pytest.approx(0.1)
