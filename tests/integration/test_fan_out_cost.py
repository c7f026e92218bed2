"""What per-parent streams cost on an account shaped like a real one: the default selection leaves
out the streams that cost a request per customer, a named one lists only new parents' children
after its first run, and a failing one stops its siblings and counts every request it sent
(engine + SQLite destination, fake Stripe over HTTP)."""

from __future__ import annotations

from typing import Any

from tests.support.live import SqliteRows, database_pipeline, sdk, sync_with_store
from tests.support.stripe import fake_stripe

from stripe_sync.fake_stripe.server import FakeStripe

ENTITLEMENTS = "GET /v1/entitlements/active_entitlements"


def accepted(fake: FakeStripe) -> int:
    return int(fake.stats()["accepted_total"])


def received(fake: FakeStripe, endpoint: str) -> int:
    return sum(fake.stats()["requests"].get(endpoint, {}).values())


def stream_progress(end: dict[str, Any], stream: str) -> dict[str, Any]:
    return end["request_progress"]["streams"][stream]


async def test_a_default_sync_of_a_real_shaped_account_costs_pages_not_parents(tmp_path):
    objects = {
        "customers": 6000,
        "setup_intents": 2000,
        "setup_attempts": 3000,
        "subscriptions": 1500,
        "subscription_items": 2500,
    }
    with fake_stripe(objects) as fake:
        pipeline = database_pipeline(fake, SqliteRows(tmp_path / "real.db"), None)  # type: ignore[arg-type]
        _, first = await sync_with_store(pipeline)
        assert first["reason"] == "complete", first
        first_requests = accepted(fake)
        streams = first["request_progress"]["streams"]
        assert "setup_attempts" not in streams and "entitlements_active_entitlements" not in streams
        assert "customers" in streams and "subscription_items" in streams
        _, second = await sync_with_store(pipeline)
        assert second["reason"] == "complete", second
        second_requests = accepted(fake) - first_requests
    print(f"default sync: first run {first_requests} requests, unchanged rerun {second_requests}")
    assert first_requests <= 600
    assert second_requests <= 250


async def test_a_named_per_customer_stream_lists_only_new_and_changed_customers_later(tmp_path):
    with fake_stripe({"customers": 300}) as fake:
        streams = ["customers", "entitlements_active_entitlements"]
        pipeline = database_pipeline(fake, SqliteRows(tmp_path / "named.db"), streams)
        _, first = await sync_with_store(pipeline)
        assert first["reason"] == "complete", first
        assert received(fake, ENTITLEMENTS) == 300  # the first run lists every customer's
        client = sdk(fake)
        new = [client.v1.customers.create({"name": f"new {i}"}).id for i in range(2)]
        assert len(new) == 2
        for index in (5, 50):
            customer = fake.data.streams["customers"].object_id(index)
            client.v1.customers.update(customer, {"name": "changed"})
        _, second = await sync_with_store(pipeline)
        assert second["reason"] == "complete", second
        assert received(fake, ENTITLEMENTS) == 304  # the two new and the two changed customers'
        _, third = await sync_with_store(pipeline)
        assert third["reason"] == "complete", third
        assert received(fake, ENTITLEMENTS) <= 308  # nothing new; the minute of margin at most


async def test_a_failing_per_parent_stream_stops_its_siblings_and_counts_every_request(tmp_path):
    unavailable = frozenset({"entitlements_active_entitlements"})
    with fake_stripe({"customers": 400}, not_available=unavailable) as fake:
        streams = ["customers", "entitlements_active_entitlements"]
        pipeline = database_pipeline(fake, SqliteRows(tmp_path / "skip.db"), streams)
        _, end = await sync_with_store(pipeline)
        sent = received(fake, ENTITLEMENTS)
        seen_by_fake = accepted(fake)
        progress = stream_progress(end, "entitlements_active_entitlements")
        assert progress["status"] == "skipped", progress
        assert sent < 30, f"{sent} requests for a stream that was skipped at its first answer"
        # every request the fake accepted is counted; a request cancelled before it reached the
        # fake may be counted too (it took the budget's token), but no more than one per sibling
        reported = end["request_progress"]["request_count"]
        assert seen_by_fake <= reported <= seen_by_fake + 24
