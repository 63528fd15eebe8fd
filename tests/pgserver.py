"""A throwaway PostgreSQL server for tests: initdb + pg_ctl in a temp dir, on a free loopback port.

`WEAVEGRAPH_POSTGRES_TEST_URL` (an existing server) is used instead when set. As root the server runs as the
`postgres` user (PostgreSQL refuses to run as root). Host connections need the password `PASSWORD`, so wrong
passwords can be tested.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import uuid

PASSWORD = "pw-Secr3t-xyzzy"

# Run detached beside the server: when the test process dies without its teardown (killed, timed out), stop
# the server and remove its directory, so no server outlives the run that started it.
_WATCHDOG = """
import os, shutil, subprocess, sys, time
parent, stop_cmd, tmp = int(sys.argv[1]), sys.argv[2:-1], sys.argv[-1]
while True:
    try:
        os.kill(parent, 0)
    except ProcessLookupError:
        break
    if not os.path.isdir(tmp):
        sys.exit(0)
    time.sleep(1.0)
if os.path.isdir(tmp):
    subprocess.run(stop_cmd, capture_output=True)
    shutil.rmtree(tmp, ignore_errors=True)
"""
USER = "postgres"


def find_bin_dir() -> str | None:
    """The newest Debian-layout PostgreSQL bin directory with initdb and pg_ctl, or one on PATH."""
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin"),
        key=lambda p: int(p.split("/")[-2].split(".")[0]),
        reverse=True,
    )
    for directory in candidates:
        if os.path.exists(os.path.join(directory, "initdb")) and os.path.exists(
            os.path.join(directory, "pg_ctl")
        ):
            return directory
    initdb = shutil.which("initdb")
    return os.path.dirname(initdb) if initdb else None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PostgresServer:
    """Start with `start()`, stop with `stop()`; `url(database)` gives a URL with the password."""

    def __init__(self) -> None:
        self.external_url = os.environ.get("WEAVEGRAPH_POSTGRES_TEST_URL")
        self.bin_dir = find_bin_dir()
        self.port = 0
        self.host = "127.0.0.1"
        self.user = USER
        self.password = PASSWORD
        self.data_dir = ""
        self._tmp = ""
        self.running = False
        self._watchdog: subprocess.Popen[bytes] | None = None
        if self.external_url:
            parts = urllib.parse.urlsplit(self.external_url)
            self.host = parts.hostname or "localhost"
            self.port = parts.port or 5432
            self.user = urllib.parse.unquote(parts.username or "postgres")
            self.password = urllib.parse.unquote(parts.password or "")

    def unavailable_reason(self) -> str | None:
        if self.external_url:
            return None
        if self.bin_dir is None:
            return "no PostgreSQL server binaries (initdb, pg_ctl) and WEAVEGRAPH_POSTGRES_TEST_URL is unset"
        if os.geteuid() == 0:
            try:
                pwd.getpwnam("postgres")
            except KeyError:
                return "running as root without a 'postgres' user to run the test server"
        return None

    def _cmd(self, *args: str) -> list[str]:
        assert self.bin_dir is not None
        cmd = [os.path.join(self.bin_dir, args[0]), *args[1:]]
        if os.geteuid() == 0:
            return ["runuser", "-u", "postgres", "--", *cmd]
        return cmd

    def url(self, database: str = "postgres", password: str | None = None) -> str:
        pw = self.password if password is None else password
        auth = (
            f"{urllib.parse.quote(self.user)}:{urllib.parse.quote(pw, safe='')}@" if pw else f"{self.user}@"
        )
        return f"postgresql://{auth}{self.host}:{self.port}/{database}"

    def start(self) -> None:
        if self.external_url:
            self.running = True
            return
        self._tmp = tempfile.mkdtemp(prefix="weavegraph-pg-")
        self.data_dir = os.path.join(self._tmp, "data")
        pwfile = os.path.join(self._tmp, "pw")
        with open(pwfile, "w") as fh:
            fh.write(self.password + "\n")
        if os.geteuid() == 0:
            entry = pwd.getpwnam("postgres")
            for path in (self._tmp, pwfile):
                os.chown(path, entry.pw_uid, entry.pw_gid)
        subprocess.run(
            self._cmd(
                "initdb",
                "-D",
                self.data_dir,
                "-U",
                USER,
                "--pwfile",
                pwfile,
                "-A",
                "scram-sha-256",
                "--auth-local=trust",
                "--no-sync",
                "-E",
                "UTF8",
                "--locale=C",
            ),
            check=True,
            capture_output=True,
        )
        self.port = free_port()
        self._pg_ctl_start()
        stop = self._cmd("pg_ctl", "-D", self.data_dir, "-m", "immediate", "-w", "stop")
        self._watchdog = subprocess.Popen(
            [sys.executable, "-c", _WATCHDOG, str(os.getpid()), *stop, self._tmp],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )

    def _pg_ctl_start(self) -> None:
        options = (
            f"-p {self.port} -k {self._tmp} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=60"
        )
        subprocess.run(
            self._cmd(
                "pg_ctl",
                "-D",
                self.data_dir,
                "-o",
                options,
                "-l",
                os.path.join(self._tmp, "log"),
                "-w",
                "-t",
                "60",
                "start",
            ),
            check=True,
            capture_output=True,
        )
        self.running = True

    def stop(self, mode: str = "fast") -> None:
        if self.external_url or not self.running:
            return
        subprocess.run(
            self._cmd("pg_ctl", "-D", self.data_dir, "-m", mode, "-w", "stop"), capture_output=True
        )
        self.running = False

    def restart_later(self) -> None:
        """Start again after `stop()`, on the same port."""
        self._pg_ctl_start()

    def cleanup(self) -> None:
        self.stop("immediate")
        if self._tmp:
            shutil.rmtree(self._tmp, ignore_errors=True)
        if self._watchdog is not None:
            self._watchdog.kill()
            self._watchdog.wait()
            self._watchdog = None

    def create_database(self) -> str:
        """A fresh, empty database; returns its URL."""
        name = "t_" + uuid.uuid4().hex[:12]
        self._admin(f"CREATE DATABASE {name}")
        return self.url(name)

    def drop_database(self, url: str) -> None:
        name = urllib.parse.urlsplit(url).path.lstrip("/")
        self._admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    def _admin(self, sql: str) -> None:
        """Run one statement on the `postgres` database, on a private thread and event loop."""
        import asyncio
        import threading

        import asyncpg

        errors: list[BaseException] = []

        async def run() -> None:
            conn = await asyncpg.connect(self.url("postgres"))
            try:
                await conn.execute(sql)
            finally:
                await conn.close()

        def worker() -> None:
            for attempt in range(3):
                try:
                    asyncio.run(run())
                    return
                except Exception as exc:
                    if attempt == 2:
                        errors.append(exc)
                    time.sleep(0.5)

        thread = threading.Thread(target=worker)
        thread.start()
        thread.join()
        if errors:
            raise errors[0]
