"""Plain progress lines for a stderr that is not a terminal: one per stream transition (with
connected accounts, one per account transition and per failed account-stream) and a summary line
every ten seconds, never an ANSI escape code."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TextIO

from stripe_sync.display.rows import AccountRow
from stripe_sync.display.state import DisplayState
from stripe_sync.display.view import (
    build_view,
    error_text,
    format_duration,
    status_counts,
    summary_lines,
)

SUMMARY_EVERY_S = 10.0


def account_line(row: AccountRow) -> str:
    line = (
        f"{row.account}: {row.status}, {row.streams_done} of {row.streams_total} streams done, "
        f"{row.record_count:,} records"
    )
    if row.failure is not None:
        line += f" ({error_text(row.failure)})"
    return line


class PlainDisplay:
    def __init__(self, stream: TextIO, clock: Callable[[], float] = time.monotonic) -> None:
        self.stream = stream
        self.clock = clock
        self.state = DisplayState()
        self.last_summary = clock()

    def _print(self, line: str) -> None:
        self.stream.write(line + "\n")
        self.stream.flush()

    def update(self, state: DisplayState) -> None:
        previous = self.state
        self.state = state
        entries = (state.progress or {}).get("streams", {})
        for name in state.stream_keys():
            status = state.stream_status(name)
            entry = entries.get(name, {})
            if entry.get("account") and status != "failed":
                continue  # an account-stream shows in its account's line unless it failed
            if status != previous.stream_status(name) and status != "pending":
                detail = f" ({entry['reason']})" if entry.get("reason") else ""
                self._print(f"{name}: {status}, {entry.get('record_count', 0):,} records{detail}")
        view = build_view(state)
        for account in view.accounts:
            status = account.status
            if status != previous.account_status(account.account) and status != "pending":
                self._print(account_line(account))
        new_notes = min(state.note_count - previous.note_count, len(state.notes))
        for note in state.notes[len(state.notes) - new_notes :] if new_notes else ():
            self._print(note)
        now = self.clock()
        if now - self.last_summary >= SUMMARY_EVERY_S and not state.finished:
            self.last_summary = now
            self._print(
                f"progress: {view.record_count:,} records, {view.request_count:,} requests, "
                f"{view.window_records_per_second:,.0f} rec/s, elapsed {format_duration(view.elapsed_s)}"
            )
            if view.account_counts:
                self._print("accounts: " + status_counts(view.account_counts))
            if view.live is not None:
                self._print(view.live.line())
        if state.finished and not previous.finished:
            for line in summary_lines(view):
                self._print(line)
