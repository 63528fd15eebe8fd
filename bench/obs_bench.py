"""Cost of observability (issue 22): workload 1 (the 100-node chain, no checkpoints), the same chain with
nodes that do 50 us of CPU work each (`work`: a realistic node), and the durable SQLite workload (turns of
Start -> a -> b -> c -> End with a checkpoint per step) run

    off       no instrumentation (lifecycle events off): the baseline
    off2      the same in a second child: how far two identical processes differ (the noise floor)
    absent    `instrument(builder)` called as a library user would, in a process where OpenTelemetry and
              prometheus-client cannot be imported (the extras are missing): must cost nothing measurable
    events    lifecycle events on, no sink (what the sinks cost when they consumed events; they no longer
              do: they are run observers the runner calls directly)
    tracing   `instrument(builder, tracing=provider)`: an SDK TracerProvider with a BatchSpanProcessor and an
              exporter that discards the batches (span creation and batching are measured, not the network)
    sampled   the same with `ParentBased(TraceIdRatioBased(0.01))`: 1% of runs recorded, as in production
    metrics   `instrument(builder, metrics=registry)`: the Prometheus sink on a private registry

Figures are CPU seconds of the child process (`time.process_time()`, every thread included, so the span
processor's export thread counts): on a shared machine they move far less with the other processes' load
than wall time does. The table shows the median and the best (minimum) of the runs. Last, the floor of
tracing on the chain: the CPU the OpenTelemetry SDK alone takes for the two spans (step + node) of a
node-step, with no engine code (`span_ceiling`), and what is left of tracing's overhead for the engine.

CPU time on a shared machine swings; for deterministic figures count instructions with callgrind, running
a mode's chain N and 2N times (`--ir MODE N`; the difference divided by 100 N is the count per node-step,
start-up cancels). Besides the modes above, `--ir` knows `bare` (the SDK provider with no span processor),
`stub` (a recording tracer of the OpenTelemetry API that does nothing: the engine's share of tracing alone)
and `floor` (`span_ceiling` with 100 N span pairs):

    valgrind --tool=callgrind .venv/bin/python -m bench.obs_bench --ir tracing 1   # and 2, then subtract

Each mode runs in a child process of its own that builds its graphs once and answers commands on stdin;
the parent warms every child up, then asks them in turn (off, absent, tracing, metrics, off, ...) so that
load drifts on this shared machine touch every mode alike, and prints medians and the overhead against
`off`. Targets: tracing and metrics each at most 10% on the chain and 5% on SQLite.

    .venv/bin/python -m bench.obs_bench [--repeat 5] [--quick] [--json FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from typing import Any

MODES = ("off", "off2", "absent", "events", "tracing", "sampled", "metrics")
TARGETS = {"chain": 10.0, "work": 10.0, "sqlite": 5.0}
WORK_S = 50e-6
"""CPU seconds of work per node in the `work` workload (the chain with nodes that do something)."""

BLOCK_EXTRAS = """
import importlib.abc, sys
class _Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("opentelemetry", "prometheus_client"):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None
sys.meta_path.insert(0, _Block())
"""


# ---------------------------------------------------------------- child side


def _instrumenter(mode: str) -> Any:
    """A function that instruments an `AppRunnerBuilder` the way `mode` says."""
    from engine.observability import instrument

    if mode in ("off", "off2"):
        return lambda builder: builder
    if mode == "absent":
        env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
        return lambda builder: instrument(builder, environ=env)
    if mode == "events":
        return lambda builder: builder.lifecycle_events(True)
    if mode == "stub":
        provider = _stub_provider()
        return lambda builder: instrument(builder, tracing=provider, environ={})
    if mode == "bare":
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.sampling import ALWAYS_ON

        bare = TracerProvider(sampler=ALWAYS_ON)  # spans are made and ended, no processor takes them
        return lambda builder: instrument(builder, tracing=bare, environ={})
    if mode in ("tracing", "sampled"):
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
        from opentelemetry.sdk.trace.sampling import ALWAYS_ON, ParentBased, TraceIdRatioBased

        class Discard(SpanExporter):
            def export(self, spans: Any) -> SpanExportResult:
                return SpanExportResult.SUCCESS

        provider = TracerProvider(
            sampler=ParentBased(TraceIdRatioBased(0.01)) if mode == "sampled" else ALWAYS_ON
        )
        provider.add_span_processor(BatchSpanProcessor(Discard()))
        return lambda builder: instrument(builder, tracing=provider, environ={})
    if mode == "metrics":
        from prometheus_client import CollectorRegistry

        registry = CollectorRegistry()
        return lambda builder: instrument(builder, metrics=registry, environ={})
    raise ValueError(f"unknown mode {mode!r}")


def _stub_provider() -> Any:
    """A tracer provider of the OpenTelemetry API whose spans record nothing and cost nearly nothing (but say
    they are recording, so the tracing sink does all its work): with it, tracing's overhead is the engine's
    own share (records, hooks, the sink's bookkeeping), the SDK's left out."""
    from opentelemetry import trace as api

    context = api.SpanContext(1, 2, False)

    class StubSpan(api.NonRecordingSpan):
        def is_recording(self) -> bool:
            return True

    span = StubSpan(context)

    class StubTracer(api.NoOpTracer):
        def start_span(self, *args: Any, **kwargs: Any) -> api.Span:
            return span

    class StubProvider(api.NoOpTracerProvider):
        def get_tracer(self, *args: Any, **kwargs: Any) -> api.Tracer:
            return StubTracer()

    return StubProvider()


async def _chain(app: Any, nodes: int, invocations: int, hook: Any) -> float:
    """Microseconds per node-step of `invocations` fresh runs (runner built and closed each time)."""
    import time

    from engine.runner import AppRunner
    from engine.state import VersionedState

    state = VersionedState(extra={"i": 0})
    start = time.process_time()
    for _ in range(invocations):
        builder = AppRunner.builder().app(app).autosave(False)
        hook(builder)
        async with await builder.build() as runner:
            await runner.create_session("bench", state)
            final = await runner.run_until_complete("bench")
    seconds = time.process_time() - start
    assert final.extra["i"] == nodes, final.extra
    return seconds / (invocations * nodes) * 1e6


async def _sqlite(app: Any, turns: int, hook: Any) -> float:
    """Seconds of `turns` invocations on one session in a fresh SQLite file, a checkpoint per step."""
    import time

    from engine.partial import NodePartial
    from engine.persistence.factory import open_checkpointer
    from engine.runner import AppRunner
    from engine.state import VersionedState
    from engine.types import Message

    with tempfile.TemporaryDirectory(prefix="wg-obs-bench-") as tmp:
        checkpointer = await open_checkpointer(f"sqlite://{os.path.join(tmp, 'b.db')}")
        try:
            builder = AppRunner.builder().app(app).checkpointer_custom(checkpointer)
            hook(builder)
            async with await builder.build() as runner:
                await runner.create_iterative_session("bench", VersionedState(), "Start")
                start = time.process_time()
                for i in range(turns):
                    final = await runner.invoke_next(
                        "bench", NodePartial(messages=[Message.user(f"turn {i}")]), "Start"
                    )
                seconds = time.process_time() - start
        finally:
            await checkpointer.aclose()
    assert len(final.messages) == 4 * turns
    return seconds


def work_chain_app(nodes: int) -> Any:
    """The chain of `chain_app`, each node first burning `WORK_S` of CPU (a node that does something)."""
    import itertools
    import time

    from engine.graph.builder import GraphBuilder
    from engine.partial import NodePartial

    async def step(snapshot: Any, ctx: Any) -> NodePartial:
        until = time.process_time() + WORK_S
        while time.process_time() < until:
            pass
        return NodePartial(extra={"i": snapshot.extra["i"] + 1})

    b = GraphBuilder()
    names = [f"n{i}" for i in range(nodes)]
    for name in names:
        b.add_node(name, step)
    b.add_edge("Start", names[0])
    for a, c in itertools.pairwise(names):
        b.add_edge(a, c)
    b.add_edge(names[-1], "End")
    return b.compile()


def span_ceiling(pairs: int = 2000) -> float:
    """CPU microseconds the OpenTelemetry SDK alone takes for what tracing makes per node-step of the chain:
    a step span and a node span (same attributes, explicit times, a BatchSpanProcessor with a discarding
    exporter, as the `tracing` mode, flushed every 256 pairs so that its queue never drops a span). No
    engine code runs: the floor of the tracing overhead."""
    import time

    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

    class Discard(SpanExporter):
        def export(self, spans: Any) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(Discard()))
    tracer = provider.get_tracer("ceiling")
    run = tracer.start_span("weavegraph.run")
    run_ctx = trace.set_span_in_context(run)
    t = time.time_ns()
    start = time.process_time()
    for i in range(pairs):
        step = tracer.start_span(
            "weavegraph.step",
            context=run_ctx,
            attributes={
                "weavegraph.step": i,
                "weavegraph.step.frontier": ("n",),
                "weavegraph.step.ran": ("n",),
            },
            start_time=t,
        )
        step_ctx = trace.set_span_in_context(step)
        attrs = {
            "weavegraph.node.status": "ok",
            "weavegraph.node.attempts": 1,
            "weavegraph.node.duration_ms": 0.01,
            "weavegraph.node.name": "n",
            "weavegraph.step": i,
        }
        node = tracer.start_span("weavegraph.node n", context=step_ctx, attributes=attrs, start_time=t)
        node.end(end_time=t + 1000)
        step.end(end_time=t + 2000)
        if i % 256 == 255:  # export as the run does: a full batch queue would drop spans (cheaply)
            provider.force_flush()
    provider.force_flush()
    seconds = time.process_time() - start
    provider.shutdown()
    return seconds / pairs * 1e6


def instructions_run(mode: str, n: int) -> None:
    """For callgrind: warm up, then run the 100-node chain `n` times in `mode` (or, for "floor", the SDK's
    span pairs 100 `n` times): compare the instruction counts of two `n`."""
    if mode == "floor":
        span_ceiling(256)
        span_ceiling(100 * n)
        return
    from bench.ours import chain_app

    hook, app = _instrumenter(mode), chain_app(100)
    asyncio.run(_chain(app, 100, 1, hook))
    asyncio.run(_chain(app, 100, n, hook))


def child(mode: str, nodes: int, invocations: int, turns: int) -> int:
    from bench.ours import chain_app, turns_app

    hook = _instrumenter(mode)
    chain, conversation, work = chain_app(nodes), turns_app(), work_chain_app(nodes)
    for line in sys.stdin:
        command = line.strip()
        if command == "chain":
            value = asyncio.run(_chain(chain, nodes, invocations, hook))
        elif command == "work":
            value = asyncio.run(_chain(work, nodes, max(1, invocations // 4), hook))
        elif command == "ceiling":
            value = span_ceiling()
        elif command == "sqlite":
            value = asyncio.run(_sqlite(conversation, turns, hook))
        else:
            break
        blocked = [m for m in ("opentelemetry", "prometheus_client") if m in sys.modules]
        print(json.dumps({"value": value, "imported": blocked}), flush=True)
    return 0


# ---------------------------------------------------------------- parent side


def _spawn(mode: str, args: argparse.Namespace) -> subprocess.Popen[str]:
    code = (BLOCK_EXTRAS if mode == "absent" else "") + (
        "import sys\nfrom bench.obs_bench import child\n"
        f"sys.exit(child({mode!r}, {args.nodes}, {args.invocations}, {args.turns}))"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    return subprocess.Popen(
        [sys.executable, "-c", code],
        cwd=root,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )


def _ask(proc: subprocess.Popen[str], command: str) -> dict[str, Any]:
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(command + "\n")
    proc.stdin.flush()
    line = proc.stdout.readline()
    if not line:
        raise RuntimeError(f"a benchmark child died answering {command!r}")
    return dict(json.loads(line))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.obs_bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=9, help="measured runs per mode (median shown)")
    parser.add_argument("--quick", action="store_true", help="small sizes, for a quick look")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: only checks that the script works")
    parser.add_argument("--json", metavar="FILE", help="save every sample")
    parser.add_argument(
        "--ir", nargs=2, metavar=("MODE", "N"), help="run MODE's chain N times only (callgrind)"
    )
    args = parser.parse_args(argv)
    if args.ir:
        instructions_run(args.ir[0], int(args.ir[1]))
        return 0
    args.nodes = 100
    args.invocations = 1 if args.smoke else 10 if args.quick else 40
    args.turns = 3 if args.smoke else 50 if args.quick else 150
    children = {mode: _spawn(mode, args) for mode in MODES}
    samples: dict[str, dict[str, list[float]]] = {w: {m: [] for m in MODES} for w in TARGETS}
    try:
        for workload in TARGETS:
            for mode, proc in children.items():  # warm-up
                answer = _ask(proc, workload)
                if mode == "absent" and answer["imported"]:
                    raise RuntimeError(f"extras imported in the 'absent' child: {answer['imported']}")
        for _ in range(args.repeat):
            for workload in TARGETS:
                for mode, proc in children.items():
                    samples[workload][mode].append(_ask(proc, workload)["value"])
        ceiling = min(_ask(children["tracing"], "ceiling")["value"] for _ in range(max(3, args.repeat)))
    finally:
        for proc in children.values():
            if proc.stdin is not None:
                proc.stdin.close()
            proc.wait(timeout=30)
    units = {
        "chain": "CPU us/node-step",
        "work": "CPU us/node-step",
        "sqlite": f"CPU s per {args.turns} turns",
    }
    print(f"Observability overhead, median of {args.repeat} interleaved run(s), {os.cpu_count()} CPUs")
    print(
        f"{'workload':<9} {'mode':<8} {'median':>9} {'best':>9}  {'unit':<21} {'overhead':>9} "
        f"{'(best)':>8}  target"
    )
    table: list[dict[str, Any]] = []
    for workload, by_mode in samples.items():
        base = statistics.median(by_mode["off"])
        best_base = min(by_mode["off"])
        for mode in MODES:
            median, best = statistics.median(by_mode[mode]), min(by_mode[mode])
            over, best_over = (median / base - 1.0) * 100.0, (best / best_base - 1.0) * 100.0
            target = {"tracing": f"<= {TARGETS[workload]:g}%", "metrics": f"<= {TARGETS[workload]:g}%"}.get(
                mode, ""
            )
            target = "~0%" if mode == "absent" else target
            shown = "" if mode == "off" else f"{over:+.1f}%"
            shown_best = "" if mode == "off" else f"{best_over:+.1f}%"
            print(
                f"{workload:<9} {mode:<8} {median:>9.4g} {best:>9.4g}  {units[workload]:<21} {shown:>9} "
                f"{shown_best:>8}  {target}"
            )
            table.append(
                {"workload": workload, "mode": mode, "median": median, "best": best, "overhead_pct": over}
            )
    chain_off = min(samples["chain"]["off"])
    traced = min(samples["chain"]["tracing"]) - chain_off
    print(
        f"OpenTelemetry SDK alone, a step span + a node span (what tracing makes per node-step): "
        f"{ceiling:.1f} CPU us = {ceiling / chain_off * 100:+.0f}% of the chain's best 'off' "
        f"({chain_off:.2f} us): the floor of tracing on the chain"
    )
    print(
        f"Engine's share of tracing on the chain (best overhead {traced:.1f} us less the SDK floor): "
        f"{traced - ceiling:.1f} CPU us per node-step"
    )
    if args.json:
        with open(args.json, "w", encoding="utf-8") as out:
            json.dump(
                {"samples": samples, "table": table, "sizes": vars(args), "span_ceiling_us": ceiling},
                out,
                indent=2,
                default=str,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
