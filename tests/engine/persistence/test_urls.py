"""C3: `DatabaseURL` parses once, carries the password separately and never shows it; `scrub` is the one
function that removes a password from text."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine import DatabaseURL as ExportedDatabaseURL
from engine.errors import StorageErrorKind
from engine.persistence import DatabaseURL, scrub
from engine.persistence.errors import InvalidCheckpointerUrl


def test_backends_and_paths() -> None:
    assert DatabaseURL is ExportedDatabaseURL
    assert DatabaseURL.parse("memory:").backend == "memory"
    rel = DatabaseURL.parse("sqlite://rel/a.db")
    assert (rel.backend, rel.path, str(rel)) == ("sqlite", "rel/a.db", "sqlite://rel/a.db")
    assert DatabaseURL.parse("sqlite:///abs/a.db").path == "/abs/a.db"
    mem = DatabaseURL.parse("sqlite::memory:")
    assert mem.backend == "sqlite" and mem.path is None and mem.is_memory
    opts = DatabaseURL.parse("sqlite://a.db?storage=full&snapshot_every=7")
    assert opts.path == "a.db" and opts.option("storage") == "full" and opts.option("snapshot_every") == "7"
    pg = DatabaseURL.parse("postgresql://bob@db.example:6543/runs")
    assert (pg.backend, pg.host, pg.port, pg.database, pg.user, pg.path) == (
        "postgres",
        "db.example",
        6543,
        "runs",
        "bob",
        None,
    )
    assert pg.target == "db.example:6543/runs" and pg.password is None


def test_password_is_carried_separately_and_never_shown() -> None:
    url = DatabaseURL.parse("postgresql://bob:s3cr%40t@h:5432/db?sslmode=disable")
    assert url.password == "s3cr@t"
    assert str(url) == url.redacted() == "postgresql://bob:***@h:5432/db?sslmode=disable"
    assert "s3cr" not in repr(url) and "s3cr" not in str(url)
    assert url.dsn() == "postgresql://bob:s3cr%40t@h:5432/db?sslmode=disable"
    param = DatabaseURL.parse("postgresql://bob@h/db?password=hunter2&application_name=x")
    assert param.password == "hunter2" and "hunter2" not in str(param)
    assert param.redacted() == "postgresql://bob:***@h/db?application_name=x"
    given_pw = DatabaseURL.parse("postgresql://bob@h/db", password="pw")
    assert given_pw.password == "pw" and given_pw.redacted() == "postgresql://bob:***@h/db"
    assert given_pw.with_password(None).redacted() == "postgresql://bob@h/db"
    assert given_pw.with_password("other").dsn() == "postgresql://bob:other@h/db"
    ours = DatabaseURL.parse("postgresql://bob:pw@h/db?storage=full")
    assert ours.option("storage") == "full" and ours.dsn() == "postgresql://bob:pw@h/db"


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("mysql://root:hunter2@h/db", "unsupported"),
        ("sqlite://", "names no file"),
        ("sqlite://a.db?bogus=1", "bogus"),
        ("sqlite://a.db?storage=weird", "storage"),
        ("sqlite://a.db?snapshot_every=0", "snapshot_every"),
        ("postgresql://bob:hunter2@h:notaport/db", "invalid PostgreSQL URL"),
    ],
)
def test_bad_urls_name_the_problem_without_the_password(text: str, needle: str) -> None:
    with pytest.raises(InvalidCheckpointerUrl) as info:
        DatabaseURL.parse(text)
    assert needle in str(info.value) and "hunter2" not in str(info.value)
    assert info.value.kind is StorageErrorKind.INVALID_URL


def test_scrub_removes_every_form_of_the_password() -> None:
    url = DatabaseURL.parse("postgresql://u:p%40ss@h/x")
    text = f"failed: {url.dsn()} said password p@ss (quoted p%40ss) is wrong; also postgresql://v:zz@k/y"
    out = scrub(text, url)
    assert "p@ss" not in out and "p%40ss" not in out and "zz" not in out
    assert "postgresql://u:***@h/x" in out and "postgresql://v:***@k/y" in out
    assert scrub("nothing secret here", url) == "nothing secret here"


@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=20))
def test_no_password_survives_str_repr_or_scrub(password: str) -> None:
    url = DatabaseURL.parse("postgresql://user@host:5432/db", password=password)
    assert str(url) == "postgresql://user:***@host:5432/db"
    assert DatabaseURL.parse(url.dsn()).password == password, "the DSN round-trips"
    message = f"error for {url.dsn()}"
    assert url.dsn() not in scrub(message, url)


def test_scrub_stays_linear_on_huge_text() -> None:
    """A fuzzed document echoed in a message can hold a megabyte of letters: scrubbing must not backtrack
    quadratically (it hung `weavegraph validate` once). Quadratic here would run for hours, not seconds."""
    huge = "a" * 1_000_000 + " postgresql://u:pw-1@h/db " + "b://" * 10_000 + "c" * 1_000_000
    out = scrub(huge, "postgresql://u:pw-1@h/db")
    assert "pw-1" not in out and "postgresql://u:***@h/db" in out
