"""Range maths on half-open time ranges ``{"gte"?: ISO, "lt": ISO}``.

Protocol ranges carry ISO-8601 UTC strings with second precision; the maths works on unix seconds.
An absent ``gte`` means "from the beginning" and sorts before every time.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

Range = dict[str, Any]


@functools.lru_cache(maxsize=8192)
def parse_time(value: str) -> int:
    """Parse an ISO-8601 time (``Z`` or offset; naive means UTC) into unix seconds (cached: the
    same range bounds are read again by every progress snapshot)."""
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp())


def format_time(seconds: int | float) -> str:
    """Format unix seconds as ``YYYY-MM-DDTHH:MM:SSZ`` (second precision, UTC)."""
    return datetime.fromtimestamp(int(seconds), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def make_range(gte: int | None, lt: int) -> Range:
    """Build a protocol range from unix seconds; ``gte=None`` leaves the lower bound open."""
    if gte is None:
        return {"lt": format_time(lt)}
    return {"gte": format_time(gte), "lt": format_time(lt)}


def range_bounds(value: Range) -> tuple[int | None, int]:
    """Return ``(gte, lt)`` in unix seconds; ``gte`` is ``None`` when open."""
    gte = value.get("gte")
    return (parse_time(gte) if gte is not None else None, parse_time(value["lt"]))


def merge_ranges(ranges: Iterable[Range]) -> list[Range]:
    """Merge overlapping or adjacent ranges; empty ranges vanish; the result is sorted."""
    return [make_range(gte, lt) for gte, lt in _merged_bounds(ranges)]


def _merged_bounds(ranges: Iterable[Range]) -> list[tuple[int | None, int]]:
    bounds = []
    for value in ranges:
        gte, lt = range_bounds(value)
        if gte is None or gte < lt:
            bounds.append((gte, lt))
    bounds.sort(key=lambda pair: (-(2**63) if pair[0] is None else pair[0], pair[1]))
    merged: list[tuple[int | None, int]] = []
    for gte, lt in bounds:
        if merged:
            last_gte, last_lt = merged[-1]
            if gte is None or gte <= last_lt:
                merged[-1] = (last_gte, max(last_lt, lt))
                continue
        merged.append((gte, lt))
    return merged


def coverage(completed: Iterable[Range], total: Range) -> float:
    """Fraction (0..1) of ``total`` covered by ``completed``, measured in seconds.

    A total range without ``gte`` cannot be measured: it counts as covered only when some completed
    range reaches back to the beginning and up to its end.
    """
    total_gte, total_lt = range_bounds(total)
    merged = _merged_bounds(completed)
    if total_gte is None:
        covered = any(gte is None and lt >= total_lt for gte, lt in merged)
        return 1.0 if covered else 0.0
    span = total_lt - total_gte
    if span <= 0:
        return 1.0
    inside = 0
    for gte, lt in merged:
        low = total_gte if gte is None else max(gte, total_gte)
        high = min(lt, total_lt)
        if high > low:
            inside += high - low
    return min(1.0, inside / span)
