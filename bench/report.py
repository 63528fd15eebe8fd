"""Turn the workers' raw samples into table rows (medians, LangGraph's faster variant, ratios, targets)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from bench.common import Sizes, fmt_value, median

MB = 1024 * 1024


@dataclass(slots=True)
class Row:
    """One line of the table. `ratio` is how many times better we are (or, for `ceiling`, how many times
    the raw-insert time we take); `met` is None when the row has no target."""

    number: int | None
    measure: str
    ours: str
    langgraph: str = ""
    ratio: str = ""
    target: str = ""
    met: bool | None = None
    ours_value: float | None = None
    langgraph_value: float | None = None
    ratio_value: float | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _runs(res: dict[str, Any], label: str) -> list[dict[str, Any]]:
    side = res.get(label) or {}
    return list(side.get("runs") or [])


def _median(runs: list[dict[str, Any]], key: str) -> float | None:
    values = [float(r[key]) for r in runs if r.get(key) is not None]
    return median(values) if values else None


def _lg_best(res: dict[str, Any], key: str, lower_is_better: bool) -> tuple[float | None, str]:
    """LangGraph's better variant for `key`: (median, variant name)."""
    best: tuple[float | None, str] = (None, "")
    for label in res:
        if not label.startswith("langgraph/"):
            continue
        value = _median(_runs(res, label), key)
        if value is None:
            continue
        current = best[0]
        if current is None or (value < current if lower_is_better else value > current):
            best = (value, label.split("/", 1)[1])
    return best


def _error_rows(number: int, res: dict[str, Any]) -> list[Row]:
    return [
        Row(number, f"  error in {label}", str(side["error"]))
        for label, side in res.items()
        if isinstance(side, dict) and side.get("error")
    ]


def _versus(
    number: int | None,
    measure: str,
    res: dict[str, Any],
    key: str,
    unit: str,
    lower_is_better: bool,
    target: float | None,
    scale: float = 1.0,
) -> Row:
    """A row comparing our median of `key` with LangGraph's better variant; ratio = times better."""
    ours = _median(_runs(res, "ours"), key)
    lg, variant = _lg_best(res, key, lower_is_better)
    row = Row(number, measure, fmt_value(ours * scale if ours is not None else None, unit))
    row.ours_value = ours
    row.langgraph_value = lg
    if lg is not None:
        row.langgraph = f"{fmt_value(lg * scale, unit)} ({variant})"
    if ours and lg:
        ratio = lg / ours if lower_is_better else ours / lg
        row.ratio_value = ratio
        row.ratio = f"{ratio:.1f}x"
        if target is not None:
            row.target = f">= {target:g}x"
            row.met = ratio >= target
    elif target is not None:
        row.target = f">= {target:g}x"
    return row


def _warm_memory(res: dict[str, Any], label: str) -> float | None:
    value = ((res.get(label) or {}).get("warmup") or {}).get("rss_growth_bytes")
    return float(value) if value is not None else None


def _mb(value: float | None) -> str:
    return "-" if value is None else f"{value / MB:.1f} MB"


def _memory_row(res: dict[str, Any], variant: str) -> Row:
    ours = _warm_memory(res, "ours")
    lg = _warm_memory(res, f"langgraph/{variant}") if variant else None
    row = Row(None, "  memory growth over the run (RSS)", _mb(ours))
    row.ours_value, row.langgraph_value = ours, lg
    if lg is not None:
        row.langgraph = f"{_mb(lg)} ({variant})"
    return row


def _ceiling_row(res: dict[str, Any], what: str, fraction: float | None = None) -> Row:
    """The raw-insert ceiling of the same rows; with `fraction`, the target is our speed as at least that
    fraction of the ceiling's (ceiling seconds / our seconds), else our time at most twice the ceiling's."""
    runs = _runs(res, "ours")
    ratios = [r["seconds"] / r["ceiling_seconds"] for r in runs if r.get("ceiling_seconds")]
    ceiling = _median(runs, "ceiling_seconds")
    rows = _median(runs, "rows")
    row = Row(None, f"  ceiling: raw {what} insert of the same rows", fmt_value(ceiling, "s"))
    if ceiling and rows:
        row.ours = f"{fmt_value(ceiling, 's')} ({fmt_value(rows / ceiling, 'rows/s')})"
    row.ours_value = ceiling
    if ratios and fraction is not None:
        speed = median([1.0 / r for r in ratios])
        row.ratio_value = speed
        row.ratio = f"ours = {speed:.2f} of ceiling"
        row.target = f">= {fraction:g}"
        row.met = speed >= fraction
    elif ratios:
        ratio = median(ratios)
        row.ratio_value = ratio
        row.ratio = f"ours = {ratio:.2f}x ceiling"
        row.target = "<= 2x"
        row.met = ratio <= 2.0
    return row


