"""A read closed while nobody drains its output (the engine stopped on a destination error with
the source's queue full) ends at once instead of waiting to put its last messages."""

from __future__ import annotations

import asyncio
import threading

import pytest
from tests.support.stripe import fake_stripe, stripe_pipeline

from stripe_sync.sources.stripe.source import StripeSource

STREAMS = ["customers", "charges", "products"]


async def read_then_walk_away(config: dict) -> None:
    catalog = {"streams": [{"name": name} for name in STREAMS]}
    batches = StripeSource().read_batches(config, catalog, {})
    received = 0
    async for batch in batches:
        received += len(batch)
        if received > 500:
            break
    await asyncio.sleep(1.5)  # the streams go on until the output queue is full
    await batches.aclose()


@pytest.mark.parametrize("accounts", ["self", "all"])
def test_closing_a_read_with_its_output_full_returns_promptly(accounts):
    objects = {"customers": 20000, "charges": 20000, "products": 5000}
    with fake_stripe(objects, connected_accounts=3) as fake:
        config = stripe_pipeline(fake.url, None, accounts=accounts)["source"]["config"]
        # on a thread of its own: a read that hangs must fail the test, not hang it
        reading = threading.Thread(
            target=asyncio.run, args=(read_then_walk_away(config),), daemon=True
        )
        reading.start()
        reading.join(timeout=20)
        assert not reading.is_alive(), "closing the read hung"
