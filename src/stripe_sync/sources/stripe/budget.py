"""The request budget: one pacer shared by every stream (and account) of a source.

Requests are granted evenly spaced at the account's pace and at each endpoint's
(:mod:`.rate_control`: just under ``rate`` and ``endpoint_rate``, or under the limits learnt from
the server's 429s), and never more in flight than a learnt concurrency cap, round-robin between
the streams that are waiting, so a big stream cannot starve small ones. Streams belong to a group
(a connected account; one group for a single account): the round-robin goes over the groups first,
then over the streams of a group, so every account with work waiting gets an equal share whatever
the number of its streams.

The client reports every answer (:meth:`RequestBudget.answered`) and every 429 with its
``Stripe-Rate-Limited-Reason`` (:meth:`RequestBudget.rate_limited`): ``global-rate`` slows the
account, ``endpoint-rate`` only that endpoint, ``global-concurrency`` lowers the concurrency cap and
leaves the rates alone, and ``resource-specific`` (one object locked by a write) changes nothing. A
``Retry-After`` pauses every grant. A rate of 0 means unlimited until the server says otherwise.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field

from stripe_sync.sources.stripe.rate_control import MARGIN, ConcurrencyCap, Pace


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
        self.account = Pace(rate if rate > 0 else math.inf, clock())
        self.endpoints: dict[str, Pace] = {}
        self.concurrency = ConcurrencyCap()
        self.groups: OrderedDict[str, OrderedDict[str, _Queue]] = OrderedDict()
        self.paused_until = 0.0
        self.rate_limited_count = 0
        self._wakeup = asyncio.Event()
        self._awaiting_answer = False
        """Streams wait, and only an answer can let one go (concurrency cap, full window)."""
        self._dispatcher: asyncio.Task[None] | None = None

    @property
    def current_rps(self) -> float:
        """The account rate in force now (0 = unlimited)."""
        rate = self.account.rate
        return 0.0 if math.isinf(rate) else round(rate, 2)

    @property
    def learnt_rps(self) -> float | None:
        """The account limit learnt from the server's 429s, None while none was met."""
        return self.account.ceiling if self.account.learnt else None

    def endpoint_rps(self, endpoint: str) -> float:
        """The rate in force for ``endpoint`` (0 = unlimited)."""
        pace = self.endpoints.get(endpoint)
        rate = pace.rate if pace is not None else self._endpoint_limit() * (1 - MARGIN)
        return 0.0 if math.isinf(rate) else rate

    def _endpoint_limit(self) -> float:
        return self.endpoint_rate if self.endpoint_rate > 0 else math.inf

    def _unpaced(self) -> bool:
        """True while nothing limits a grant: no rate configured and no 429 met."""
        return (
            self.rate_limited_count == 0
            and math.isinf(self.account.rate)
            and (self.endpoint_rate <= 0)
        )

    async def acquire(self, stream: str, endpoint: str, group: str = "") -> None:
        """Wait until a request of ``stream`` (of ``group``) to ``endpoint`` may be sent; the
        caller reports its answer with :meth:`answered`."""
        if self._unpaced():
            self.concurrency.in_flight += 1
            self.account.take(self.clock())
            self._endpoint(endpoint, self.clock()).take(self.clock())
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
            if waiter.future.done() and not waiter.future.cancelled():
                self.answered(endpoint, False)  # granted just as the waiter was cancelled
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

    def answered(self, endpoint: str, accepted: bool, round_trip: float | None = None) -> None:
        """A granted request is over after ``round_trip`` seconds; ``accepted``: the server took
        it (any answer but a 429)."""
        now = self.clock()
        self.concurrency.in_flight -= 1
        self.account.record_answer(now, accepted, round_trip)
        self._endpoint(endpoint, now).record_answer(now, accepted, round_trip)
        if self._awaiting_answer:
            self._awaiting_answer = False
            self._wakeup.set()

    def rate_limited(
        self, endpoint: str = "", reason: str | None = None, retry_after: float | None = None
    ) -> None:
        """A 429 arrived for ``endpoint`` (before :meth:`answered` for it): slow down what its
        ``Stripe-Rate-Limited-Reason`` names, and pause for ``Retry-After`` when given."""
        now = self.clock()
        self.rate_limited_count += 1
        if reason == "endpoint-rate":
            self._endpoint(endpoint, now).record_limited(now)
        elif reason == "global-concurrency":
            self.concurrency.record_limited(now)
        elif reason != "resource-specific":
            self.account.record_limited(now)
        if retry_after:
            self.paused_until = max(self.paused_until, now + retry_after)

    def _endpoint(self, endpoint: str, now: float) -> Pace:
        pace = self.endpoints.get(endpoint)
        if pace is None:
            pace = self.endpoints[endpoint] = Pace(self._endpoint_limit(), now)
        return pace

    def _next_grant(self, now: float) -> tuple[float, tuple[str, str] | None]:
        """Seconds until the next waiter may go, and its (group, stream), in round-robin order;
        no waiter while the concurrency cap is reached (an answer wakes the dispatcher)."""
        if self.concurrency.full(now):
            return float("inf"), None
        best_wait: float = float("inf")
        best: tuple[str, str] | None = None
        account_wait = max(self.paused_until - now, 0.0, self.account.wait_time(now))
        endpoint_waits: dict[str, float] = {}  # many accounts' streams share an endpoint
        for group, streams in self.groups.items():
            for stream, queue in streams.items():
                endpoint = queue.waiters[0].endpoint
                endpoint_wait = endpoint_waits.get(endpoint)
                if endpoint_wait is None:
                    endpoint_wait = self._endpoint(endpoint, now).wait_time(now)
                    endpoint_waits[endpoint] = endpoint_wait
                wait = max(account_wait, endpoint_wait)
                if wait < best_wait:
                    best_wait, best = wait, (group, stream)
        return best_wait, best

    async def _dispatch(self) -> None:
        while True:
            now = self.clock()
            wait, chosen = self._next_grant(now)
            if chosen is None:
                self._awaiting_answer = bool(self.groups)
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
            self.account.take(now)
            self._endpoint(waiter.endpoint, now).take(now)
            self.concurrency.in_flight += 1
            waiter.future.set_result(None)

    async def close(self) -> None:
        if self._dispatcher is not None:
            self._dispatcher.cancel()
            await asyncio.gather(self._dispatcher, return_exceptions=True)
