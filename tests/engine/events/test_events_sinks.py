"""Built-in sinks: JSON Lines (file, StringIO, bytes, stdout), stdout lines, memory, the Sink protocol."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from engine.events.bus import EventBus
from engine.events.event import Event
from engine.events.sinks import ChannelSink, FunctionSink, JsonLinesSink, MemorySink, Sink, StdOutSink

pytestmark = pytest.mark.usefixtures("debug_loop")


def ev(i: int, **meta: object) -> Event:
    return Event.create("node", "progress", f"line {i}\nsecond", node_id="A", step=i, metadata=dict(meta))


async def test_jsonl_file_has_one_valid_object_per_line_and_is_closed(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    sink = JsonLinesSink.to_file(path)
    assert sink.name == f"jsonl:{path}"
    bus = EventBus.with_sink(sink)
    published = [bus.publish(ev(i, text="é\u2028", nan=float("nan"))) for i in range(50)]
    await bus.flush()
    # flushed line by line: readable before the sink is closed
    assert len(path.read_text(encoding="utf-8").splitlines()) == 50
    await bus.aclose()
    lines = path.read_bytes().split(b"\n")
    assert lines[-1] == b"" and len(lines) == 51
    values = [json.loads(line) for line in lines[:-1]]
    assert [v["seq"] for v in values] == list(range(50))
    assert [Event.from_json(v).message for v in values] == [e.message for e in published]
    assert values[0]["metadata"]["nan"] is None
    assert sink._stream is not None and sink._stream.closed  # the file it opened is closed by the bus
    sink.close()  # idempotent


async def test_jsonl_append_mode(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    for _ in range(2):
        bus = EventBus.with_sink(JsonLinesSink.to_file(path, append=True))
        bus.publish(ev(0))
        await bus.aclose()
    assert len(path.read_text().splitlines()) == 2


async def test_jsonl_to_stringio_and_bytesio_are_flushed_not_closed() -> None:
    text, raw = io.StringIO(), io.BytesIO()
    bus = EventBus.with_sinks([JsonLinesSink(text), JsonLinesSink(raw)])
    published = [bus.publish(ev(i)) for i in range(3)]
    await bus.aclose()
    assert not text.closed and not raw.closed
    for content in (text.getvalue(), raw.getvalue().decode()):
        rows = content.splitlines()
        assert [Event.from_json(r) for r in rows] == published


async def test_jsonl_to_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    bus = EventBus.with_sink(JsonLinesSink.to_stdout())
    bus.publish(ev(7))
    await bus.aclose()
    (line,) = capsys.readouterr().out.splitlines()
    assert json.loads(line)["metadata"]["step"] == 7


async def test_a_jsonl_file_sink_serves_several_buses(tmp_path: Path) -> None:
    path = tmp_path / "runs.jsonl"
    sink = JsonLinesSink.to_file(path)
    assert sink.path == path
    for run in range(3):  # e.g. one RuntimeConfig sink used by three App.invoke calls
        bus = EventBus.with_sink(sink)
        bus.publish(ev(run))
        await bus.aclose()
        assert sink._stream is not None and sink._stream.closed  # each bus closes the file at its end
        assert bus.sink_health()[0].error_count == 0
    assert [json.loads(line)["metadata"]["step"] for line in path.read_text().splitlines()] == [0, 1, 2]


def test_a_caller_owned_stream_is_flushed_not_closed() -> None:
    stream = io.StringIO()
    sink = JsonLinesSink(stream)
    sink.close()
    sink.handle(ev(0))
    assert not stream.closed and stream.getvalue().count("\n") == 1


async def test_stdout_sink_prints_one_readable_line(capsys: pytest.CaptureFixture[str]) -> None:
    bus = EventBus.with_sink(StdOutSink())
    event = Event.create("node", "progress", "working\nhard", node_id="A", step=3, now_unix_ms=3_723_004)
    bus.publish(Event.create("lifecycle", "run.start", "go"))
    bus.publish(event)
    await bus.aclose()
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 2
    assert out[1] == "01:02:03.004 #1 node       A@3 progress: working\\nhard"
    assert "\x1b[" not in out[0] and out[0].endswith("lifecycle  run.start: go")


def test_stdout_sink_colours_only_when_asked_or_on_a_tty() -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    tty, plain = Tty(), io.StringIO()
    StdOutSink(tty).handle(Event.create("llm", "error", "bad"))
    StdOutSink(plain).handle(Event.create("llm", "error", "bad"))
    assert "\x1b[31m" in tty.getvalue() and "\x1b[" not in plain.getvalue()
    assert "\x1b[" not in StdOutSink(tty, colour=False).format(Event.create("node", "s", "m"))


def test_memory_sink_snapshot_is_a_copy_and_clear_empties() -> None:
    sink = MemorySink()
    sink.handle(ev(0))
    snap = sink.snapshot()
    snap.append(ev(1))
    assert len(sink.snapshot()) == 1 and len(sink) == 1
    sink.clear()
    assert sink.snapshot() == []
    bounded = MemorySink(capacity=2)
    for i in range(5):
        bounded.handle(ev(i))
    assert [e.step for e in bounded.snapshot()] == [3, 4]


def test_every_builtin_sink_satisfies_the_protocol() -> None:
    import asyncio

    sinks: list[Any] = [
        StdOutSink(),
        MemorySink(),
        ChannelSink(asyncio.Queue()),
        JsonLinesSink(io.StringIO()),
        JsonLinesSink.to_stdout(),
        FunctionSink(print),
    ]
    for sink in sinks:
        assert isinstance(sink, Sink)
        assert isinstance(sink.name, str) and sink.name
    assert [s.name for s in sinks] == ["stdout", "memory", "channel", "jsonl", "jsonl:stdout", "print"]


def test_stdout_sinks_without_a_stdout_do_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdout", None)  # pythonw / a windowed PyInstaller build
    for sink in (StdOutSink(), JsonLinesSink.to_stdout()):
        sink.handle(ev(0))
        sink.close()
