"""WEAVEGRAPH_LOG directives and configure_logging."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest

from engine.logsetup import (
    OFF,
    TRACE,
    LoggingConfigError,
    configure_logging,
    parse_log_directives,
    reset_logging,
)


@pytest.fixture(autouse=True)
def _restore() -> Iterator[None]:
    yield
    reset_logging()


@pytest.mark.parametrize(
    ("spec", "default", "targets"),
    [
        ("debug", logging.DEBUG, {}),
        ("error,engine.runtimes=debug", logging.ERROR, {"engine.runtimes": logging.DEBUG}),
        ("engine.persistence=warn", None, {"engine.persistence": logging.WARNING}),
        (" TRACE , engine.events = Off ", TRACE, {"engine.events": OFF}),
        ("weavegraph::runtimes=info", None, {"engine.runtimes": logging.INFO}),
        ("engine.scheduler", None, {"engine.scheduler": TRACE}),
        ("warning,info", logging.INFO, {}),
        ("", None, {}),
    ],
)
def test_parse_directives(spec: str, default: int | None, targets: dict[str, int]) -> None:
    parsed = parse_log_directives(spec)
    assert (parsed.default, parsed.targets) == (default, targets)


@pytest.mark.parametrize("spec", ["loud", "engine=verbose", "=debug"])
def test_bad_directives_raise(spec: str) -> None:
    with pytest.raises(LoggingConfigError):
        parse_log_directives(spec)


def test_unset_variable_does_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WEAVEGRAPH_LOG", raising=False)
    engine = logging.getLogger("engine")
    before = (engine.level, list(engine.handlers), engine.propagate)
    assert configure_logging() is None
    assert (engine.level, list(engine.handlers), engine.propagate) == before
    assert any(isinstance(h, logging.NullHandler) for h in engine.handlers)


def test_configure_from_environment_routes_selected_records(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEAVEGRAPH_LOG", "error,engine.runtimes=debug")
    out = io.StringIO()
    configure_logging(stream=out)
    logging.getLogger("engine.runtimes.runner").debug("step detail")
    logging.getLogger("engine.persistence").warning("hidden warning")
    logging.getLogger("engine.persistence").error("shown error")
    lines = out.getvalue().splitlines()
    assert len(lines) == 2
    assert "DEBUG engine.runtimes.runner: step detail" in lines[0]
    assert "ERROR engine.persistence: shown error" in lines[1]


def test_configure_is_idempotent_and_replaces_previous(monkeypatch: pytest.MonkeyPatch) -> None:
    out = io.StringIO()
    configure_logging("debug", stream=out)
    configure_logging("info", stream=out)
    configure_logging("info", stream=out)
    engine = logging.getLogger("engine")
    assert engine.level == logging.INFO
    assert sum(1 for h in engine.handlers if not isinstance(h, logging.NullHandler)) == 1
    logging.getLogger("engine.x").info("once")
    assert out.getvalue().count("once") == 1
    reset_logging()
    assert engine.level == logging.NOTSET and engine.propagate


def test_target_only_spec_keeps_engine_warnings(monkeypatch: pytest.MonkeyPatch) -> None:
    out = io.StringIO()
    configure_logging("engine.persistence=warn", stream=out)
    logging.getLogger("engine.plan").warning("dropped route")
    logging.getLogger("engine.plan").info("chatter")
    assert "dropped route" in out.getvalue() and "chatter" not in out.getvalue()


def test_bad_environment_directives_are_reported_and_skipped(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("WEAVEGRAPH_LOG", "loud,engine.events=debug")
    directives = configure_logging(stream=io.StringIO())
    assert directives is not None and directives.targets == {"engine.events": logging.DEBUG}
    assert "ignoring WEAVEGRAPH_LOG directive" in capsys.readouterr().err
    with pytest.raises(LoggingConfigError):
        configure_logging("loud")
