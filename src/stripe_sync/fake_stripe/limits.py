"""Stripe's request limits as the fake applies them: token buckets, concurrency, 429 bursts.

Admission happens in this order, each refusal a 429 with ``Stripe-Rate-Limited-Reason``: a periodic
burst window (``global-rate``), the concurrency limit (``global-concurrency``), the account's token
bucket (``global-rate``) and the endpoint's (``endpoint-rate``). Buckets hold at most ``rate``
tokens (burst = rate) and a refused request takes none, so over any stretch of ``d`` seconds at most
``rate * d + rate`` requests are accepted.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from stripe_sync.fake_stripe import errors
from stripe_sync.fake_stripe.config import FakeStripeConfig

Clock = Callable[[], float]


class TokenBucket:
    """``rate`` tokens per second, holding at most ``rate`` (so a burst of ``rate`` requests)."""

    def __init__(self, rate: float, clock: Clock) -> None:
        self.rate = rate
        self._clock = clock
        self._tokens = rate
        self._updated = clock()

    def has_token(self) -> bool:
        now = self._clock()
        self._tokens = min(self.rate, self._tokens + (now - self._updated) * self.rate)
        self._updated = now
        return self._tokens >= 1.0

    def take(self) -> None:
        self._tokens -= 1.0


class Admission:
    """Decides whether a request is accepted, and counts the accepted ones in flight."""

    def __init__(self, config: FakeStripeConfig, clock: Clock = time.monotonic) -> None:
        self._clock = clock
        self._started = clock()
        self._burst = config.burst_429
        self._concurrency_limit = config.concurrency_limit
        self._account = TokenBucket(config.rate_limit, clock) if config.rate_limit > 0 else None
        self._endpoint_rate = config.endpoint_rate_limit
        self._endpoints: dict[str, TokenBucket] = {}
        self.in_flight = 0
        self.peak_in_flight = 0

    def admit(self, endpoint: str) -> None:
        """Accept a request for ``endpoint`` or raise the 429 Stripe would send."""
        if self._in_burst():
            raise errors.rate_limited("global-rate")
        if self._concurrency_limit and self.in_flight >= self._concurrency_limit:
            raise errors.rate_limited("global-concurrency")
        buckets = []
        if self._account is not None:
            if not self._account.has_token():
                raise errors.rate_limited("global-rate")
            buckets.append(self._account)
        if self._endpoint_rate > 0:
            bucket = self._endpoints.get(endpoint)
            if bucket is None:
                bucket = self._endpoints[endpoint] = TokenBucket(self._endpoint_rate, self._clock)
            if not bucket.has_token():
                raise errors.rate_limited("endpoint-rate")
            buckets.append(bucket)
        for bucket in buckets:
            bucket.take()

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
