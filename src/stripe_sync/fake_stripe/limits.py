"""Stripe's request limits as the fake applies them: token buckets or exact sliding windows,
concurrency, 429 bursts, and the lower limit of search and file listing.

Admission happens in this order, each refusal a 429 with ``Stripe-Rate-Limited-Reason`` (never a
``Retry-After``): a periodic burst window (``global-rate``), the concurrency limit
(``global-concurrency``), the account's rate (``global-rate``) and the endpoint's
(``endpoint-rate``). By default the rates are token buckets checked on arrival: a bucket holds at
most ``rate`` tokens (burst = rate) and a refused request takes none, so over any stretch of ``d``
seconds at most ``rate * d + rate`` requests are accepted. With ``sliding_window`` the rates are
checked after the latency instead, against the requests accepted in the last second: never more
than ``rate`` in any one-second window, the strictest server a client can meet. Search endpoints
and ``GET /v1/files`` allow at most 20 requests per second whenever a limit is on, as Stripe's do.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Protocol

from stripe_sync.fake_stripe import errors
from stripe_sync.fake_stripe.config import FakeStripeConfig

Clock = Callable[[], float]
SLOW_ENDPOINT_RATE = 20.0
"""Requests per second Stripe allows its search endpoints and the file list."""


def is_slow_endpoint(endpoint: str) -> bool:
    return endpoint == "GET /v1/files" or endpoint.endswith("/search")


class Limit(Protocol):
    def has_room(self) -> bool: ...

    def take(self) -> None: ...


class TokenBucket:
    """``rate`` tokens per second, holding at most ``rate`` (so a burst of ``rate`` requests)."""

    def __init__(self, rate: float, clock: Clock) -> None:
        self.rate = rate
        self._clock = clock
        self._tokens = rate
        self._updated = clock()

    def has_room(self) -> bool:
        now = self._clock()
        self._tokens = min(self.rate, self._tokens + (now - self._updated) * self.rate)
        self._updated = now
        return self._tokens >= 1.0

    def take(self) -> None:
        self._tokens -= 1.0


class SlidingWindow:
    """At most ``rate`` (rounded down) accepted requests within any one second."""

    def __init__(self, rate: float, clock: Clock) -> None:
        self.rate = rate
        self._limit = max(1, int(rate))
        self._clock = clock
        self._accepted: deque[float] = deque()

    def has_room(self) -> bool:
        now = self._clock()
        accepted = self._accepted
        while accepted and accepted[0] <= now - 1.0:
            accepted.popleft()
        return len(accepted) < self._limit

    def take(self) -> None:
        self._accepted.append(self._clock())


class Admission:
    """Decides whether a request is accepted, and counts the accepted ones in flight."""

    def __init__(self, config: FakeStripeConfig, clock: Clock = time.monotonic) -> None:
        self._clock = clock
        self._started = clock()
        self._burst = config.burst_429
        self._concurrency_limit = config.concurrency_limit
        self.after_latency = config.sliding_window
        """True: the rates are checked after the latency (:meth:`admit_rate`), not on arrival."""
        self._kind: type[SlidingWindow] | type[TokenBucket] = (
            SlidingWindow if config.sliding_window else TokenBucket
        )
        self._account: Limit | None = (
            self._kind(config.rate_limit, clock) if config.rate_limit > 0 else None
        )
        self._endpoint_rate = config.endpoint_rate_limit
        self._limits_on = config.rate_limit > 0 or config.endpoint_rate_limit > 0
        self._endpoints: dict[str, Limit] = {}
        self.in_flight = 0
        self.peak_in_flight = 0

    def admit(self, endpoint: str) -> None:
        """Accept a request for ``endpoint`` on arrival or raise the 429 Stripe would send."""
        if self._in_burst():
            raise errors.rate_limited("global-rate")
        if self._concurrency_limit and self.in_flight >= self._concurrency_limit:
            raise errors.rate_limited("global-concurrency")
        if not self.after_latency:
            self.admit_rate(endpoint)

    def admit_rate(self, endpoint: str) -> None:
        """Count ``endpoint``'s request against the account's and the endpoint's rate, or raise
        the 429 (a refused request counts against neither)."""
        limits: list[Limit] = []
        if self._account is not None:
            if not self._account.has_room():
                raise errors.rate_limited("global-rate")
            limits.append(self._account)
        endpoint_limit = self._endpoint_limit(endpoint)
        if endpoint_limit is not None:
            if not endpoint_limit.has_room():
                raise errors.rate_limited("endpoint-rate")
            limits.append(endpoint_limit)
        for limit in limits:
            limit.take()

    def _endpoint_limit(self, endpoint: str) -> Limit | None:
        limit = self._endpoints.get(endpoint)
        if limit is None:
            rate = self._endpoint_rate
            if self._limits_on and is_slow_endpoint(endpoint):
                rate = min(rate, SLOW_ENDPOINT_RATE) if rate > 0 else SLOW_ENDPOINT_RATE
            if rate <= 0:
                return None
            limit = self._endpoints[endpoint] = self._kind(rate, self._clock)
        return limit

    @contextmanager
    def running(self) -> Iterator[None]:
        """Count an accepted request as in flight until its answer is ready."""
        self.in_flight += 1
        self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        try:
            yield
        finally:
            self.in_flight -= 1

    def _in_burst(self) -> bool:
        """True in the last ``length_s`` seconds of every ``every_s`` seconds since the start."""
        if self._burst is None:
            return False
        elapsed = self._clock() - self._started
        return elapsed % self._burst.every_s >= self._burst.every_s - self._burst.length_s
