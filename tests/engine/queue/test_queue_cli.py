"""`weavegraph worker`, `submit`, `jobs` and `cancel` against the suite's real PostgreSQL server."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from engine import QueueClient, Worker
from engine.cli import main
from tests.engine.queue.test_queue import queue_url, served  # noqa: F401 (fixtures)

pytestmark = pytest.mark.postgres


async def stored_events(url: str, session_id: str) -> list[Any]:
    from engine import open_checkpointer

    cp: Any = await open_checkpointer(url)
    try:
        return list(await cp.events(session_id))
    finally:
        await cp.aclose()


def main_(*argv: str) -> int:
    """In the main thread: the worker installs signal handlers."""
    return main(list(argv))


async def cli(*argv: str) -> int:
    return await asyncio.to_thread(main, list(argv))


async def test_submit_wait_events_jobs_cancel(
    served: tuple[Worker, QueueClient],  # noqa: F811
    queue_url: str,  # noqa: F811
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    events = tmp_path / "events.jsonl"
    code = await cli(
        "submit",
        "chain",
        "--db",
        queue_url,
        "--session",
        "cli-1",
        "--input",
        '{"extra": {"sleep": 0.05}}',
        "--events",
        str(events),
    )
    out = capsys.readouterr()
    assert code == 0, out.err
    assert "job 1 (chain, session cli-1) completed at step 3" in out.out
    # The remote session's events, live, each once and in order: exactly what the worker stored.
    lines = events.read_text().splitlines()
    stored = await stored_events(queue_url, "cli-1")
    assert lines == [e.to_json_string() for e in stored] and len(lines) > 10
    scopes = [json.loads(line)["scope"] for line in lines]
    assert scopes.count("step.end") == 3 and scopes.count("node.start") == 3
    assert await cli("submit", "nobody", "--db", queue_url, "--json") == 0
    queued = json.loads(capsys.readouterr().out)
    assert queued["status"] == "queued" and queued["graph_name"] == "nobody"
    assert await cli("jobs", "--db", queue_url, "--json") == 0
    listed = json.loads(capsys.readouterr().out)
    assert [(j["id"], j["status"]) for j in listed] == [(queued["id"], "queued"), (1, "completed")]
    assert await cli("cancel", str(queued["id"]), "--db", queue_url) == 0
    assert "cancelled (cancelled before it ran)" in capsys.readouterr().out
    assert await cli("jobs", "--db", queue_url, "--status", "cancelled") == 0
    assert "nobody" in capsys.readouterr().out
    # A bad --input is refused before anything is queued (the worker checks a job's input again).
    assert await cli("submit", "chain", "--db", queue_url, "--input", '{"extra": 3}', "--wait") == 2
    assert "--input: $.extra: expected object, got number" in capsys.readouterr().err
    assert len(await served[1].jobs()) == 2


def test_worker_bad_input_is_one_line(
    postgres_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    graph = "tests.engine.queue.graphs:chain"
    assert main_("worker", graph, "--db", f"sqlite://{tmp_path}/q.db") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "queue mode needs a PostgreSQL database" in err[0]
    assert main_("worker", graph, "--db", "postgresql://nobody@127.0.0.1:1/none") == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "cannot connect to postgresql://nobody@127.0.0.1:1/none" in err[0]
    assert main_("worker", graph, "--db", postgres_url) == 1
    err = capsys.readouterr().err
    assert "run `weavegraph migrate" in err and "pw-Secr3t" not in err
    assert main_("worker", "no_such_module_xyz:app", "--db", postgres_url) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert "skipping no_such_module_xyz:app" in err[0] and "ModuleNotFoundError" in err[0]
    assert err[1] == "weavegraph: worker: no graph to serve (give documents or module:attr names)"
    assert main_("submit", "chain", "--db", f"sqlite://{tmp_path}/q.db") == 1
    assert "needs a PostgreSQL database" in capsys.readouterr().err
