"""A PostgreSQL server for workloads 5 and 10, started the way the test suite does (`tests/pgserver.py`) but
durable: `fsync` and `synchronous_commit` on (the test server turns them off for speed), so a commit waits
for its WAL flush as in production.

`WEAVEGRAPH_POSTGRES_TEST_URL` (an existing server) is honoured; otherwise a throwaway server is started
with initdb/pg_ctl when the binaries exist. Children reach it through that same variable.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
ENV = "WEAVEGRAPH_POSTGRES_TEST_URL"


def _pgserver() -> ModuleType:
    path = ROOT / "tests" / "pgserver.py"
    if not path.exists():
        raise RuntimeError(f"{path} is missing")
    spec = importlib.util.spec_from_file_location("weavegraph_bench_pgserver", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


DURABLE = "-c fsync=on -c synchronous_commit=on -c full_page_writes=on"


def _durable(server: Any) -> Any:
    """Make `server` start with durable commits (its own options put `fsync=off` and the like first; later
    `-c` settings win)."""
    start = server._pg_ctl_start

    def durable_start() -> None:
        run = server._cmd

        def cmd(*args: str) -> list[str]:
            if args and args[0] == "pg_ctl" and "-o" in args:
                i = args.index("-o") + 1
                args = (*args[:i], f"{args[i]} {DURABLE}", *args[i + 1 :])
            return list(run(*args))

        server._cmd = cmd
        try:
            start()
        finally:
            server._cmd = run

    server._pg_ctl_start = durable_start
    return server


def start_server() -> tuple[Any, str | None]:
    """(server, None) with the server running and `ENV` set for children, or (None, why not)."""
    try:
        server = _durable(_pgserver().PostgresServer())
    except Exception as exc:
        return None, f"cannot load tests/pgserver.py: {exc}"
    reason = server.unavailable_reason()
    if reason is not None:
        return None, reason
    try:
        server.start()
    except Exception as exc:
        server.cleanup()
        return None, f"starting PostgreSQL failed: {exc}"
    os.environ[ENV] = server.url("postgres")
    return server, None


def _external() -> Any:
    if not os.environ.get(ENV):
        raise RuntimeError(f"{ENV} is not set; the parent starts the server")
    return _pgserver().PostgresServer()


def fresh_database() -> str:
    """A new, empty database on the server in `ENV`; returns its URL."""
    return str(_external().create_database())


def drop_database(url: str) -> None:
    _external().drop_database(url)
