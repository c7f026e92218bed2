"""A live call's own figures from the run's progress.

Streamed ``progress`` messages carry the run's counts (protocol.md), and a live call continues
the run its backfill finished, so its records, requests, elapsed time and average would be the
backfill's plus its own. The service shows what the live call did: the first ``progress`` of a
call comes before any data (right after the catalog), so subtracting it from each later one gives
the call's counts; the rates are recomputed over the call's elapsed time. The window rate and the
lifetime totals are already the call's and the pipeline's.
"""

from __future__ import annotations

from typing import Any

COUNTS = ("record_count", "state_count", "request_count", "retry_count", "rate_limited_count")
STREAM_COUNTS = ("record_count", "state_count", "request_count")


def _rate(count: float, seconds: float) -> float:
    return round(count / seconds, 3) if seconds > 0 else 0.0


def _minus(now: dict[str, Any], base: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    return {key: int(now.get(key, 0)) - int(base.get(key, 0)) for key in keys if key in now}


def call_figures(progress: dict[str, Any], start: dict[str, Any]) -> dict[str, Any]:
    """``progress`` (the run's) with the counts of ``start`` (the call's first) taken away."""
    elapsed_ms = int(progress.get("elapsed_ms", 0)) - int(start.get("elapsed_ms", 0))
    seconds = elapsed_ms / 1000
    counts = _minus(progress, start, COUNTS)
    base_writes = start.get("writes") or {}
    writes = {
        k: int(v) - int(base_writes.get(k, 0)) for k, v in (progress.get("writes") or {}).items()
    }
    base_streams = start.get("streams") or {}
    streams = {
        key: {**entry, **_minus(entry, base_streams.get(key) or {}, STREAM_COUNTS)}
        for key, entry in (progress.get("streams") or {}).items()
    }
    figures = {
        **progress,
        **counts,
        "elapsed_ms": elapsed_ms,
        "records_per_second": _rate(counts.get("record_count", 0), seconds),
        "requests_per_second": _rate(counts.get("request_count", 0), seconds),
        "writes": writes,
        "streams": streams,
    }
    live = progress.get("live")
    if live is not None:
        events = int(live.get("event_count", 0)) - int(
            (start.get("live") or {}).get("event_count", 0)
        )
        figures["live"] = {
            **live,
            "event_count": events,
            "events_per_second": _rate(events, seconds),
        }
    return figures
