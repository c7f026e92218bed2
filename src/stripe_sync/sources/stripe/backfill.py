"""Parallel adaptive backfill of one time-range stream.

Workers take segments from a pool, largest first, and page them newest first. When a page comes
back with ``has_more`` and workers are idle, the segment's unfetched ``[gte, t]`` is split: the
running pagination keeps its cursor and the newest piece (which holds second ``t``), the older
pieces go to the pool. Splits need the density seen so far to promise at least two pages per
piece, so sparse ranges are not carved into empty requests, and a segment about to finish takes
over the unstarted piece right below it instead of ending in a partial page. The number of busy workers follows
the stream's share of the request budget times the observed latency. After every page the stream's
state lists every unfinished segment with the cursor of its last emitted page.
"""

from __future__ import annotations

import asyncio
from typing import Any

from stripe_sync.protocol.ranges import make_range
from stripe_sync.sources.stripe.segments import (
    PAGE_SIZE,
    Segment,
    backfill_state,
    plan_split,
    reconcile,
)
from stripe_sync.sources.stripe.stream_context import MAX_WORKERS, StreamContext


class TimeRangeBackfill:
    """Backfills ``[gte, lt)`` of one stream; see the module docstring."""

    def __init__(self, context: StreamContext, gte: int, lt: int, saved: Any) -> None:
        self.context = context
        self.total = (gte, lt)
        self.pool: list[Segment] = reconcile(saved, gte, lt)
        self.active: set[Segment] = set()
        self.changed = asyncio.Condition()
        self.failure: BaseException | None = None

    @property
    def done(self) -> bool:
        return not self.pool and not self.active

    def idle_workers(self) -> int:
        return max(0, self.context.desired_in_flight() - len(self.active) - len(self.pool))

    async def run(self) -> None:
        workers = [asyncio.create_task(self._work()) for _ in range(MAX_WORKERS)]
        try:
            await asyncio.gather(*workers)
        finally:
            for worker in workers:
                worker.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
        if self.failure is not None:
            raise self.failure
        await self.context.emit_state(backfill_state(self.total, []))

    async def _take(self) -> Segment | None:
        async with self.changed:
            while True:
                if self.failure is not None or self.done:
                    self.changed.notify_all()
                    return None
                if self.pool and len(self.active) < self.context.desired_in_flight():
                    segment = max(self.pool, key=lambda s: s.lt - s.gte)
                    self.pool.remove(segment)
                    self.active.add(segment)
                    return segment
                await self.changed.wait()

    async def _work(self) -> None:
        while (segment := await self._take()) is not None:
            try:
                await self._page(segment)
            except Exception as exc:
                self.failure = self.failure or exc
            async with self.changed:
                self.changed.notify_all()

    def _absorb_piece_below(self, segment: Segment) -> None:
        """Extend a nearly finished segment over the unstarted piece right below it, so the
        boundary between them costs no partial page."""
        assert segment.low is not None
        if segment.expected_below(segment.low) >= PAGE_SIZE:
            return
        below = next((p for p in self.pool if p.lt == segment.gte and p.cursor is None), None)
        if below is not None:
            self.pool.remove(below)
            segment.gte = below.gte

    async def _page(self, segment: Segment) -> None:
        """Fetch one page of ``segment``, emit it, split or finish, and emit the state."""
        context = self.context
        stream = context.stream
        assert stream.time_filter is not None and stream.created_field is not None
        params: dict[str, Any] = {
            **stream.default_params,
            stream.time_filter.gte_param: segment.gte,
            stream.time_filter.lt_param: segment.lt,
            "limit": PAGE_SIZE,
        }
        if segment.cursor is not None:
            params["starting_after"] = segment.cursor
        response = await context.get(stream.list_path, params)
        if self.failure is not None:
            return
        objects: list[dict[str, Any]] = response.body.get("data") or []
        await context.emit_objects(response, objects)
        has_more = bool(response.body.get("has_more")) and bool(objects)
        finished: Segment | None = None
        if objects:
            oldest = int(objects[-1].get(stream.created_field) or segment.gte)
            newest = int(objects[0].get(stream.created_field) or oldest)
            segment.observe_page(len(objects), objects[-1]["id"], newest, oldest)
        if has_more:
            assert segment.low is not None
            split = plan_split(segment, segment.low, self.idle_workers())
            if split is not None:
                keep_from, pieces = split
                segment.gte = keep_from
                self.pool.extend(pieces)
            else:
                self._absorb_piece_below(segment)
            self.active.discard(segment)
            self.pool.append(segment)
        else:
            self.active.discard(segment)
            finished = segment
        if finished is not None:
            completed = make_range(finished.gte, finished.lt)
            await context.emit_status("range_complete", range=completed)
        if not self.done:
            await context.emit_state(backfill_state(self.total, [*self.pool, *self.active]))
