"""The rows of a progress view and fitting them to a height.

A row is a stream, or a connected account with its running and failed streams listed under it
(at most ``STREAMS_UNDER_ACCOUNT``: failed ones first, then the least covered; the others are
counted). Running and failed rows are always shown; quiet ones (complete, skipped, pending) fill
the room that is left, and the rest collapse into counts per status.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

ROW_ORDER = {"failed": 0, "started": 1, "complete": 2, "skipped": 3, "pending": 4}
BUSY = ("started", "failed")
DONE = ("complete", "skipped")
STREAMS_UNDER_ACCOUNT = 4


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

    @property
    def height(self) -> int:
        return 1


@dataclass(frozen=True)
class AccountRow:
    """One connected account: its totals, and its running and failed streams (named without the
    account) under it."""

    account: str
    status: str
    streams_done: int
    streams_total: int
    record_count: int
    request_count: int
    records_per_second: float
    coverage: float | None
    last_error: dict[str, Any] | None
    streams: tuple[StreamRow, ...]
    more_streams: int = 0
    """Busy streams of the account not listed under it."""

    @property
    def failure(self) -> dict[str, Any] | None:
        """The error to show for the account: its last one, once the account failed."""
        return self.last_error if self.status == "failed" else None

    @property
    def height(self) -> int:
        """Its line, its streams' lines, the line counting the others, the line of its failure."""
        return 1 + len(self.streams) + (self.more_streams > 0) + (self.failure is not None)


class Row(Protocol):
    @property
    def status(self) -> str: ...

    @property
    def height(self) -> int: ...


R = TypeVar("R", bound=Row)


def _per_second(count: int, elapsed_s: float) -> float:
    return count / elapsed_s if elapsed_s > 0 else 0.0


def stream_row(name: str, entry: dict[str, Any], elapsed_s: float) -> StreamRow:
    records = int(entry.get("record_count", 0))
    return StreamRow(
        name=name,
        status=str(entry.get("status", "pending")),
        record_count=records,
        request_count=int(entry.get("request_count", 0)),
        records_per_second=_per_second(records, elapsed_s),
        coverage=entry.get("coverage"),
        eta_seconds=entry.get("eta_seconds"),
        reason=entry.get("reason"),
        errors=tuple(entry.get("errors") or ()),
    )


def account_rows(
    progress: dict[str, Any], elapsed_s: float, streams_per_account: int
) -> list[AccountRow]:
    """A row per account of ``progress["accounts"]``, with its busy account-streams under it.

    An account's stream total is the catalog's stream count, or the streams progress knows of
    the account when there are more."""
    busy: dict[str, list[StreamRow]] = {}
    for key, entry in progress.get("streams", {}).items():
        account = entry.get("account")
        if account and entry.get("status") in BUSY:
            name = key.removeprefix(f"{account}/")
            busy.setdefault(account, []).append(stream_row(name, entry, elapsed_s))
    rows = []
    for account, summary in (progress.get("accounts") or {}).items():
        counts = summary.get("streams") or {}
        records = int(summary.get("record_count", 0))
        errors = summary.get("errors") or []
        streams = sorted(busy.get(account, []), key=_most_telling)
        rows.append(
            AccountRow(
                account=account,
                status=str(summary["status"]),
                streams_done=sum(counts.get(status, 0) for status in DONE),
                streams_total=max(streams_per_account, sum(counts.values())),
                record_count=records,
                request_count=int(summary.get("request_count", 0)),
                records_per_second=_per_second(records, elapsed_s),
                coverage=summary.get("coverage"),
                last_error=errors[-1] if errors else None,
                streams=tuple(streams[:STREAMS_UNDER_ACCOUNT]),
                more_streams=max(0, len(streams) - STREAMS_UNDER_ACCOUNT),
            )
        )
    return rows


def _most_telling(row: StreamRow) -> tuple[int, float]:
    """Failed streams first, then the running ones furthest from done."""
    return ROW_ORDER[row.status], row.coverage if row.coverage is not None else 0.0


def fit(rows: Sequence[R], max_lines: int | None) -> tuple[list[R], Counter[str], int]:
    """The rows shown in ``max_lines`` lines (all without a limit), the counts per status of those
    collapsed, and the lines used (a count line included)."""
    ordered = sorted(rows, key=lambda row: ROW_ORDER.get(row.status, 5))
    shown = [row for row in ordered if row.status in BUSY]
    quiet = [row for row in ordered if row.status not in BUSY]
    used = sum(row.height for row in shown)
    room = None if max_lines is None else max(0, max_lines - used)
    if room is not None and sum(row.height for row in quiet) > room:
        room -= 1  # the line that counts the collapsed rows
    collapsed: Counter[str] = Counter()
    for row in quiet:
        if room is None or row.height <= room:
            shown.append(row)
            used += row.height
            room = None if room is None else room - row.height
        else:
            collapsed[row.status] += 1
    return shown, collapsed, used + (1 if collapsed else 0)
