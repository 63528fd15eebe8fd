"""The fault suite's time limits: the kill -9 tests get pytest-timeout's limit scaled to `--fault-trials`."""

from __future__ import annotations

import pytest

SECONDS_PER_TRIAL = 30
"""Generous: a trial takes about 3 s on 2 busy cores; a hung trial still ends the test in bounded time."""


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    trials: int = config.getoption("--fault-trials")
    for item in items:
        module = getattr(item, "module", None)
        if getattr(module, "SCALES_WITH_TRIALS", False):
            item.add_marker(pytest.mark.timeout(120 + SECONDS_PER_TRIAL * trials))
