"""Plain-text renderings for the command line (`weavegraph stats` / `prune` on a LangGraph database)."""

from __future__ import annotations

from engine.foreign.langgraph.plan import PrunePlan
from engine.foreign.langgraph.records import PruneSummary, StorageReport


def human_bytes(n: int | None) -> str:
    if n is None:
        return "-"
    size = float(n)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if size < 1024 or unit == "TB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


def summary_line(summary: PruneSummary, *, dry_run: bool) -> str:
    verb = "would remove" if dry_run else "removed"
    blobs = f", {summary.blobs} blobs" if summary.blobs else ""
    return (
        f"keep last {summary.keep_last}: {verb} {summary.checkpoints} checkpoints, "
        f"{summary.writes} writes{blobs} ({human_bytes(summary.bytes)}) in {summary.threads} threads"
    )


def report_lines(report: StorageReport, *, threads: int = 10, channels: int = 10) -> list[str]:
    """`weavegraph stats` output for a LangGraph database: totals, the largest threads and channels, repeated
    blobs, file/WAL/free bytes (SQLite) or table sizes, and the keep-last-N estimates."""
    lines = [
        f"LangGraph {report.backend} database: {report.checkpoints} checkpoints, "
        f"{report.writes} pending writes"
    ]
    if report.backend == "sqlite":
        lines.append(
            f"file {human_bytes(report.file_bytes)}, WAL {human_bytes(report.wal_bytes)}, "
            f"free pages {human_bytes(report.free_bytes)} (VACUUM returns them)"
        )
    if report.tables:
        lines.append(
            "tables: " + ", ".join(f"{n} {human_bytes(b)}" for n, b in sorted(report.tables.items()))
        )
    lines.append(f"largest threads (of {len(report.threads)}):")
    for t in report.threads[:threads]:
        lines.append(f"  {t.key.label}: {t.checkpoints} checkpoints, {human_bytes(t.bytes)}")
    lines.append("channels:")
    for c in report.channels[:channels]:
        lines.append(f"  {c.channel}: {human_bytes(c.bytes)} in {c.values} copies, {c.distinct} distinct")
    lines.append(f"repeated blobs cost {human_bytes(report.repeated_bytes)}")
    for r in report.repeated[:5]:
        lines.append(f"  {r.channel}: {human_bytes(r.size)} stored {r.copies} times")
    lines.extend(summary_line(s, dry_run=True) for s in report.keep_last)
    return lines


def prune_lines(plan: PrunePlan, *, dry_run: bool) -> list[str]:
    """`weavegraph prune` output: the summary, then the chains touched."""
    lines = [summary_line(plan.summary, dry_run=dry_run)]
    for key, ids in sorted(plan.delete.items()):
        lines.append(f"  {key.label}: {len(ids)} checkpoints")
    return lines
