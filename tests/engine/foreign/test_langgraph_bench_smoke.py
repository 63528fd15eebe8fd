"""Smoke test of bench/langgraph_db.py at a tiny size (not a measurement): the database builds from a real
LangGraph run plus SQL copies that LangGraph's own saver loads, and every figure is produced."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from langgraph.checkpoint.sqlite import SqliteSaver

from bench import langgraph_db


def test_build_and_measure_tiny(tmp_path: Path) -> None:
    path = tmp_path / "tiny.db"
    facts = langgraph_db.build_database(path, 200, template=10)
    assert facts["checkpoints"] >= 200 and facts["threads"] == -(-200 // facts["per_thread"])
    conn = sqlite3.connect(path, check_same_thread=False)
    try:
        saver = SqliteSaver(conn)
        copy = saver.get_tuple({"configurable": {"thread_id": "thread-000003"}})
        original = saver.get_tuple({"configurable": {"thread_id": "template"}})
        assert copy is not None and original is not None
        assert copy.checkpoint["channel_values"] == original.checkpoint["channel_values"]
    finally:
        conn.close()
    result = langgraph_db.run(0, 1, keep=str(path))
    assert set(result["medians"]) == set(langgraph_db.TARGETS)
    assert result["analytics_checkpoints"] == facts["checkpoints"] and result["prune_10_checkpoints"] > 0
    assert len(langgraph_db.lines(result)) == 6