def _mode(res: dict[str, Any]) -> str:
    """ " (compact storage)" from the runs, when the checkpointer reported its storage mode."""
    for run in _runs(res, "ours"):
        if run.get("storage_mode"):
            return f" ({run['storage_mode']} storage)"
    return ""


def _split_row(res: dict[str, Any]) -> Row | None:
    """Where our storage-run time goes, from the warm-up run's breakdown (no storage; encoding only)."""
    warm = (res.get("ours") or {}).get("warmup") or {}
    if "engine_seconds" not in warm or "seconds" not in warm:
        return None
    engine = float(warm["engine_seconds"])
    encoding = float(warm["engine_encode_seconds"]) - engine
    database = float(warm["seconds"]) - float(warm["engine_encode_seconds"])
    return Row(
        None,
        "  our time split (warm-up run): engine / JSON encoding / database",
        f"{engine:.2f} / {encoding:.2f} / {database:.2f} s",
    )


def _absolute(number: int | None, measure: str, value: float | None, unit: str, minimum: float | None) -> Row:
    row = Row(number, measure, fmt_value(value, unit))
    row.ours_value = value
    if minimum is not None:
        row.target = f">= {fmt_value(minimum, unit)}"
        row.met = value is not None and value >= minimum
    return row


def build_rows(results: dict[str, Any], notes: dict[str, str], sizes: Sizes) -> list[Row]:
    rows: list[Row] = []
    if "chain" in results:
        res = results["chain"]
        rows.append(
            _versus(
                1,
                f"{sizes.chain_nodes}-node chain, no checkpoints: time per node-step",
                res,
                "us_per_node_step",
                "us",
                True,
                4.0,
            )
        )
        rows += _error_rows(1, res)
    if "loop" in results:
        res = results["loop"]
        row = _versus(
            2,
            f"{sizes.loop_steps:,}-step self-loop, in-memory checkpointer: steps/s",
            res,
            "steps_per_s",
            "/s",
            False,
            4.0,
        )
        rows.append(row)
        rows.append(_memory_row(res, row.langgraph.rsplit("(", 1)[-1].rstrip(")") if row.langgraph else ""))
        rows += _error_rows(2, res)
    if "fanout" in results:
        res = results["fanout"]
        rows.append(
            _versus(
                3,
                f"fan-out Start -> {sizes.fanout_width} -> join -> End: time per invocation",
                res,
                "ms_per_invocation",
                "ms",
                True,
                3.0,
            )
        )
        default = _versus(
            None,
            "  same, our default concurrency limit (CPU count)",
            res,
            "ms_default_limit",
            "ms",
            True,
            None,
        )
        lg, variant = _lg_best(res, "ms_per_invocation", True)
        ours = default.ours_value
        if lg is not None and ours:
            default.langgraph = f"{fmt_value(lg, 'ms')} ({variant})"
            default.ratio = f"{lg / ours:.1f}x"
            default.ratio_value = lg / ours
        rows.append(default)
        rows += _error_rows(3, res)
    if "sqlite" in results:
        res = results["sqlite"]
        rows.append(
            _versus(
                4,
                f"{sizes.turns:,} turns on one session, SQLite{_mode(res)}, checkpoint per step: total",
                res,
                "seconds",
                "s",
                True,
                None,
            )
        )
        rows.append(_versus(None, "  invocations/s", res, "invocations_per_s", "/s", False, 5.0))
        size = _versus(None, "  database size", res, "db_bytes", "MB", True, None, scale=1 / MB)
        if size.ratio:
            size.ratio += " smaller" if (size.ratio_value or 0) >= 1 else " (larger)"
        rows.append(size)
        rows.append(_ceiling_row(res, "aiosqlite"))
        split = _split_row(res)
        if split is not None:
            rows.append(split)
        rows += _error_rows(4, res)
    if "sqlite_concurrent" in results:
        rows += sqlite_concurrent_rows(results["sqlite_concurrent"])
    if "postgres" in results:
        res = results["postgres"]
        rows.append(
            _versus(
                5,
                f"{sizes.turns:,} turns on one session, Postgres{_mode(res)}: total",
                res,
                "seconds",
                "s",
                True,
                None,
            )
        )
        rows.append(_versus(None, "  invocations/s", res, "invocations_per_s", "/s", False, 5.0))
        rows.append(_ceiling_row(res, "asyncpg (one transaction per row)", fraction=0.6))
        split = _split_row(res)
        if split is not None:
            rows.append(split)
        rows += _error_rows(5, res)
    elif "postgres" in notes:
        rows.append(Row(5, "Postgres turns", notes["postgres"]))
    rows += _pg_concurrent_rows(results, notes, sizes)
    if "events" in results:
        res = results["events"]
        runs = _runs(res, "ours")
        rows.append(
            _absolute(
                6,
                "events created + published/s (one MemorySink)",
                _median(runs, "create_publish_per_s"),
                "/s",
                200_000,
            )
        )
        rows.append(
            _absolute(None, "  ready-made events published/s", _median(runs, "publish_per_s"), "/s", None)
        )
        rows.append(
            _absolute(
                None,
                "  delivered through a MemorySink/s",
                _median(runs, "memory_delivered_per_s"),
                "/s",
                100_000,
            )
        )
        rows.append(
            _absolute(
                None,
                "  delivered through a JsonLinesSink (file, flush per line)/s",
                _median(runs, "jsonl_delivered_per_s"),
                "/s",
                None,
            )
        )
        rows += _error_rows(6, res)
    if "studio" in results and not (results["studio"].get("lines")):
        rows.append(Row(7, "studio figures", str(results["studio"].get("status", "not available yet"))))
    return rows


