"""Database URLs: `DatabaseURL` (parse once; the password travels separately and never appears in `str`/
`repr`), and `scrub`, the one function that removes a password from arbitrary text."""

from __future__ import annotations

import re
import urllib.parse
from dataclasses import dataclass, field, replace
from typing import Literal

from engine.persistence.compact import STORAGE_MODES
from engine.persistence.errors import InvalidCheckpointerUrl

Backend = Literal["memory", "sqlite", "postgres"]

MEMORY_URLS = ("memory:", "memory://", "memory")
SQLITE_MEMORY_URLS = ("sqlite::memory:", "sqlite://:memory:", "sqlite:///:memory:")
OUR_OPTIONS = ("storage", "snapshot_every", "group_commit", "synchronous")
"""Query options the engine reads itself (never passed to a driver)."""

# The scheme starts where a run of scheme characters starts (look-behind) and is at most 32 long, so a huge
# run of letters is scanned once, not once per position (a 1 MB string in a message stays linear).
_USERINFO = re.compile(
    r"(?P<scheme>(?<![a-zA-Z0-9+.-])[a-zA-Z][a-zA-Z0-9+.-]{0,31}://)(?P<user>[^:/@?#\s]*):(?P<pw>[^@/?#\s]*)@"
)
_PASSWORD_PARAM = re.compile(r"(?P<key>(?:^|[?&;\s])password=)(?P<pw>[^&;\s]*)", re.IGNORECASE)
_HINT = "use memory:, sqlite://relative.db, sqlite:///absolute/path.db, sqlite::memory: or postgresql://..."


@dataclass(frozen=True, slots=True)
class DatabaseURL:
    """A parsed checkpoint database URL. Build with `DatabaseURL.parse(text, password=None)`.

    `str(url)` and `url.redacted()` never hold the password (`postgresql://user:***@host/db` when there is
    one); `url.dsn()` is the full text for the driver only.
    """

    backend: Backend
    path: str | None
    """The SQLite file path (relative as given); None for memory, `sqlite::memory:` and Postgres."""
    _base: str = field(repr=False)
    """The URL text without any password."""
    password: str | None = field(default=None, repr=False)
    user: str | None = None
    host: str | None = None
    port: int | None = None
    database: str | None = None
    options: tuple[tuple[str, str], ...] = ()
    """Query parameters, in order (`storage`, `snapshot_every` and, for Postgres, driver parameters)."""

    @classmethod
    def parse(cls, text: str | DatabaseURL, password: str | None = None) -> DatabaseURL:
        """Parse a URL; a password in the text is taken out of it (an explicit `password` wins).

        Raises `InvalidCheckpointerUrl` naming the problem (the message never holds the password)."""
        if isinstance(text, DatabaseURL):
            return text if password is None else text.with_password(password)
        if not isinstance(text, str) or not text.strip():
            raise InvalidCheckpointerUrl(f"empty checkpointer URL ({_HINT})")
        text = text.strip()
        if text in MEMORY_URLS:
            return cls("memory", None, "memory:")
        if text.startswith("sqlite:"):
            return _parse_sqlite(text)
        if text.startswith(("postgresql://", "postgres://")):
            return _parse_postgres(text, password)
        scheme = text.split(":", 1)[0] if ":" in text else text
        raise InvalidCheckpointerUrl(
            f"unsupported checkpointer URL scheme '{redact_url(scheme)}' in '{redact_url(text)}'; {_HINT}"
        )

    def __str__(self) -> str:
        return self.redacted()

    @property
    def is_memory(self) -> bool:
        """True for `memory:` and `sqlite::memory:` (nothing outlives the process)."""
        return self.backend == "memory" or (self.backend == "sqlite" and self.path is None)

    @property
    def target(self) -> str:
        """What messages name: "host:port/database" for Postgres, the file for SQLite."""
        if self.backend == "postgres":
            return f"{self.host}:{self.port or 5432}/{self.database}"
        if self.backend == "sqlite":
            return self.path or ":memory:"
        return "memory:"

    def option(self, name: str) -> str | None:
        for key, value in self.options:
            if key == name:
                return value
        return None

    def redacted(self) -> str:
        """The URL as shown to people: `user:***@` when a password is set."""
        return self._with_userinfo("***") if self.password else self._base

    def with_password(self, password: str | None) -> DatabaseURL:
        return replace(self, password=password or None)

    def dsn(self) -> str:
        """The full URL with the password, without the engine's own options: for the driver only."""
        if self.backend != "postgres":
            return self._base
        secret = urllib.parse.quote(self.password, safe="") if self.password else None
        full = self._with_userinfo(secret) if secret else self._base
        base = full.partition("?")[0]
        rest = [(k, v) for k, v in self.options if k not in OUR_OPTIONS]
        return f"{base}?{urllib.parse.urlencode(rest)}" if rest else base

    def _with_userinfo(self, secret: str) -> str:
        scheme, rest = self._base.split("://", 1)
        netloc_end = len(rest)
        for sep in "/?#":
            idx = rest.find(sep)
            if idx != -1:
                netloc_end = min(netloc_end, idx)
        netloc, tail = rest[:netloc_end], rest[netloc_end:]
        user, at, hostport = netloc.rpartition("@")
        if not at:
            user, hostport = "", netloc
        return f"{scheme}://{user}:{secret}@{hostport}{tail}"


