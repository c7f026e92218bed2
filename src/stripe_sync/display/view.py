"""The view model of a run: header figures, stream rows and collapsed counts, fitted to a height.

Running and failed streams get a row each; complete, skipped and pending streams collapse into
count lines when there is no room. Renderers (rich live view, plain lines, the dashboard's JSON)
all draw from this.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from stripe_sync.display.state import DisplayState

ROW_ORDER = {"failed": 0, "started": 1, "complete": 2, "skipped": 3, "pending": 4}


@dataclass(frozen=True)
class StreamRow:
    name: str
    status: str
    record_count: int
    request_count: int
    records_per_second: float
    coverage: float | None
    eta_seconds: float | None
    reason: str | None
    errors: tuple[dict[str, Any], ...]


@dataclass(frozen=True)
class LiveLane:
    """What live mode shows: how fast changes arrive and how far behind Stripe the copy is."""

    events_per_second: float
    event_count: int
    lag_seconds: float | None
    last_event_at: str | None
    webhooks_rejected: int

    @classmethod
    def from_progress(cls, live: dict[str, Any] | None) -> LiveLane | None:
        if not live:
            return None
        return cls(
            events_per_second=float(live.get("events_per_second") or 0.0),
            event_count=int(live.get("event_count") or 0),
            lag_seconds=live.get("lag_seconds"),
            last_event_at=live.get("cursor"),
            webhooks_rejected=int(live.get("webhooks_rejected") or 0),
        )

    def line(self) -> str:
        lag = "-" if self.lag_seconds is None else f"{self.lag_seconds:.1f}s"
        text = (
            f"live: {self.events_per_second:,.2f} events/s ({self.event_count:,} applied)  "
            f"lag {lag}  last event {self.last_event_at or '-'}"
        )
        if self.webhooks_rejected:
            text += f"  webhooks rejected {self.webhooks_rejected:,}"
        return text


@dataclass(frozen=True)
class RunView:
    pipeline: str
    sync_run_id: str
    elapsed_s: float
    record_count: int
    lifetime_records: int
    writes: dict[str, int]
    request_count: int
    records_per_second: float
    window_records_per_second: float
    budget_rps: float | None
    rate_limited_count: int
    retry_count: int
    rows: tuple[StreamRow, ...]
    collapsed: dict[str, int] = field(default_factory=dict)
    eta_seconds: float | None = None
    outcome: str | None = None
    has_more: bool | None = None
    live: LiveLane | None = None


def _row(name: str, entry: dict[str, Any], elapsed_s: float) -> StreamRow:
    records = int(entry.get("record_count", 0))
    return StreamRow(
        name=name,
        status=str(entry.get("status", "pending")),
        record_count=records,
        request_count=int(entry.get("request_count", 0)),
        records_per_second=records / elapsed_s if elapsed_s > 0 else 0.0,
        coverage=entry.get("coverage"),
        eta_seconds=entry.get("eta_seconds"),
        reason=entry.get("reason"),
        errors=tuple(entry.get("errors") or ()),
    )


def build_view(state: DisplayState, max_rows: int | None = None) -> RunView:
    """The view of ``state``; with ``max_rows``, quiet streams collapse first."""
    progress = state.progress or {}
    elapsed_s = int(progress.get("elapsed_ms", 0)) / 1000
    entries = progress.get("streams", {})
    names = list(state.streams) or list(entries)
    rows = [_row(name, entries.get(name, {}), elapsed_s) for name in names]
    rows.sort(key=lambda row: ROW_ORDER.get(row.status, 5))
    always = [row for row in rows if row.status in ("started", "failed")]
    quiet = [row for row in rows if row.status not in ("started", "failed")]
    shown = list(always)
    collapsed: Counter[str] = Counter()
    room = None if max_rows is None else max(0, max_rows - len(always))
    if room is not None and len(quiet) > room:
        room -= 1  # the line that counts the collapsed streams
    for row in quiet:
        if room is None or room > 0:
            shown.append(row)
            room = None if room is None else room - 1
        else:
            collapsed[row.status] += 1
    end = state.end or {}
    lifetime = progress.get("lifetime") or {}
    return RunView(
        pipeline=str(progress.get("pipeline") or ""),
        sync_run_id=str(progress.get("sync_run_id") or ""),
        elapsed_s=elapsed_s,
        record_count=int(progress.get("record_count", 0)),
        lifetime_records=int(lifetime.get("record_count", 0)),
        writes=dict(progress.get("writes") or {}),
        request_count=int(progress.get("request_count", 0)),
        records_per_second=float(progress.get("records_per_second", 0.0)),
        window_records_per_second=float(progress.get("window_records_per_second", 0.0)),
        budget_rps=progress.get("budget_rps"),
        rate_limited_count=int(progress.get("rate_limited_count", 0)),
        retry_count=int(progress.get("retry_count", 0)),
        rows=tuple(shown),
        collapsed=dict(collapsed),
        eta_seconds=progress.get("eta_seconds"),
        outcome=end.get("reason"),
        has_more=end.get("has_more"),
        live=LiveLane.from_progress(progress.get("live")),
    )


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def summary_lines(view: RunView) -> list[str]:
    """The final summary: outcome, counts, writes and per-status stream counts."""
    statuses = Counter(row.status for row in view.rows)
    statuses.update(view.collapsed)
    writes = view.writes
    lines = [
        f"{view.outcome or 'stopped'}: {view.record_count:,} records in "
        f"{format_duration(view.elapsed_s)} ({view.records_per_second:,.0f}/s), "
        f"{view.request_count:,} requests",
        f"writes: {writes.get('inserted', 0):,} inserted, {writes.get('updated', 0):,} updated, "
        f"{writes.get('unchanged', 0):,} unchanged, {writes.get('deleted', 0):,} deleted",
        "streams: " + ", ".join(f"{count} {status}" for status, count in sorted(statuses.items())),
    ]
    if view.has_more:
        lines.append("more to do: run the same command again to continue")
    for row in view.rows:
        for error in row.errors[-1:]:
            hint = f" (hint: {error['hint']})" if error.get("hint") else ""
            lines.append(
                f"{row.name}: {error['level']} {error['failure_type']}: {error['message']}{hint}"
            )
    return lines
