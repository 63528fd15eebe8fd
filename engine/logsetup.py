"""Engine logging: the "engine" logger tree, and `WEAVEGRAPH_LOG` directives in the style of RUST_LOG.

As a library the engine only installs a `NullHandler` on "engine". Applications opt in with
`configure_logging()`, which reads directives like "debug", "error,engine.runtimes=debug" or
"engine.persistence=warn" and sends the selected records to stderr.
"""

from __future__ import annotations

import logging
import os
import sys
from dataclasses import dataclass, field
from typing import IO

from engine.errors import EngineError

__all__ = [
    "ENV_VAR",
    "TRACE",
    "LogDirectives",
    "LoggingConfigError",
    "configure_logging",
    "parse_log_directives",
    "reset_logging",
]

ENV_VAR = "WEAVEGRAPH_LOG"
ROOT = "engine"
TRACE = 5
"""A level below DEBUG for very chatty records (RUST_LOG's "trace")."""
OFF = logging.CRITICAL + 10
DEFAULT_LEVEL = logging.WARNING
"""Level of the "engine" logger when the directives name only targets (warnings stay visible)."""

logging.addLevelName(TRACE, "TRACE")

_LEVELS = {
    "trace": TRACE,
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warn": logging.WARNING,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "critical": logging.CRITICAL,
    "off": OFF,
    "none": OFF,
}


class LoggingConfigError(EngineError, ValueError):
    """A logging directive could not be understood."""


@dataclass(frozen=True, slots=True)
class LogDirectives:
    """Parsed directives: the level of the "engine" logger (None = not given) and per-logger levels."""

    default: int | None = None
    targets: dict[str, int] = field(default_factory=dict)


def _level(text: str, directive: str) -> int:
    key = text.strip().lower()
    if key in _LEVELS:
        return _LEVELS[key]
    if key.isdigit():
        return int(key)
    raise LoggingConfigError(
        f"unknown log level {text!r} in directive {directive!r}; use trace, debug, info, warn, error or off"
    )


def _target(text: str) -> str:
    """Logger name for a target; Rust-style "weavegraph::runtimes" maps to "engine.runtimes"."""
    name = text.strip().replace("::", ".")
    if name == "weavegraph" or name.startswith("weavegraph."):
        name = ROOT + name[len("weavegraph") :]
    return name


def parse_log_directives(spec: str) -> LogDirectives:
    """Parse comma-separated directives: a bare level sets the "engine" logger, `target=level` sets the
    named logger (a bare target means debug for it, as in RUST_LOG). Raises `LoggingConfigError`."""
    default: int | None = None
    targets: dict[str, int] = {}
    for raw in spec.split(","):
        directive = raw.strip()
        if not directive:
            continue
        if "=" in directive:
            name, _, level = directive.partition("=")
            target = _target(name)
            if not target:
                raise LoggingConfigError(f"directive {directive!r} has no logger name before '='")
            targets[target] = _level(level, directive)
        elif directive.strip().lower() in _LEVELS or directive.isdigit():
            default = _level(directive, directive)
        elif "." in directive or "::" in directive or directive in (ROOT, "weavegraph"):
            targets[_target(directive)] = TRACE  # a bare logger name: everything from it, as in RUST_LOG
        else:
            _level(directive, directive)  # raises: neither a level nor a logger path
    return LogDirectives(default, targets)


class _Handler(logging.StreamHandler[IO[str]]):
    """The one handler `configure_logging` installs; marked so it is never added twice."""


_configured: dict[str, tuple[int, bool]] = {}
_handler: _Handler | None = None


def reset_logging() -> None:
    """Undo `configure_logging`: remove its handler and restore the levels it changed."""
    global _handler
    for name, (level, propagate) in _configured.items():
        logger = logging.getLogger(name)
        logger.setLevel(level)
        logger.propagate = propagate
        if _handler is not None:
            logger.removeHandler(_handler)
    _configured.clear()
    if _handler is not None:
        _handler.close()
    _handler = None


def configure_logging(spec: str | None = None, *, stream: IO[str] | None = None) -> LogDirectives | None:
    """Apply `spec` (default: the `WEAVEGRAPH_LOG` environment variable) and log to `stream` (stderr).

    Does nothing and returns None when there is no spec. Idempotent: calling again replaces the previous
    configuration. An explicit bad `spec` raises `LoggingConfigError`; a bad environment variable is
    reported on stderr and its valid directives still apply.
    """
    global _handler
    from_env = spec is None
    if spec is None:
        spec = os.environ.get(ENV_VAR)
    if spec is None or not spec.strip():
        return None
    if from_env:
        directives = _parse_lenient(spec)
    else:
        directives = parse_log_directives(spec)
    reset_logging()
    _handler = _Handler(stream if stream is not None else sys.stderr)
    _handler.setFormatter(
        logging.Formatter("%(asctime)s %(levelname)-5s %(name)s: %(message)s", "%Y-%m-%dT%H:%M:%S")
    )
    levels = {ROOT: directives.default if directives.default is not None else DEFAULT_LEVEL}
    levels.update(directives.targets)
    for name, level in levels.items():
        logger = logging.getLogger(name)
        _configured[name] = (logger.level, logger.propagate)
        logger.setLevel(level)
    # One handler, on the top-most configured loggers only, so no record is written twice.
    for name in levels:
        if not any(name.startswith(other + ".") for other in levels if other != name):
            logger = logging.getLogger(name)
            logger.addHandler(_handler)
            logger.propagate = False
    return directives


def _parse_lenient(spec: str) -> LogDirectives:
    default: int | None = None
    targets: dict[str, int] = {}
    for directive in spec.split(","):
        try:
            parsed = parse_log_directives(directive)
        except LoggingConfigError as exc:
            print(f"weavegraph: ignoring {ENV_VAR} directive: {exc}", file=sys.stderr)
            continue
        if parsed.default is not None:
            default = parsed.default
        targets.update(parsed.targets)
    return LogDirectives(default, targets)


def _install_null_handler() -> None:
    logger = logging.getLogger(ROOT)
    if not any(isinstance(h, logging.NullHandler) for h in logger.handlers):
        logger.addHandler(logging.NullHandler())


_install_null_handler()
