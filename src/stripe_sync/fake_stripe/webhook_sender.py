"""Posting events to a webhook endpoint, signed as Stripe signs them.

Each recorded event is sent once as JSON with ``Stripe-Signature`` (HMAC-SHA256 with the
endpoint secret over ``"{t}.{body}"``), in the background of the server's event loop so a
mutation's answer never waits for it. A connection failure or a non-2xx answer is retried a few
times with a growing pause, as Stripe retries (over days, there). Outcomes are counted.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from typing import Any

import httpx
import orjson

from stripe_sync.sources.stripe.webhook_signature import SIGNATURE_HEADER, sign

ATTEMPTS = 4
FIRST_PAUSE_S = 0.5
TIMEOUT_S = 10.0


class WebhookSender:
    """Delivers events to ``url``; start it on the loop that records events."""

    def __init__(self, url: str, secret: str) -> None:
        self.url = url
        self.secret = secret
        self.outcomes: Counter[str] = Counter()
        self._client: httpx.AsyncClient | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def send(self, event: dict[str, Any]) -> None:
        """Deliver ``event`` in the background (called from the server's loop)."""
        task = asyncio.get_running_loop().create_task(self._deliver(orjson.dumps(event)))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _deliver(self, payload: bytes) -> None:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=TIMEOUT_S)
        pause = FIRST_PAUSE_S
        for attempt in range(ATTEMPTS):
            headers = {
                "Content-Type": "application/json",
                SIGNATURE_HEADER: sign(payload, self.secret),
            }
            try:
                response = await self._client.post(self.url, content=payload, headers=headers)
            except httpx.HTTPError:
                outcome = "unreachable"
            else:
                outcome = str(response.status_code)
                if response.is_success:
                    self.outcomes[outcome] += 1
                    return
            if attempt < ATTEMPTS - 1:
                await asyncio.sleep(pause)
                pause *= 2
        self.outcomes[f"failed ({outcome})"] += 1

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._client is not None:
            await self._client.aclose()
