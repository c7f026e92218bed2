"""The request budget: one pacer shared by every stream (and account) of a source.

Requests are granted at most ``rate`` per second for the account (a token bucket with a small
burst) and at most ``endpoint_rate`` per second per endpoint, round-robin between the streams that
are waiting, so a big stream cannot starve small ones. Streams belong to a group (a connected
account; one group for a single account): the round-robin goes over the groups first, then over
the streams of a group, so every account with work waiting gets an equal share whatever the number
of its streams. On a 429 the account rate is halved (and
``Retry-After`` honoured); after a quiet period it climbs back by a tenth per second, up to the
configured rate. A rate of 0 means unlimited.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field

RECOVERY_DELAY_S = 1.0
RECOVERY_STEP = 0.1
MIN_RATE = 1.0
BURST_S = 0.25
"""Buckets hold a quarter second of requests, so a late wake-up of the pacer loses nothing."""


@dataclass
class _Bucket:
    """A token bucket: ``rate`` tokens per second, holding at most ``burst`` tokens."""

    rate: float
    burst: float
    tokens: float = 1.0
    updated: float = 0.0

    def refill(self, now: float) -> None:
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now

    def wait_time(self, now: float) -> float:
        self.refill(now)
        return 0.0 if self.tokens >= 1.0 else (1.0 - self.tokens) / self.rate


@dataclass
class _Waiter:
    endpoint: str
    future: asyncio.Future[None]


@dataclass
class _Queue:
    waiters: deque[_Waiter] = field(default_factory=deque)


class RequestBudget:
    """Grants permission to send requests; see the module docstring."""

    def __init__(
        self,
        rate: float,
        endpoint_rate: float = 25.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.configured_rate = rate
        self.endpoint_rate = endpoint_rate
        self.clock = clock
        now = clock()
        self.account = _Bucket(rate, self._burst(rate), 1.0, now) if rate > 0 else None
        self.endpoints: dict[str, _Bucket] = {}
        self.groups: OrderedDict[str, OrderedDict[str, _Queue]] = OrderedDict()
        self.paused_until = 0.0
        self.last_limited = -1e9
        self.last_recover = now
        self.rate_limited_count = 0
        self._wakeup = asyncio.Event()
        self._dispatcher: asyncio.Task[None] | None = None

    @staticmethod
    def _burst(rate: float) -> float:
        return max(1.0, rate * BURST_S)

    @property
    def current_rps(self) -> float:
        """The rate in force now (0 = unlimited)."""
        return round(self.account.rate, 2) if self.account else 0.0

    async def acquire(self, stream: str, endpoint: str, group: str = "") -> None:
        """Wait until a request of ``stream`` (of ``group``) to ``endpoint`` may be sent."""
        if self.account is None and self.endpoint_rate <= 0:
            return
        loop = asyncio.get_running_loop()
        waiter = _Waiter(endpoint, loop.create_future())
        streams = self.groups.setdefault(group, OrderedDict())
        streams.setdefault(stream, _Queue()).waiters.append(waiter)
        if self._dispatcher is None or self._dispatcher.done():
            self._dispatcher = loop.create_task(self._dispatch())
        self._wakeup.set()
        try:
            await waiter.future
        except asyncio.CancelledError:
            waiting = self.groups.get(group)
            queue = waiting.get(stream) if waiting is not None else None
            if queue is not None and waiter in queue.waiters:
                queue.waiters.remove(waiter)
                self._forget_if_idle(group, stream)
            raise

    def _forget_if_idle(self, group: str, stream: str) -> None:
        """Drop a stream without waiters (and its group when it was the last), so that a grant
        looks only at streams that wait; one that comes back queues at the end of the round."""
        streams = self.groups[group]
        if not streams[stream].waiters:
            del streams[stream]
            if not streams:
                del self.groups[group]

    def rate_limited(self, retry_after: float | None = None) -> None:
        """A 429 arrived: halve the account rate and pause for ``Retry-After`` when given."""
        now = self.clock()
        self.rate_limited_count += 1
        if self.account is not None and now - self.last_limited > 0.5:
            self.account.rate = max(MIN_RATE, self.account.rate / 2)
            self.account.burst = self._burst(self.account.rate)
            self.account.tokens = min(self.account.tokens, 0.0)
        self.last_limited = now
        if retry_after:
            self.paused_until = max(self.paused_until, now + retry_after)

    def _recover(self, now: float) -> None:
        elapsed = now - self.last_recover
        self.last_recover = now
        account = self.account
        if account is None or account.rate >= self.configured_rate:
            return
        if now - self.last_limited >= RECOVERY_DELAY_S:
            account.refill(now)
            step = self.configured_rate * RECOVERY_STEP * elapsed
            account.rate = min(self.configured_rate, account.rate + step)
            account.burst = self._burst(account.rate)

    def _endpoint(self, endpoint: str, now: float) -> _Bucket | None:
        if self.endpoint_rate <= 0:
            return None
        bucket = self.endpoints.get(endpoint)
        if bucket is None:
            burst = self._burst(self.endpoint_rate)
            bucket = self.endpoints[endpoint] = _Bucket(self.endpoint_rate, burst, 1.0, now)
        return bucket

    def _next_grant(self, now: float) -> tuple[float, tuple[str, str] | None]:
        """Seconds until the next waiter may go, and its (group, stream), in round-robin order."""
        best_wait: float = float("inf")
        best: tuple[str, str] | None = None
        account_wait = max(self.paused_until - now, 0.0)
        if self.account is not None:
            account_wait = max(account_wait, self.account.wait_time(now))
        for group, streams in self.groups.items():
            for stream, queue in streams.items():
                bucket = self._endpoint(queue.waiters[0].endpoint, now)
                wait = max(account_wait, bucket.wait_time(now) if bucket else 0.0)
                if wait < best_wait:
                    best_wait, best = wait, (group, stream)
        return best_wait, best

    async def _dispatch(self) -> None:
        while True:
            now = self.clock()
            self._recover(now)
            wait, chosen = self._next_grant(now)
            if chosen is None:
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            if wait > 0:
                self._wakeup.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wakeup.wait(), timeout=wait)
                continue
            group, stream = chosen
            streams = self.groups[group]
            waiter = streams[stream].waiters.popleft()
            streams.move_to_end(stream)
            self.groups.move_to_end(group)
            self._forget_if_idle(group, stream)
            if waiter.future.done():
                continue
            if self.account is not None:
                self.account.tokens -= 1.0
            bucket = self._endpoint(waiter.endpoint, now)
            if bucket is not None:
                bucket.tokens -= 1.0
            waiter.future.set_result(None)

    async def close(self) -> None:
        if self._dispatcher is not None:
            self._dispatcher.cancel()
            await asyncio.gather(self._dispatcher, return_exceptions=True)
