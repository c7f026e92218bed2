"""Receiving Stripe webhooks: verify each delivery, answer Stripe, and hand events to the source.

A :class:`WebhookInbox` checks ``Stripe-Signature`` (:mod:`.webhook_signature`: any of several
secrets, any of several ``v1`` values, 300 s tolerance) and that the body is an event. A verified
event is queued and the answer is 200 at once (Stripe wants a quick 2xx; the event is durable at
Stripe and the poller would find it anyway). A refused delivery is answered 400 and touches nothing:
the inbox only queues a ``{"object": "webhook_rejection", "reason"}`` notice, which the source
counts (``source_stats.webhooks_rejected``) and logs. When the queue is full (the sync is behind),
the answer is 503 so that Stripe delivers again later.

The inbox is the ``input`` of a live ``read``: an async iterator that survives being abandoned by
one call and iterated again by the next. :func:`webhook_app` is the ASGI app that serves it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from stripe_sync.sources.stripe.webhook_signature import (
    DEFAULT_TOLERANCE_S,
    SIGNATURE_HEADER,
    SignatureError,
    verify,
)

MAX_QUEUED = 10_000
MAX_BODY_BYTES = 1024 * 1024


@dataclass(frozen=True)
class Verdict:
    """The answer to one delivery: HTTP status and what to say."""

    status: int
    message: str


class WebhookInbox:
    """Verified events waiting for the source; see the module docstring."""

    def __init__(self, secrets: Iterable[str], tolerance_s: float = DEFAULT_TOLERANCE_S) -> None:
        self.secrets = [secret for secret in secrets if secret]
        self.tolerance_s = tolerance_s
        self.accepted = 0
        self.rejected = 0
        self._queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(MAX_QUEUED)

    def receive(self, body: bytes, signature: str | None) -> Verdict:
        """Check one delivery and queue what the source should see."""
        if self._queue.full():
            return Verdict(503, "the sync is behind; deliver this event again later")
        try:
            verify(body, signature, self.secrets, tolerance_s=self.tolerance_s)
            event = _event(body)
        except SignatureError as exc:
            self.rejected += 1
            self._queue.put_nowait({"object": "webhook_rejection", "reason": str(exc)})
            return Verdict(400, str(exc))
        self.accepted += 1
        self._queue.put_nowait(event)
        return Verdict(200, "received")

    def __aiter__(self) -> WebhookInbox:
        return self

    async def __anext__(self) -> dict[str, Any]:
        return await self._queue.get()


def _event(body: bytes) -> dict[str, Any]:
    """The event in a verified body; a signed body that is not an event is refused too."""
    try:
        event = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise SignatureError("the body is not JSON") from None
    if (
        not isinstance(event, dict)
        or event.get("object") != "event"
        or not isinstance(event.get("id"), str)
        or not isinstance(event.get("created"), int)
    ):
        raise SignatureError("the body is not a Stripe event")
    return event


def webhook_app(inbox: WebhookInbox) -> Starlette:
    """``POST`` (any path) → the inbox's verdict as JSON; request bodies are never logged."""

    async def deliver(request: Request) -> JSONResponse:
        body = await request.body()
        if len(body) > MAX_BODY_BYTES:
            return JSONResponse({"error": {"message": "the body is too large"}}, 413)
        verdict = inbox.receive(body, request.headers.get(SIGNATURE_HEADER))
        if verdict.status == 200:
            return JSONResponse({"received": True})
        return JSONResponse({"error": {"message": verdict.message}}, verdict.status)

    return Starlette(routes=[Route("/{path:path}", deliver, methods=["POST"])])
