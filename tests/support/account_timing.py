"""How long each connected account took against its fair share, from a sync's streamed progress.

An account started at the first progress showing one of its streams started and finished at the
first showing all of them terminal (a finished stream shows once the destination confirmed its
records). Its pages are its list requests; its fair time is 2 * pages ÷ (budget ÷ accounts with
work left when it started). Used by the connected-accounts test and benchmark.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

TERMINAL = ("complete", "failed", "skipped")


@dataclass(frozen=True)
class AccountTiming:
    account: str
    pages: int
    took_s: float
    fair_s: float
    small: bool
    """At most 1 % of all accounts' pages."""


def account_timings(
    arrivals: list[tuple[float, dict[str, Any]]], budget: float
) -> list[AccountTiming]:
    """Timings of every account in the run; ``arrivals`` are (monotonic time, message)."""
    progress = arrivals[-1][1]["end"]["run_progress"]
    keys: dict[str, list[str]] = {}
    pages: dict[str, int] = {}
    for key, entry in progress["streams"].items():
        keys.setdefault(entry["account"], []).append(key)
        pages[entry["account"]] = pages.get(entry["account"], 0) + entry["request_count"]
    started: dict[str, float] = {}
    finished: dict[str, float] = {}
    for at, message in arrivals:
        if message["type"] != "progress":
            continue
        streams = message["progress"]["streams"]
        for account, own in keys.items():
            statuses = [(streams.get(key) or {}).get("status", "pending") for key in own]
            if account not in started and any(s != "pending" for s in statuses):
                started[account] = at
            if account not in finished and all(s in TERMINAL for s in statuses):
                finished[account] = at
    total = sum(pages.values())
    timings = []
    for account in keys:
        left = sum(1 for other in keys if finished[other] > started[account])
        timings.append(
            AccountTiming(
                account=account,
                pages=pages[account],
                took_s=finished[account] - started[account],
                fair_s=2 * pages[account] / (budget / left),
                small=pages[account] <= total / 100,
            )
        )
    return timings
