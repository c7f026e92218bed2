"""The webhook inbox behind `webhooks serve`: verdicts, what the source sees, a full queue."""

from __future__ import annotations

import time

import httpx
import orjson

from stripe_sync.sources.stripe import webhooks
from stripe_sync.sources.stripe.webhook_signature import sign
from stripe_sync.sources.stripe.webhooks import WebhookInbox, webhook_app

EVENT = {"id": "evt_1", "object": "event", "type": "customer.updated", "created": 1, "data": {}}
BODY = orjson.dumps(EVENT)


async def test_verified_events_and_rejection_notices_reach_the_source_in_order():
    inbox = WebhookInbox(["whsec_a"])
    transport = httpx.ASGITransport(app=webhook_app(inbox))
    async with httpx.AsyncClient(transport=transport, base_url="http://hooks") as client:
        good = await client.post(
            "/any/path", content=BODY, headers={"Stripe-Signature": sign(BODY, "whsec_a")}
        )
        bad = await client.post(
            "/", content=BODY, headers={"Stripe-Signature": sign(BODY, "whsec_b")}
        )
        not_event = b'{"id": "x"}'
        odd = await client.post(
            "/", content=not_event, headers={"Stripe-Signature": sign(not_event, "whsec_a")}
        )
        wrong_method = await client.get("/")
    assert (good.status_code, good.json()) == (200, {"received": True})
    assert (
        bad.status_code == 400
        and bad.json()["error"]["message"] == "no signature matches the payload"
    )
    assert (
        odd.status_code == 400
        and odd.json()["error"]["message"] == "the body is not a Stripe event"
    )
    assert wrong_method.status_code == 405
    assert (inbox.accepted, inbox.rejected) == (1, 2)
    seen = [await anext(inbox) for _ in range(3)]
    assert seen[0] == EVENT
    assert seen[1] == {"object": "webhook_rejection", "reason": "no signature matches the payload"}
    assert seen[2]["object"] == "webhook_rejection"


def test_a_full_queue_asks_stripe_to_deliver_again_later(monkeypatch):
    monkeypatch.setattr(webhooks, "MAX_QUEUED", 2)
    inbox = WebhookInbox(["whsec_a"])
    header = sign(BODY, "whsec_a", int(time.time()))
    assert [inbox.receive(BODY, header).status for _ in range(3)] == [200, 200, 503]
