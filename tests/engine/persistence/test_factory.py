"""URL resolution (env, explicit name, .env), redaction, and opening checkpointers by URL."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.persistence.base import CheckpointerType
from engine.persistence.errors import InvalidCheckpointerUrl
from engine.persistence.factory import migrate, open_checkpointer, redact_url, resolve_url
from engine.persistence.memory import InMemoryCheckpointer
from engine.persistence.sqlite import SQLiteCheckpointer, parse_sqlite_url

ENV_VARS = ("WEAVEGRAPH_SQLITE_URL", "SQLITE_DB_NAME", "WEAVEGRAPH_POSTGRES_URL", "DATABASE_URL")


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    for var in ENV_VARS:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(tmp_path)
    return monkeypatch


def test_sqlite_precedence(clean_env: pytest.MonkeyPatch) -> None:
    assert resolve_url(CheckpointerType.SQLITE) == "sqlite://weavegraph.db"
    clean_env.setenv("SQLITE_DB_NAME", "env.db")
    assert resolve_url(CheckpointerType.SQLITE) == "sqlite://env.db"
    assert resolve_url(CheckpointerType.SQLITE, "explicit.db") == "sqlite://explicit.db"
    assert resolve_url(CheckpointerType.SQLITE, "sqlite:///abs/x.db") == "sqlite:///abs/x.db"
    clean_env.setenv("WEAVEGRAPH_SQLITE_URL", "sqlite:///var/wg.db")
    assert resolve_url(CheckpointerType.SQLITE, "explicit.db") == "sqlite:///var/wg.db"
    assert resolve_url(CheckpointerType.IN_MEMORY) == "memory:"


def test_postgres_precedence(clean_env: pytest.MonkeyPatch) -> None:
    assert resolve_url(CheckpointerType.POSTGRES) == "postgresql://localhost/weavegraph"
    clean_env.setenv("DATABASE_URL", "postgresql://db/b")
    assert resolve_url(CheckpointerType.POSTGRES) == "postgresql://db/b"
    clean_env.setenv("WEAVEGRAPH_POSTGRES_URL", "postgresql://db/a")
    assert resolve_url(CheckpointerType.POSTGRES) == "postgresql://db/a"


def test_dotenv_is_loaded_without_overriding(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("SQLITE_DB_NAME=from-dotenv.db\nDATABASE_URL=postgresql://dotenv/x\n")
    clean_env.setenv("DATABASE_URL", "postgresql://real/x")
    assert resolve_url(CheckpointerType.SQLITE) == "sqlite://from-dotenv.db"
    assert resolve_url(CheckpointerType.POSTGRES) == "postgresql://real/x"


def test_redact_url() -> None:
    assert redact_url("postgresql://bob:s3cr%40t@h:5432/db") == "postgresql://bob:***@h:5432/db"
    assert redact_url("postgresql://h/db?user=x&password=hunter2") == "postgresql://h/db?user=x&password=***"
    assert redact_url("postgresql://bob@h/db") == "postgresql://bob@h/db"
    assert redact_url("sqlite:///tmp/a.db") == "sqlite:///tmp/a.db"


def test_parse_sqlite_url() -> None:
    assert parse_sqlite_url("sqlite://rel/a.db") == "rel/a.db"
    assert parse_sqlite_url("sqlite:///abs/a.db") == "/abs/a.db"
    assert parse_sqlite_url("sqlite::memory:") == ":memory:"
    with pytest.raises(InvalidCheckpointerUrl, match="names no file"):
        parse_sqlite_url("sqlite://")


@pytest.mark.parametrize(
    "url", ["", "mysql://root:pw@localhost/db", "redis://x", "weavegraph.db", "sqlite:relative.db"]
)
async def test_wrong_urls(url: str) -> None:
    with pytest.raises(InvalidCheckpointerUrl) as info:
        await open_checkpointer(url)
    assert "pw@" not in str(info.value)


async def test_open_by_url(tmp_path: Path, clean_env: pytest.MonkeyPatch) -> None:
    assert isinstance(await open_checkpointer("memory:"), InMemoryCheckpointer)
    cp = await open_checkpointer("sqlite://rel.db")
    try:
        assert isinstance(cp, SQLiteCheckpointer) and (tmp_path / "rel.db").exists()
    finally:
        await cp.aclose()
    cp = await open_checkpointer("sqlite::memory:")
    await cp.aclose()
    assert (await migrate(f"sqlite://{tmp_path / 'm.db'}"))[0] == "0001_weavegraph_init"
    assert await migrate(f"sqlite://{tmp_path / 'm.db'}") == []


def test_scrub_hides_a_password_without_mangling_the_message() -> None:
    from engine.persistence.urls import DatabaseURL, scrub

    text = "weavegraph: cannot open postgresql://u:p@host/x: password p was rejected for pass"
    url = DatabaseURL.parse("postgresql://u:p@host/x")
    assert (
        scrub(text, url)
        == "weavegraph: cannot open postgresql://u:***@host/x: password *** was rejected for pass"
    )
    assert scrub(text, "postgresql://u:p@host/x") == scrub(text, url)  # URL text works as well
    other = DatabaseURL.parse("postgresql://u@h/x", password="p@ss")
    assert scrub("url postgresql://u:p%40ss@h/x, raw p@ss", other) == "url postgresql://u:***@h/x, raw ***"
    assert scrub("nothing secret here", None) == "nothing secret here"


def test_cli_never_prints_even_a_one_letter_password(capsys) -> None:  # type: ignore[no-untyped-def]
    from engine.cli import main

    code = main(["stats", "--db", "postgresql://u:p@127.0.0.1:1/x"])
    err = capsys.readouterr().err
    assert code != 0
    assert "weavegraph: cannot open postgresql://u:***@127.0.0.1:1/x" in err
    assert ":p@" not in err
