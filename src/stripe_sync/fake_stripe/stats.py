"""What the fake observed, for tests and benchmarks: ``GET /_fake/stats``.

Requests per endpoint and answer (status code, or ``reset``), the most requests accepted in any
one-second window (overall and per endpoint, over a sliding window of acceptance times), the peak
number of accepted requests in flight, and the 429s sent per ``Stripe-Rate-Limited-Reason``.
"""

from __future__ import annotations

from collections import deque
from typing import Any


class SlidingWindowMax:
    """The largest number of events seen within any ``window`` seconds."""

    def __init__(self, window: float = 1.0) -> None:
        self._window = window
        self._times: deque[float] = deque()
        self.peak = 0

    def add(self, now: float) -> None:
        times = self._times
        times.append(now)
        while times[0] <= now - self._window:
            times.popleft()
        self.peak = max(self.peak, len(times))


class ServerStats:
    def __init__(self) -> None:
        self.requests: dict[str, dict[str, int]] = {}
        self.rate_limited: dict[str, int] = {}
        self._accepted = SlidingWindowMax()
        self._accepted_by_endpoint: dict[str, SlidingWindowMax] = {}
        self.accepted_total = 0

    def answered(self, endpoint: str, outcome: str) -> None:
        """Count an answer: a status code as text, or ``reset``."""
        by_outcome = self.requests.setdefault(endpoint, {})
        by_outcome[outcome] = by_outcome.get(outcome, 0) + 1

    def accepted(self, endpoint: str, now: float) -> None:
        self.accepted_total += 1
        self._accepted.add(now)
        window = self._accepted_by_endpoint.get(endpoint)
        if window is None:
            window = self._accepted_by_endpoint[endpoint] = SlidingWindowMax()
        window.add(now)

    def refused(self, reason: str) -> None:
        self.rate_limited[reason] = self.rate_limited.get(reason, 0) + 1

    def snapshot(self, peak_in_flight: int) -> dict[str, Any]:
        return {
            "requests": {endpoint: dict(counts) for endpoint, counts in self.requests.items()},
            "accepted_total": self.accepted_total,
            "max_accepted_per_second": self._accepted.peak,
            "max_accepted_per_second_by_endpoint": {
                endpoint: window.peak for endpoint, window in self._accepted_by_endpoint.items()
            },
            "peak_concurrency": peak_in_flight,
            "rate_limited_total": sum(self.rate_limited.values()),
            "rate_limited_by_reason": dict(self.rate_limited),
        }