def sqlite_concurrent_rows(res: dict[str, Any]) -> list[Row]:
    """Workload 9: many SQLite sessions at once (issue 20), against LangGraph and the batched ceiling."""
    runs = _runs(res, "ours")
    sessions, invocations = _median(runs, "sessions"), _median(runs, "invocations")
    shape = (
        f"{sessions:.0f} sessions x {invocations:.0f} invocations" if sessions and invocations else "sessions"
    )
    rows = [
        _versus(9, f"{shape} at once, SQLite: invocations/s", res, "invocations_per_s", "/s", False, None)
    ]
    ours = _median(runs, "invocations_per_s")
    ceiling = _median(runs, "ceiling_invocations_per_s")
    row = Row(None, f"  ceiling: raw aiosqlite insert of the same rows, {50} per transaction", "")
    row.ours = fmt_value(ceiling, "/s")
    if ours and ceiling:
        row.ratio_value = ours / ceiling
        row.ratio = f"ours = {ours / ceiling:.2f} of ceiling"
        row.target, row.met = ">= 0.3", ours / ceiling >= 0.3
    rows.append(row)
    bare = _median(runs, "engine_only_invocations_per_s")
    if bare:
        engine = Row(
            None, "  the same with no storage at all (engine only: our upper bound)", fmt_value(bare, "/s")
        )
        if ours:
            engine.ratio = f"ours = {ours / bare:.2f} of it"
            engine.ratio_value = ours / bare
        rows.append(engine)
    per_group = _median(runs, "saves_per_group")
    if per_group is not None:
        rows.append(Row(None, "  saves per group commit (median)", f"{per_group:.1f}"))
    return rows + _error_rows(9, res)


def _pg_concurrent_rows(results: dict[str, Any], notes: dict[str, str], sizes: Sizes) -> list[Row]:
    """Workload 10: many sessions at once on Postgres, against LangGraph's async saver and the batched
    ceiling (as many rows per transaction as sessions)."""
    if "pg_concurrent" not in results:
        return (
            [Row(10, "Postgres, many sessions at once", notes["pg_concurrent"])]
            if "pg_concurrent" in notes
            else []
        )
    res = results["pg_concurrent"]
    n, k = sizes.concurrent_sessions, sizes.concurrent_invocations
    rows = [
        _versus(
            10,
            f"{n} sessions x {k} turns at once, Postgres{_mode(res)}: invocations/s",
            res,
            "invocations_per_s",
            "/s",
            False,
            None,
        ),
        _ceiling_row(res, f"asyncpg ({n} rows per transaction)", fraction=0.3),
    ]
    runs = _runs(res, "ours")
    per_group = _median(runs, "saves_per_group")
    if per_group is not None:
        rows.append(Row(None, "  our saves per group commit (median)", f"{per_group:.1f}"))
    return rows + _error_rows(10, res)


def studio_lines(results: dict[str, Any]) -> list[str]:
    """The studio script's own printed figures (shown under the table: they are not LangGraph-comparable)."""
    studio = results.get("studio") or {}
    return [str(line) for line in studio.get("lines") or []]


def format_table(title: str, rows: list[Row], studio: list[str] | None = None) -> str:
    header = ("#", "measure", "ours", "LangGraph (faster variant)", "ratio", "target", "met")
    cells = [
        (
            str(r.number) if r.number is not None else "",
            r.measure,
            r.ours,
            r.langgraph,
            r.ratio,
            r.target,
            "" if r.met is None else ("yes" if r.met else "NO"),
        )
        for r in rows
    ]
    widths = [max(len(header[i]), *(len(c[i]) for c in cells)) if cells else len(header[i]) for i in range(7)]
    line = "  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))
    out = [title, "", line, "-" * len(line)]
    for c in cells:
        out.append("  ".join(v.ljust(w) for v, w in zip(c, widths, strict=True)).rstrip())
    if studio:
        out += ["", "7  studio (bench/studio_bench.py, offscreen):"] + [f"     {line}" for line in studio]
    return "\n".join(out)
