"""What the request budget learns from Stripe's answers: a paced rate per limit, and a concurrency cap.

A :class:`Pace` spaces requests evenly at its rate (one every ``1 / rate`` seconds; a sender that
stalled, say behind a long database write, may make up at most ``CATCH_UP_S`` of the time it lost),
so a server that counts requests in a sliding one-second window sees no burst. Its rate stays ``MARGIN`` under the lower of the configured limit and
the limit learnt from the server. Even spacing at the sender is not enough: requests that wait for
a new connection or a busy event loop arrive bunched. So a grant also needs room in the server's
window as far as the client can tell: the answers accepted within the last second less the
shortest recent round trip (the server counted them about when they left it, and a request
granted now is counted at least that long from now) plus the requests in flight must stay under
the limit.

Learning: every accepted answer is remembered for a second. A 429 with the pace's reason means the
server's window was full, so the answers accepted in the last second are the server's real limit
(the *ceiling*, and at least ``CEILING_STEP`` under the previous one; only believed when the pace
was sending at least half that fast, so an outage that refuses everything teaches nothing). The rate then drops a tenth below the new target, once per
episode of 429s (those within ``EPISODE_S`` of its first), and climbs back by a fifth of the target
per second once ``RECOVERY_DELAY_S`` have passed without any. After ``PROBE_AFTER_S`` seconds
without a 429 the ceiling is raised by ``PROBE_STEP`` (never past the configured limit), so a
limit that was met during someone else's burst is not kept for ever. What is learnt lasts as long
as the budget: the whole run.

A :class:`ConcurrencyCap` does the same for requests in flight: a ``global-concurrency`` 429 caps
them a tenth under the number in flight at the time, and the cap grows by one per quiet second.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

MARGIN = 0.03
"""The pace stays this far under the limit, so that varying latency cannot fill the window."""
DECREASE = 0.1
EPISODE_S = 0.5
RECOVERY_DELAY_S = 0.5
RECOVERY_PER_S = 0.2
PROBE_AFTER_S = 10.0
PROBE_STEP = 0.05
CEILING_STEP = 0.03
"""Each episode lowers the ceiling at least this much: a limit met again while pacing under it
means the answers' timing varies more than ``MARGIN`` allows for."""
LEARN_FRACTION = 0.5
MIN_RATE = 1.0
CATCH_UP_S = 0.1
"""How much of a stalled sender's lost time may be made up (the window check still applies)."""
WINDOW_S = 1.0


@dataclass
class Pace:
    """Even spacing of requests at a rate learnt under ``limit`` (``inf``: none configured)."""

    limit: float
    now: float
    ceiling: float = math.inf
    rate: float = field(init=False)
    next_at: float = field(init=False)
    accepted: deque[tuple[float, float]] = field(default_factory=deque)
    """When accepted answers arrived in the last second, and their round trips (grant to answer)."""
    in_flight: int = 0
    last_limited: float = -math.inf
    """The start of the latest episode of 429s."""
    last_refused: float = -math.inf
    last_change: float = field(init=False)
    last_update: float = field(init=False)

    def __post_init__(self) -> None:
        self.rate = self.target
        self.next_at = self.now
        self.last_change = self.last_update = self.now

    @property
    def target(self) -> float:
        """The rate to pace at when nothing went wrong lately (``inf``: no pacing)."""
        return min(self.limit, self.ceiling) * (1 - MARGIN)

    @property
    def learnt(self) -> bool:
        return self.ceiling < math.inf

    def wait_time(self, now: float) -> float:
        """Seconds until the next request may go (``inf``: until an answer arrives)."""
        self._recover(now)
        if math.isinf(self.rate):
            return 0.0
        return max(0.0, self.next_at - now, self._window_wait(now))

    def _window_wait(self, now: float) -> float:
        room = math.floor(min(self.limit, self.ceiling))
        accepted = self.accepted
        if len(accepted) + self.in_flight < room:
            return 0.0  # room even counting every answer of the last second
        round_trip = min((trip for _, trip in accepted), default=0.0)
        horizon = now - (WINDOW_S - round_trip)
        counted = [moment for moment, _ in accepted if moment > horizon]
        if len(counted) + self.in_flight < room:
            return 0.0
        return counted[0] - horizon if counted else math.inf

    def take(self, now: float) -> None:
        self.in_flight += 1
        if not math.isinf(self.rate):
            interval = 1.0 / self.rate
            self.next_at = max(self.next_at, now - CATCH_UP_S) + interval

    def record_answer(self, now: float, accepted: bool, round_trip: float | None = None) -> None:
        """A granted request is over (``accepted``: the server took it) after ``round_trip``."""
        self.in_flight = max(0, self.in_flight - 1)
        if accepted:
            self.accepted.append((now, min(round_trip or 0.0, WINDOW_S)))
        self._forget(now)

    def record_limited(self, now: float) -> None:
        """A 429 of this pace's kind: learn the ceiling, slow down a little (once per episode)."""
        self.last_refused = now
        if now - self.last_limited < EPISODE_S:
            return
        self.last_limited = self.last_change = now
        self._forget(now)
        observed = len(self.accepted)
        sending = self.rate if not math.isinf(self.rate) else observed
        if observed >= max(1.0, LEARN_FRACTION * sending):
            lower = min(self.ceiling * (1 - CEILING_STEP), float(observed))
            self.ceiling = max(MIN_RATE, lower)
        current = self.rate if not math.isinf(self.rate) else max(MIN_RATE, float(observed))
        self.rate = max(MIN_RATE, min(current, self.target) * (1 - DECREASE))

    def _forget(self, now: float) -> None:
        accepted = self.accepted
        while accepted and accepted[0][0] <= now - WINDOW_S:
            accepted.popleft()

    def _recover(self, now: float) -> None:
        elapsed = now - max(self.last_update, self.last_refused + RECOVERY_DELAY_S)
        self.last_update = now
        if now - self.last_change >= PROBE_AFTER_S and self.ceiling < self.limit:
            self.ceiling = min(self.limit, self.ceiling * (1 + PROBE_STEP))
            self.last_change = now
        target = self.target
        if self.rate >= target:
            self.rate = target
        elif elapsed > 0:
            if math.isinf(target):
                self.rate = target
            else:
                self.rate = min(target, self.rate + target * RECOVERY_PER_S * elapsed)


@dataclass
class ConcurrencyCap:
    """Requests in flight, and the cap learnt from ``global-concurrency`` 429s (None: no cap)."""

    in_flight: int = 0
    cap: int | None = None
    last_limited: float = -math.inf
    last_growth: float = 0.0

    def full(self, now: float) -> bool:
        if self.cap is not None and now - max(self.last_limited, self.last_growth) >= 1.0:
            self.cap += 1
            self.last_growth = now
        return self.cap is not None and self.in_flight >= self.cap

    def record_limited(self, now: float) -> None:
        """A ``global-concurrency`` 429 while ``in_flight`` (itself included) were out."""
        if now - self.last_limited < EPISODE_S:
            return
        self.last_limited = now
        others = max(1, self.in_flight - 1)
        self.cap = max(1, min(self.cap or others, int(others * (1 - DECREASE))))
