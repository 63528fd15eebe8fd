"""Checkpointer URL helpers: redaction (passwords never leave this module in clear) and Postgres targets."""

from __future__ import annotations

import re
import urllib.parse

_USERINFO = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<user>[^:/@?#]*):(?P<pw>[^@/?#]*)@")
_PASSWORD_PARAM = re.compile(r"(?P<key>(?:^|[?&;\s])password=)(?P<pw>[^&;\s]*)", re.IGNORECASE)


def redact_url(url: str) -> str:
    """The URL with any password (in the user info or a `password=` parameter) replaced by ***."""
    out = _USERINFO.sub(lambda m: f"{m['scheme']}{m['user']}:***@", url)
    return _PASSWORD_PARAM.sub(lambda m: f"{m['key']}***", out)


def url_password(url: str) -> str | None:
    """The password a URL carries, if any (to scrub it from driver messages)."""
    match = _USERINFO.search(url)
    if match and match["pw"]:
        return urllib.parse.unquote(match["pw"])
    param = _PASSWORD_PARAM.search(url)
    if param and param["pw"]:
        return urllib.parse.unquote(param["pw"])
    return None


def scrub(text: str, secret: str | None) -> str:
    """`text` with `secret` (and its URL-quoted form) replaced by ***.

    A secret is replaced where it stands on its own (not inside a longer word), so a short password such as
    "p" never mangles the rest of a message ("weavegraph" stays whole) while "password p was rejected" and
    "postgresql://u:p@host" both lose it.
    """
    if not secret:
        return text
    for form in {secret, urllib.parse.quote(secret, safe="")}:
        text = re.sub(rf"(?<![A-Za-z0-9]){re.escape(form)}(?![A-Za-z0-9])", "***", text)
    return text


def postgres_target(url: str) -> tuple[str, str]:
    """("host:port/database", user) for messages; never the password."""
    try:
        parts = urllib.parse.urlsplit(url)
        host = parts.hostname or "localhost"
        port = parts.port or 5432
        user = urllib.parse.unquote(parts.username or "")
    except ValueError:
        return redact_url(url), ""
    database = parts.path.lstrip("/") or user or "postgres"
    return f"{host}:{port}/{database}", user
