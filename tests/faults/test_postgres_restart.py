"""PostgreSQL stopped mid-run and started again (C7), on a server of this module's own (tests/pgserver.py),
so stopping it disturbs no other test: `weavegraph run` prints exactly one line on stderr, naming the server
and the session (no "Future exception was never retrieved", no pool warnings, no traceback, no password),
exits 1, and after the restart the same command resumes the session and completes it with the reference
state; every saved step equals the reference run's. With `--debug` the traceback is shown."""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.persistence.factory import open_checkpointer
from engine.persistence.serde import state_to_json
from tests.faults.helpers import (
    SESSION,
    cli_command,
    cli_env,
    loop_document,
    reference_states,
    run_cli,
    saved_states,
    write_document,
)
from tests.pgserver import PostgresServer

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

LIMIT = 40


@pytest.fixture(scope="module")
def own_server() -> Iterator[PostgresServer]:
    server = PostgresServer()
    reason = server.unavailable_reason()
    if reason:
        pytest.skip(reason)
    if server.external_url:
        pytest.skip("WEAVEGRAPH_POSTGRES_TEST_URL names a server this test must not stop")
    server.start()
    try:
        yield server
    finally:
        server.cleanup()


def _stop_mid_run(
    server: PostgresServer, doc: Path, url: str, session: str, folder: Path, *extra: str
) -> str:
    """Run the document, stop the server (immediate: like a crash) once 15 steps are saved; the stderr."""
    events = folder / f"{session}.jsonl"
    proc = subprocess.Popen(
        cli_command("run", str(doc), "--db", url, "--session", session, "--events", str(events), *extra),
        cwd=folder,
        env=cli_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            if events.exists() and events.read_bytes().count(b'"checkpoint.saved"') >= 15:
                break
            time.sleep(0.005)
        assert proc.poll() is None, "the run ended before the server was stopped"
        server.stop("immediate")
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
        if not server.running:
            server.restart_later()
    assert proc.returncode == 1, (proc.returncode, out, err)
    assert out == ""
    return err


def test_postgres_stopped_mid_run_is_one_line_and_the_session_resumes(
    own_server: PostgresServer, tmp_path: Path
) -> None:
    data = loop_document(limit=LIMIT, delay_ms=25)
    doc = write_document(tmp_path / "slow-loop.wgraph.json", data)
    reference = asyncio.run(reference_states(data, tmp_path))
    url = own_server.create_database()
    database = urllib.parse.urlsplit(url).path.lstrip("/")
    expected = (
        f"connection to PostgreSQL at {own_server.host}:{own_server.port}/{database} "
        f"was lost while saving session '{SESSION}'"
    )

    err = _stop_mid_run(own_server, doc, url, SESSION, tmp_path)
    lines = err.strip().splitlines()
    assert own_server.password not in err
    assert len(lines) == 1, f"expected one line on stderr, got {len(lines)}:\n{err}"
    # C7's form is "error: connection to PostgreSQL at ..."; the CLI puts "weavegraph: " before its errors
    assert lines[0].startswith(("error: ", "weavegraph: error: ", "weavegraph: ")), lines[0]
    assert expected in lines[0], lines[0]
    assert "Future exception" not in err and "Traceback" not in err

    resumed = run_cli("run", str(doc), "--db", url, "--session", SESSION, "--json", cwd=tmp_path)
    assert resumed.code == 0, resumed.err
    assert json.loads(resumed.out)["state"] == state_to_json(reference[-1])

    async def stored() -> None:
        storage = await open_checkpointer(url)
        try:
            assert await saved_states(storage, SESSION) == reference
        finally:
            await storage.aclose()

    asyncio.run(stored())


def test_postgres_stopped_mid_run_with_debug_shows_the_traceback(
    own_server: PostgresServer, tmp_path: Path
) -> None:
    doc = write_document(tmp_path / "slow-loop.wgraph.json", loop_document(limit=LIMIT, delay_ms=25))
    url = own_server.create_database()
    err = _stop_mid_run(own_server, doc, url, "debugged", tmp_path, "--debug")
    assert "Traceback (most recent call last)" in err
    last = err.strip().splitlines()[-1]
    assert "PostgreSQL at" in last and "session 'debugged'" in last, last
    assert own_server.password not in err
