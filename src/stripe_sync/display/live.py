"""The rich live view on stderr: header, stream rows with coverage bars (with connected accounts,
account rows with their running and failed streams under them), collapsed counts, summary.

Redraws at most five times a second and always shows the latest state (the reducer's output is
swapped in; rich refreshes on its own clock).
"""

from __future__ import annotations

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from stripe_sync.display.rows import AccountRow, StreamRow
from stripe_sync.display.state import DisplayState
from stripe_sync.display.view import (
    RunView,
    build_view,
    error_text,
    format_duration,
    status_counts,
    summary_lines,
)

REFRESH_PER_SECOND = 5
HEADER_LINES = 9
"""Lines around the rows: header (3), column titles, collapsed counts, margin."""
COLUMNS = (
    ("stream", "left"),
    ("status", "left"),
    ("records", "right"),
    ("rec/s", "right"),
    ("coverage", "left"),
    ("%", "right"),
    ("eta", "right"),
)
ACCOUNT_COLUMNS = (
    ("account", "left"),
    ("status", "left"),
    ("streams", "right"),
    ("records", "right"),
    ("rec/s", "right"),
    ("coverage", "left"),
    ("%", "right"),
    ("eta", "right"),
)
STATUS_STYLE = {
    "started": "cyan",
    "complete": "green",
    "failed": "bold red",
    "skipped": "yellow",
    "pending": "dim",
}


def _header(view: RunView) -> Text:
    rate = f"{view.budget_rps:g}/s" if view.budget_rps else "unlimited"
    writes = view.writes
    text = Text()
    text.append(f"pipeline {view.pipeline}", style="bold")
    text.append(f"  run {view.sync_run_id[:8]}  elapsed {format_duration(view.elapsed_s)}\n")
    text.append(
        f"records {view.record_count:,} (lifetime {view.lifetime_records:,})  "
        f"written +{writes.get('inserted', 0):,} ~{writes.get('updated', 0):,} "
        f"={writes.get('unchanged', 0):,} -{writes.get('deleted', 0):,}\n"
    )
    text.append(
        f"{view.records_per_second:,.0f} rec/s (10 s: {view.window_records_per_second:,.0f})  "
        f"requests {view.request_count:,}  rate {rate}  "
        f"429s {view.rate_limited_count}  retries {view.retry_count}"
    )
    if view.eta_seconds is not None:
        text.append(f"  eta {format_duration(view.eta_seconds)}")
    if view.live is not None:
        text.append("\n" + view.live.line(), style="magenta")
    return text


def _new_table(columns: tuple[tuple[str, str], ...]) -> Table:
    table = Table(box=None, pad_edge=False, expand=False)
    for column, justify in columns:
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    return table


def _coverage_cells(coverage: float | None, status: str) -> tuple[ProgressBar, str]:
    fraction = coverage if coverage is not None else (1.0 if status == "complete" else 0.0)
    return ProgressBar(total=1.0, completed=fraction, width=20), f"{fraction * 100:.0f}"


def _stream_cells(row: StreamRow, indent: str = "") -> list[RenderableType]:
    return [
        indent + row.name,
        Text(row.status, style=STATUS_STYLE.get(row.status, "")),
        f"{row.record_count:,}",
        f"{row.records_per_second:,.0f}",
        *_coverage_cells(row.coverage, row.status),
        format_duration(row.eta_seconds) if row.status == "started" else "",
    ]


def _table(view: RunView) -> Table:
    table = _new_table(COLUMNS)
    for row in view.rows:
        table.add_row(*_stream_cells(row))
        for error in row.errors[-2:]:
            table.add_row(Text(f"  {error_text(error)}", style="red"))
    return table


def _account_table(accounts: tuple[AccountRow, ...]) -> Table:
    table = _new_table(ACCOUNT_COLUMNS)
    for account in accounts:
        table.add_row(
            Text(account.account, style="bold"),
            Text(account.status, style=STATUS_STYLE.get(account.status, "")),
            f"{account.streams_done}/{account.streams_total}",
            f"{account.record_count:,}",
            f"{account.records_per_second:,.0f}",
            *_coverage_cells(account.coverage, account.status),
            "",
        )
        for row in account.streams:
            cells = _stream_cells(row, indent="  ")
            table.add_row(*cells[:2], "", *cells[2:])
        if account.more_streams:
            table.add_row(Text(f"  + {account.more_streams} more running", style="dim"))
    return table


def _account_errors(accounts: tuple[AccountRow, ...]) -> list[Text]:
    """The last error of each failed account, a line each, cut to the terminal's width."""
    return [
        Text(
            f"{account.account}: {error_text(account.failure)}",
            style="red",
            no_wrap=True,
            overflow="ellipsis",
        )
        for account in accounts
        if account.failure is not None
    ]


def render(state: DisplayState, height: int) -> RenderableType:
    """The whole live view of ``state`` for a terminal ``height`` lines tall."""
    summary = summary_lines(build_view(state)) if state.finished else []
    live_line = 1 if (state.progress or {}).get("live") else 0
    reserved = HEADER_LINES + live_line + len(state.notes) + len(summary)
    view = build_view(state, max_rows=max(3, height - reserved))
    parts: list[RenderableType] = [_header(view)]
    if view.accounts:
        parts.append(_account_table(view.accounts))
        parts.extend(_account_errors(view.accounts))
    if view.collapsed_accounts:
        parts.append(Text(f"+ accounts: {status_counts(view.collapsed_accounts)}", style="dim"))
    if view.rows or not view.accounts:
        parts.append(_table(view))
    if view.collapsed:
        parts.append(Text(f"+ {status_counts(view.collapsed)}", style="dim"))
    parts.extend(Text(note, style="yellow") for note in state.notes)
    if summary:
        parts.append(Text("\n".join(summary), style="bold"))
    return Group(*parts)


class LiveDisplay:
    """Keeps a rich ``Live`` on the console showing the latest state."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.state = DisplayState()
        self.live = Live(
            console=console,
            refresh_per_second=REFRESH_PER_SECOND,
            transient=False,
            get_renderable=lambda: render(self.state, self.console.height),
        )

    def __enter__(self) -> LiveDisplay:
        self.live.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.live.refresh()
        self.live.stop()

    def update(self, state: DisplayState) -> None:
        self.state = state
