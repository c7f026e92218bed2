"""The concurrency limit of a read: at most ``limit`` streams run at once, and a freed slot goes
to the waiting stream with the smallest priority.

Priorities are ``(account rank, stream rank)``: once an account has started, its remaining streams
come before any stream of a later account, so an account that began is not starved by the ones
behind it, and small accounts finish in the order they started. A single-account read uses
``(0, stream rank)``, which is plain catalog order.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

Priority = tuple[int, int]


class StreamSlots:
    def __init__(self, limit: int) -> None:
        self.free = limit
        self.waiting: list[tuple[Priority, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    @asynccontextmanager
    async def slot(self, priority: Priority) -> AsyncIterator[None]:
        """Hold one slot for the body's duration (waiting for it by ``priority``)."""
        if self.free > 0 and not self.waiting:
            self.free -= 1
        else:
            granted: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            heapq.heappush(self.waiting, (priority, next(self._order), granted))
            try:
                await granted
            except asyncio.CancelledError:
                if granted.done() and not granted.cancelled():
                    self._release()  # handed over just as the waiter was cancelled
                raise
        try:
            yield
        finally:
            self._release()

    def _release(self) -> None:
        while self.waiting:
            _, _, granted = heapq.heappop(self.waiting)
            if not granted.done():
                granted.set_result(None)
                return
        self.free += 1
