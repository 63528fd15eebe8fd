"""Smoke test of bench/queue_bench.py at a tiny size (one worker process, a few jobs): it cannot rot."""

from __future__ import annotations

import asyncio

import pytest

from bench import queue_bench

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


def test_queue_bench_measures(postgres_url: str) -> None:
    queue_bench.migrate(postgres_url)
    rate, commits, cpu_ms = asyncio.run(queue_bench.jobs_per_second(postgres_url, 1, 5))
    assert rate > 0 and commits >= queue_bench.WRITES_PER_JOB and cpu_ms > 0
    assert asyncio.run(queue_bench.write_ceiling(postgres_url, seconds=0.2, connections=2)) > 0
