"""How the fake misbehaves on accepted requests: latency with jitter, 500s, resets, garbage.

Each accepted request draws at most one fault: a connection reset, a 500 with
``Stripe-Should-Retry: true``, or a garbage answer — half of them a load balancer's HTML error page
(502), half a 200 whose JSON body is cut in the middle. Draws come from a generator seeded with the
server's seed, so a run with the same requests in the same order meets the same faults.
"""

from __future__ import annotations

import random
from typing import Literal

from stripe_sync.fake_stripe.config import FakeStripeConfig
from stripe_sync.fake_stripe.http_server import Response
from stripe_sync.fake_stripe.ids import derive_key

Fault = Literal["reset", "error", "garbage"]

HTML_ERROR_PAGE = (
    b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    b"<center><h1>502 Bad Gateway</h1></center>\r\n</body>\r\n</html>\r\n"
)


class Faults:
    def __init__(self, config: FakeStripeConfig) -> None:
        self._rng = random.Random(derive_key(config.seed, "faults"))
        self._latency_s = config.latency_ms / 1000
        self._jitter_s = config.jitter_ms / 1000
        self._rates: tuple[tuple[Fault, float], ...] = (
            ("reset", config.reset_rate),
            ("error", config.fault_rate),
            ("garbage", config.garbage_rate),
        )

    def delay(self) -> float:
        """Seconds to wait before answering: the latency ± up to the jitter, never negative."""
        if not self._latency_s and not self._jitter_s:
            return 0.0
        return max(0.0, self._latency_s + self._rng.uniform(-self._jitter_s, self._jitter_s))

    def draw(self) -> Fault | None:
        roll = self._rng.random()
        for fault, rate in self._rates:
            if roll < rate:
                return fault
            roll -= rate
        return None

    def garbage(self, answer: Response) -> Response:
        """An answer no JSON client can use, in place of ``answer``."""
        if self._rng.random() < 0.5:
            return Response(502, HTML_ERROR_PAGE, "text/html", answer.headers)
        return Response(200, answer.body[: len(answer.body) // 2], headers=answer.headers)
