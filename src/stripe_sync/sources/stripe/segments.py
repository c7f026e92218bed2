"""Segments of a time-range backfill: pieces of ``[gte, lt)`` (unix seconds) still to fetch.

Stripe lists newest first, so a segment is fetched from ``lt`` down towards ``gte``; its ``cursor``
is the id of the last object emitted, and everything in ``[gte, t]`` (``t`` = that object's
``created``, including more objects of second ``t``) is still to fetch. This module holds the pure
maths: the state format, reconciling a saved state with the run's range, and splitting.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

from stripe_sync.protocol.ranges import format_time, parse_time

PAGE_SIZE = 100
MIN_PAGES_PER_PIECE = 6.0
MAX_PARTS_PER_SPLIT = 3
"""A split hands out at most three new pieces; more follow as their pages prove dense, so the
number of segments (each ending in a partial page) grows only where the data is."""


@dataclass(eq=False)
class Segment:
    """``[gte, lt)`` with the pagination position: ``fetched`` objects so far, the oldest of them
    created at ``low`` (the cursor's second), and the density of the latest page."""

    gte: int
    lt: int
    cursor: str | None = None
    fetched: int = 0
    low: int | None = None
    recent_density: float = 0.0

    def to_state(self) -> dict[str, Any]:
        entry: dict[str, Any] = {"gte": format_time(self.gte), "lt": format_time(self.lt)}
        if self.cursor is not None:
            entry["cursor"] = self.cursor
        return entry

    @classmethod
    def from_state(cls, entry: dict[str, Any]) -> Segment:
        return cls(parse_time(entry["gte"]), parse_time(entry["lt"]), entry.get("cursor"))

    def observe_page(self, count: int, cursor: str, newest: int, oldest: int) -> None:
        """Advance past a page of ``count`` objects created between ``oldest`` and ``newest``."""
        oldest = min(max(oldest, self.gte), self.lt - 1)
        top = self.low if self.low is not None else min(max(newest, oldest), self.lt - 1)
        self.recent_density = count / max(1, top - oldest)
        self.cursor = cursor
        self.fetched += count
        self.low = oldest

    def expected_below(self, t: int) -> float:
        """Objects expected in ``[gte, t)`` at the density of the latest page: the nearest
        evidence of what lies below (Stripe accounts grow, so older data is rarely denser)."""
        return self.recent_density * (t - self.gte)


def backfill_state(total: tuple[int, int], remaining: list[Segment]) -> dict[str, Any]:
    """A stream's source state: the range it covers and the segments still to fetch."""
    return {
        "range": {"gte": format_time(total[0]), "lt": format_time(total[1])},
        "remaining": [segment.to_state() for segment in sorted(remaining, key=lambda s: -s.lt)],
    }


def reconcile(saved: Any, gte: int, lt: int) -> list[Segment]:
    """Segments to fetch for ``[gte, lt)`` given the stream's saved state.

    Unfinished pieces inside the range are kept (with their cursor unless clipped from above),
    the part the saved state never covered is added, and nothing outside the range is fetched.
    """
    if not isinstance(saved, dict) or "range" not in saved:
        return [Segment(gte, lt)] if gte < lt else []
    saved_gte = parse_time(saved["range"]["gte"])
    saved_lt = parse_time(saved["range"]["lt"])
    segments: list[Segment] = []
    for entry in saved.get("remaining") or []:
        piece = Segment.from_state(entry)
        low, high = max(piece.gte, gte), min(piece.lt, lt)
        if low < high:
            cursor = piece.cursor if high == piece.lt else None
            segments.append(Segment(low, high, cursor))
    if gte < min(saved_gte, lt):
        segments.append(Segment(gte, min(saved_gte, lt)))
    if max(saved_lt, gte) < lt:
        segments.append(Segment(max(saved_lt, gte), lt))
    return segments


def plan_split(segment: Segment, t: int, idle: int) -> tuple[int, list[Segment]] | None:
    """Split ``segment``'s unfetched ``[gte, t]`` for ``idle`` waiting workers.

    Returns the new lower bound ``s`` (≤ t) the running pagination keeps (with its cursor) and the
    new segments covering ``[gte, s)``, or None when the remainder is too small to share: each
    piece should hold at least ``MIN_PAGES_PER_PIECE`` pages by the density seen so far.
    """
    if idle <= 0 or t <= segment.gte:
        return None
    expected = segment.expected_below(t)
    parts = min(
        idle + 1,
        MAX_PARTS_PER_SPLIT,
        int(expected / (PAGE_SIZE * MIN_PAGES_PER_PIECE)),
        t - segment.gte + 1,
    )
    if parts < 2:
        return None
    bounds = [segment.gte + (t - segment.gte) * i // parts for i in range(parts + 1)]
    bounds[-1] = t
    keep_from = bounds[-2] if bounds[-2] > segment.gte else t
    pieces = [Segment(low, high) for low, high in itertools.pairwise(bounds[:-1]) if low < high]
    if not pieces:
        return None
    return keep_from, pieces
