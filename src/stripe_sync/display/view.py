"""The view model of a run: header figures, stream or account rows and collapsed counts, fitted
to a height, and the final summary.

With connected accounts (``accounts`` in the progress) the rows are accounts, each with its
running and failed streams under it. Renderers (rich live view, plain lines, the dashboard's
JSON) all draw from this.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from stripe_sync.display.rows import AccountRow, StreamRow, account_rows, fit, stream_row
from stripe_sync.display.state import DisplayState


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
    accounts: tuple[AccountRow, ...] = ()
    collapsed_accounts: dict[str, int] = field(default_factory=dict)
    stream_counts: dict[str, int] = field(default_factory=dict)
    account_counts: dict[str, int] = field(default_factory=dict)
    eta_seconds: float | None = None
    outcome: str | None = None
    has_more: bool | None = None
    live: LiveLane | None = None


def build_view(state: DisplayState, max_rows: int | None = None) -> RunView:
    """The view of ``state``; with ``max_rows``, quiet accounts and streams collapse first."""
    progress = state.progress or {}
    elapsed_s = int(progress.get("elapsed_ms", 0)) / 1000
    entries = progress.get("streams", {})
    keys = state.stream_keys()
    every_account = account_rows(progress, elapsed_s, len(state.streams))
    accounts, collapsed_accounts, used = fit(every_account, max_rows)
    rows, collapsed, _ = fit(
        [
            stream_row(key, entries.get(key, {}), elapsed_s)
            for key in keys
            if not entries.get(key, {}).get("account")
        ],
        None if max_rows is None else max_rows - used,
    )
    end = state.end or {}
    lifetime = progress.get("lifetime") or {}
    stream_counts = dict(Counter(state.stream_status(key) for key in keys))
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
        rows=tuple(rows),
        collapsed=dict(collapsed),
        accounts=tuple(accounts),
        collapsed_accounts=dict(collapsed_accounts),
        stream_counts=stream_counts,
        account_counts=dict(Counter(row.status for row in every_account)),
        eta_seconds=progress.get("eta_seconds"),
        outcome=outcome_word(end, stream_counts),
        has_more=end.get("has_more") and not credentials_refused(end),
        live=LiveLane.from_progress(progress.get("live")),
    )


def credentials_refused(end: dict[str, Any]) -> bool:
    """The call ended because credentials were refused (Stripe's key, the database's password):
    running it again cannot help."""
    errors = (end.get("run_progress") or {}).get("errors") or []
    return end.get("reason") == "error" and any(
        error.get("level") == "global" and error.get("failure_type") == "auth_error"
        for error in errors
    )


def outcome_word(end: dict[str, Any], stream_counts: dict[str, int]) -> str | None:
    """The end reason, or ``finished with errors`` for a call that ended with failed streams."""
    reason = end.get("reason")
    if reason in ("complete", "time_limit", "state_limit") and stream_counts.get("failed"):
        return "finished with errors"
    return reason


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def status_counts(counts: dict[str, int]) -> str:
    """``"48 complete, 1 failed, 1 started"``: counts per status, in status order."""
    return ", ".join(f"{count} {status}" for status, count in sorted(counts.items()))


def error_text(error: dict[str, Any]) -> str:
    hint = f" (hint: {error['hint']})" if error.get("hint") else ""
    return f"{error['level']} {error['failure_type']}: {error['message']}{hint}"


def summary_lines(view: RunView) -> list[str]:
    """The final summary: outcome, counts, writes, per-status stream (and account) counts, and
    the last error of each failed stream or account."""
    writes = view.writes
    lines = [
        f"{view.outcome or 'stopped'}: {view.record_count:,} records in "
        f"{format_duration(view.elapsed_s)} ({view.records_per_second:,.0f}/s), "
        f"{view.request_count:,} requests",
        f"writes: {writes.get('inserted', 0):,} inserted, {writes.get('updated', 0):,} updated, "
        f"{writes.get('unchanged', 0):,} unchanged, {writes.get('deleted', 0):,} deleted",
        "streams: " + status_counts(view.stream_counts),
    ]
    if view.account_counts:
        lines.append("accounts: " + status_counts(view.account_counts))
    if view.has_more:
        lines.append("more to do: run the same command again to continue")
    for row in view.rows:
        for error in row.errors[-1:]:
            lines.append(f"{row.name}: {error_text(error)}")
    for account in view.accounts:
        if account.failure is not None:
            lines.append(f"{account.account}: {error_text(account.failure)}")
    return lines