def _parse_sqlite(text: str) -> DatabaseURL:
    base, _, query = text.partition("?")
    options = tuple(urllib.parse.parse_qsl(query, keep_blank_values=True)) if query else ()
    unknown = sorted({k for k, _ in options} - set(OUR_OPTIONS))
    if unknown:
        raise InvalidCheckpointerUrl(
            f"unknown option(s) {', '.join(unknown)} in SQLite URL '{text}' ({', '.join(OUR_OPTIONS)})"
        )
    _check_options(options, text)
    if base in SQLITE_MEMORY_URLS:
        return DatabaseURL("sqlite", None, text, options=options)
    if not base.startswith("sqlite://"):
        raise InvalidCheckpointerUrl(
            f"not an SQLite URL: '{text}' (use sqlite://relative.db, sqlite:///absolute/path.db "
            "or sqlite::memory:)"
        )
    path = base[len("sqlite://") :]
    if not path:
        raise InvalidCheckpointerUrl(f"SQLite URL '{text}' names no file (example: sqlite://weavegraph.db)")
    return DatabaseURL("sqlite", path, text, options=options)


def _check_options(options: tuple[tuple[str, str], ...], text: str) -> None:
    for key, value in options:
        if key == "storage" and value not in STORAGE_MODES:
            raise InvalidCheckpointerUrl(f"storage must be compact or full in '{redact_url(text)}'")
        if key == "snapshot_every" and (not value.isdigit() or int(value) < 1):
            raise InvalidCheckpointerUrl(f"snapshot_every must be a positive integer in '{redact_url(text)}'")
        if key == "group_commit" and value.lower() not in (
            "on",
            "off",
            "true",
            "false",
            "1",
            "0",
            "yes",
            "no",
        ):
            raise InvalidCheckpointerUrl(f"group_commit must be on or off in '{redact_url(text)}'")
        if key == "synchronous" and value.lower() not in ("normal", "full"):
            raise InvalidCheckpointerUrl(f"synchronous must be normal or full in '{redact_url(text)}'")


def _parse_postgres(text: str, password: str | None) -> DatabaseURL:
    shown = redact_url(text)
    try:
        parts = urllib.parse.urlsplit(text)
        port = parts.port
    except ValueError as exc:
        raise InvalidCheckpointerUrl(f"invalid PostgreSQL URL '{shown}': {scrub(str(exc), None)}") from None
    in_text = urllib.parse.unquote(parts.password) if parts.password is not None else None
    pairs = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
    options = tuple((k, v) for k, v in pairs if k.lower() != "password")
    param = next((v for k, v in pairs if k.lower() == "password"), None)
    _check_options(options, text)
    user = urllib.parse.unquote(parts.username) if parts.username else None
    host = parts.hostname or "localhost"
    hostport = parts.netloc.rpartition("@")[2]
    userinfo = f"{urllib.parse.quote(user, safe='')}@" if user else ""
    query = f"?{urllib.parse.urlencode(options)}" if options else ""
    base = f"{parts.scheme}://{userinfo}{hostport}{parts.path}{query}"
    database = parts.path.lstrip("/") or user or "postgres"
    secret = password if password is not None else (in_text or param or None)
    return DatabaseURL("postgres", None, base, secret, user, host, port or 5432, database, options)


def scrub(text: str, url: DatabaseURL | str | None = None) -> str:
    """`text` without any password: `url`'s password (raw and URL-quoted) and its full DSN, plus any
    `scheme://user:password@` or `password=` found in the text. The one scrubber everyone calls.

    A password is replaced where it stands on its own (not inside a longer word), so a short password such as
    "p" never mangles the rest of a message ("weavegraph" stays whole).
    """
    secret: str | None = None
    if isinstance(url, DatabaseURL):
        secret = url.password
        if secret:
            text = text.replace(url.dsn(), url.redacted())
    elif isinstance(url, str):
        secret = url_password(url)
        if secret:
            text = text.replace(url, redact_url(url))
    text = redact_url(text)
    if secret:
        for form in {secret, urllib.parse.quote(secret, safe="")}:
            text = re.sub(rf"(?<![A-Za-z0-9]){re.escape(form)}(?![A-Za-z0-9])", "***", text)
    return text


def redact_url(text: str) -> str:
    """`text` with any password (in a URL's user info or a `password=` parameter) replaced by ***.
    Kept for callers holding plain text; `DatabaseURL.parse(text).redacted()` is the typed way."""
    out = _USERINFO.sub(lambda m: f"{m['scheme']}{m['user']}:***@", text)
    return _PASSWORD_PARAM.sub(lambda m: f"{m['key']}***", out)


def url_password(text: str) -> str | None:
    """The password a URL text carries, if any."""
    match = _USERINFO.search(text)
    if match and match["pw"]:
        return urllib.parse.unquote(match["pw"])
    param = _PASSWORD_PARAM.search(text)
    if param and param["pw"]:
        return urllib.parse.unquote(param["pw"])
    return None
