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
MIN_PAGES_PER_PIECE = 2.0


@dataclass(eq=False)
class Segment:
    """``[gte, lt)`` with the pagination position: ``fetched`` objects so far, created between
    ``low`` (the cursor's second) and ``high`` (the newest one)."""

    gte: int
    lt: int
    cursor: str | None = None
    fetched: int = 0
    low: int | None = None
    high: int | None = None

    def to_state(self) -> dict[str, Any]:
        entry: dict[str, Any] = {"gte": format_time(self.gte), "lt": format_time(self.lt)}
        if self.cursor is not None:
            entry["cursor"] = self.cursor
        return entry

    @classmethod
    def from_state(cls, entry: dict[str, Any]) -> Segment:
        return cls(parse_time(entry["gte"]), parse_time(entry["lt"]), entry.get("cursor"))

    def expected_below(self, t: int) -> float:
        """Objects expected in ``[gte, t)``, from the density this segment has shown so far
        (measured from its newest object, so an empty stretch below ``lt`` does not dilute it)."""
        top = self.high if self.high is not None else self.lt
        covered = max(1, top - t)
        return self.fetched / covered * (t - self.gte)


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
    parts = min(idle + 1, int(expected / (PAGE_SIZE * MIN_PAGES_PER_PIECE)), t - segment.gte + 1)
    if parts < 2:
        return None
    bounds = [segment.gte + (t - segment.gte) * i // parts for i in range(parts + 1)]
    bounds[-1] = t
    keep_from = bounds[-2] if bounds[-2] > segment.gte else t
    pieces = [Segment(low, high) for low, high in itertools.pairwise(bounds[:-1]) if low < high]
    if not pieces:
        return None
    return keep_from, pieces
