"""Every public name of ENGINE.md is importable from `engine`, and `__all__` is exact."""

from __future__ import annotations

import re
from pathlib import Path

import engine

SPEC = Path(__file__).resolve().parents[3] / "shared" / "spec" / "ENGINE.md"

EXPECTED = """
NodeKind Role Message VersionedState StateSnapshot ErrorEvent ErrorScope WeaveError NodePartial
NodeContext NodeError MissingInput ValidationFailed ProviderError EngineError GraphBuilder
GraphCompileError MissingEntry CycleDetected UnreachableNodes NoPathToEnd DuplicateEdge EdgeFromEnd
UnknownNode App AppRunner CheckpointerType StepOptions StepReport PausedReport SessionInit
SessionState InvalidIterativeEntry SessionNotFound NoStartNodes RuntimeConfig EventBusConfig
SystemClock MockClock StateKey StateSlotError StateSlotMissing StateSlotSerialize
StateSlotDeserialize ReplayRun ReplayComparison compare_replay_runs compare_event_sequences
compare_replay_runs_with compare_event_sequences_with ReplayConformanceError Event EventBus
SinkDiagnostic SinkHealth StdOutSink MemorySink ChannelSink JsonLinesSink STREAM_END_SCOPE
INVOCATION_END_SCOPE InMemoryCheckpointer SQLiteCheckpointer PostgresCheckpointer Checkpoint
StepQuery StepQueryResult PrunePolicy PruneReport CheckpointConflict NodeRunError RunnerError
StepLimitExceeded Reducer Replace Append CheckpointerError
""".split()


def test_spec_names_are_importable() -> None:
    missing = [name for name in EXPECTED if getattr(engine, name, None) is None]
    assert missing == []


def test_all_is_exact_and_sorted_names_exist() -> None:
    for name in engine.__all__:
        assert getattr(engine, name) is not None, name
    assert len(set(engine.__all__)) == len(engine.__all__)
    assert set(EXPECTED) <= set(engine.__all__)


def test_backticked_spec_names_are_exported() -> None:
    if not SPEC.exists():  # the spec lives beside the repo in CI; nothing to cross-check without it
        return
    text = SPEC.read_text(encoding="utf-8")
    names = set(re.findall(r"`([A-Z][A-Za-z]+)(?:\(|`|\.)", text))
    internal = {
        "JSON",
        "Start",
        "End",
        "Custom",
        "A",
        "X",
        "Protocol",
        "None",
        "ValueError",
        "SQLITE",
        "POSTGRES",
    }
    missing = sorted(n for n in names - internal if not hasattr(engine, n))
    assert missing == [], f"named in ENGINE.md but not exported: {missing}"
