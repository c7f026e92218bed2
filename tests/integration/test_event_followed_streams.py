"""Streams kept current by their events instead of being listed again: customers' payment methods
(listed per customer, since ``/v1/payment_methods`` without ``customer`` shows only Treasury's;
named explicitly; ``payment_method.*`` events) and cursor-only streams with event types (engine +
SQLite destination, fake Stripe over HTTP)."""

from __future__ import annotations

import asyncio

from tests.support.live import SqliteRows, database_pipeline, sync_with_store
from tests.support.stripe import fake_stripe, seeded_ids

from stripe_sync.fake_stripe.server import FakeStripe
from stripe_sync.sources.stripe.catalog import load_catalog

PINNED = load_catalog().api_version


def record_event(fake: FakeStripe, event_type: str, obj: dict[str, object]) -> None:
    log = fake.api.event_logs[fake.data.account_id]

    async def record() -> None:
        log.record(event_type, obj)

    assert fake._loop is not None
    asyncio.run_coroutine_threadsafe(record(), fake._loop).result()


async def test_customers_payment_methods_are_synced_and_follow_their_events(tmp_path):
    objects = {"customers": 40, "payment_methods": 70}
    with fake_stripe(objects, account_api_version=PINNED) as fake:
        target = SqliteRows(tmp_path / "pm.db")
        pipeline = database_pipeline(fake, target, ["customers", "payment_methods"])
        _, first = await sync_with_store(pipeline)
        assert first["reason"] == "complete", first
        expected = seeded_ids(fake, "payment_methods")
        assert len(expected) == 70
        assert target.live_ids("payment_methods") == expected
        some = sorted(expected)[0]
        rows = target.rows("payment_methods")
        customer = rows[some]["customer"]
        assert customer in seeded_ids(fake, "customers")
        detached = {**rows[some], "customer": None}
        for private in [key for key in detached if key.startswith("_")]:
            del detached[private]
        record_event(fake, "payment_method.detached", detached)
        requests_before = sum(fake.stats()["requests"]["GET /v1/payment_methods"].values())
        _, second = await sync_with_store(pipeline)
        assert second["reason"] == "complete", second
        assert target.rows("payment_methods")[some]["customer"] is None
        relisted = sum(fake.stats()["requests"]["GET /v1/payment_methods"].values())
        assert relisted == requests_before  # no customer is new: nothing listed again


async def test_a_cursor_only_stream_with_events_is_listed_once_then_follows_its_events(tmp_path):
    with fake_stripe({"quotes": 250, "tax_codes": 5}, account_api_version=PINNED) as fake:
        target = SqliteRows(tmp_path / "quotes.db")
        pipeline = database_pipeline(fake, target, ["quotes", "tax_codes"])
        _, first = await sync_with_store(pipeline)
        assert first["reason"] == "complete", first
        requests = fake.stats()["requests"]
        listed = sum(requests["GET /v1/quotes"].values())
        codes_listed = sum(requests["GET /v1/tax_codes"].values())
        assert listed == 3 and target.live_ids("quotes") == seeded_ids(fake, "quotes")
        some = sorted(seeded_ids(fake, "quotes"))[0]
        changed = {k: v for k, v in target.rows("quotes")[some].items() if not k.startswith("_")}
        changed["description"] = "changed by an event"
        record_event(fake, "quote.finalized", changed)
        _, second = await sync_with_store(pipeline)
        assert second["reason"] == "complete", second
        requests = fake.stats()["requests"]
        assert sum(requests["GET /v1/quotes"].values()) == listed  # not listed again
        assert sum(requests["GET /v1/tax_codes"].values()) == codes_listed + 1  # no events: listed
        assert target.rows("quotes")[some]["description"] == "changed by an event"
