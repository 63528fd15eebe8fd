"""Smoke test of the benchmark suite: every workload of bench/ runs once at a tiny size, on both sides,
and the table builds, so the bench scripts cannot rot. Not a measurement."""

from __future__ import annotations

import asyncio
import importlib.util
import json

import pytest

from bench import worker
from bench.common import Sizes
from bench.report import build_rows, format_table

TINY = Sizes.tiny()
HAVE_LANGGRAPH = importlib.util.find_spec("langgraph") is not None
needs_langgraph = pytest.mark.skipif(
    not HAVE_LANGGRAPH, reason="langgraph (the bench extra) is not installed"
)


@pytest.mark.parametrize("workload", ["chain", "loop", "fanout", "sqlite", "events"])
def test_our_side_runs(workload: str) -> None:
    rep = worker.build(workload, "ours", "-", TINY)
    warm = rep(True)
    result = rep(False)
    assert result and all(isinstance(v, int | float) for k, v in result.items() if k != "storage_mode")
    if workload == "loop":
        assert "rss_growth_bytes" in warm
    if workload == "sqlite":
        assert result["rows"] == 3 * TINY.turns + 1  # step 0, then 3 steps per turn
        assert result["ceiling_seconds"] > 0 and result["db_bytes"] > 0


@needs_langgraph
@pytest.mark.parametrize("workload", ["chain", "loop", "fanout", "sqlite"])
@pytest.mark.parametrize("variant", ["sync", "async"])
def test_langgraph_side_runs(workload: str, variant: str) -> None:
    result = worker.build(workload, "langgraph", variant, TINY)(False)
    assert result and all(isinstance(v, int | float) for v in result.values())


@pytest.mark.postgres
def test_postgres_workload_runs(postgres_url: str) -> None:
    from bench import ours

    result = asyncio.run(worker._ours_postgres(ours.turns_app(), postgres_url, TINY.turns))
    assert result["rows"] == 3 * TINY.turns + 1
    assert result["ceiling_seconds"] > 0


@pytest.mark.postgres
@needs_langgraph
@pytest.mark.parametrize("variant", ["sync", "async"])
def test_langgraph_postgres_savers_run(postgres_url: str, variant: str) -> None:
    from bench import lg

    result = lg.run_pg_turns(postgres_url, variant, TINY.turns)
    assert result["invocations_per_s"] > 0


@pytest.mark.postgres
def test_postgres_concurrent_workload_runs(postgres_url: str) -> None:
    n, k = TINY.concurrent_sessions, TINY.concurrent_invocations
    result = asyncio.run(worker._ours_pg_concurrent(postgres_url, n, k))
    assert result["rows"] == n * (3 * k + 1)  # step 0, then 3 steps per turn, per session
    assert result["ceiling_seconds"] > 0 and result["ceiling_batch"] == n
    assert result["groups"] >= 1 and result["saves_per_group"] >= 1


@pytest.mark.postgres
@needs_langgraph
def test_langgraph_postgres_concurrent_runs(postgres_url: str) -> None:
    n, k = TINY.concurrent_sessions, TINY.concurrent_invocations
    result = asyncio.run(worker._lg_pg_concurrent(postgres_url, n, k))
    assert result["invocations_per_s"] > 0


def test_postgres_rows_in_the_table() -> None:
    ours5 = [{"seconds": 2.0, "invocations_per_s": 500.0, "rows": 3001, "ceiling_seconds": 1.5}]
    ours10 = [
        {
            "seconds": 4.0,
            "invocations_per_s": 500.0,
            "rows": 6050,
            "ceiling_seconds": 1.0,
            "saves_per_group": 9.5,
        }
    ]
    results = {
        "postgres": {
            "ours": {"runs": ours5},
            "langgraph/async": {"runs": [{"seconds": 12.0, "invocations_per_s": 80.0}]},
        },
        "pg_concurrent": {
            "ours": {"runs": ours10},
            "langgraph/async": {"runs": [{"invocations_per_s": 50.0}]},
        },
    }
    rows = build_rows(results, {}, Sizes())
    per_s = next(r for r in rows if r.measure.strip() == "invocations/s")  # workload 5's
    assert per_s.ratio == "6.2x" and per_s.met is True
    ceiling5 = next(r for r in rows if "one transaction per row" in r.measure)
    assert ceiling5.ratio_value == pytest.approx(0.75) and ceiling5.met is True
    ten = next(r for r in rows if r.number == 10)
    assert ten.ratio == "10.0x"
    ceiling10 = next(r for r in rows if "50 rows per transaction" in r.measure)
    assert ceiling10.ratio_value == pytest.approx(0.25) and ceiling10.met is False
    assert any("saves per group" in r.measure and r.ours == "9.5" for r in rows)
    assert "ours = 0.25 of ceiling" in format_table("t", rows)


def test_unknown_workload_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown workload"):
        worker.build("nope", "ours", "-", TINY)


def test_table_from_results() -> None:
    runs = [{"us_per_node_step": 20.0}, {"us_per_node_step": 30.0}, {"us_per_node_step": 25.0}]
    lg_runs = [{"us_per_node_step": 150.0}]
    sqlite_ours = [
        {
            "seconds": 2.0,
            "invocations_per_s": 500.0,
            "db_bytes": 1 << 20,
            "rows": 3001,
            "ceiling_seconds": 1.5,
        }
    ]
    sqlite_lg = [{"seconds": 10.0, "invocations_per_s": 100.0, "db_bytes": 8 << 20}]
    results = {
        "chain": {
            "ours": {"runs": runs},
            "langgraph/sync": {"runs": lg_runs},
            "langgraph/async": {"runs": []},
        },
        "sqlite": {"ours": {"runs": sqlite_ours}, "langgraph/sync": {"runs": sqlite_lg}},
        "studio": {"status": "not available yet", "lines": []},
        "events": {
            "ours": {"runs": [{"create_publish_per_s": 250_000.0, "memory_delivered_per_s": 90_000.0}]}
        },
    }
    rows = build_rows(results, {"postgres": "skipped: no server"}, Sizes())
    chain = rows[0]
    assert chain.ours_value == 25.0 and chain.langgraph_value == 150.0
    assert chain.ratio == "6.0x" and chain.met is True
    by_measure = {r.measure.strip(): r for r in rows}
    assert by_measure["invocations/s"].met is True  # 5x
    assert by_measure["database size"].ratio == "8.0x smaller"
    ceiling = next(r for r in rows if r.measure.strip().startswith("ceiling"))
    assert ceiling.met is True and ceiling.ratio_value == pytest.approx(2.0 / 1.5)
    events = next(r for r in rows if r.number == 6)
    assert events.met is True
    delivered = next(r for r in rows if "delivered through a MemorySink" in r.measure)
    assert delivered.met is False
    text = format_table("title", rows, ["launch 1.0 s"])
    assert "not available yet" in text and "skipped: no server" in text and "launch 1.0 s" in text
    json.dumps([r.to_json() for r in rows])
