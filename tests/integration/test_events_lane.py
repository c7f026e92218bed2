"""The events lane beside a backfill: changes made while a sync runs, incremental runs, the order
of same-second changes, continuation calls, and the 30-day cliff (SQLite, fake Stripe over HTTP)."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from typing import Any

import pytest
from tests.support.destinations import Target
from tests.support.engine import of_type
from tests.support.live import (
    SqliteRows,
    database_pipeline,
    save_state,
    saved_state,
    sdk,
    stored,
    sync_with_store,
    verify_all,
)
from tests.support.stripe import fake_stripe, stripe_pipeline

from stripe_sync.engine.pipeline import parse_pipeline
from stripe_sync.engine.registry import destination_state_store
from stripe_sync.engine.sync import sync
from stripe_sync.fake_stripe.server import FakeStripe
from stripe_sync.sources.stripe.source import StripeSource

STREAMS = ["customers", "subscriptions", "products", "coupons", "tax_codes"]
OBJECTS = {"customers": 2000, "subscriptions": 200, "products": 300, "coupons": 40, "tax_codes": 5}


def active_subscriptions(fake: FakeStripe, count: int) -> list[str]:
    subscriptions = fake.data.streams["subscriptions"]
    return [
        subscriptions.object_id(i)
        for i in range(len(subscriptions))
        if subscriptions.render(i)["status"] != "canceled"
    ][:count]


def write_while_syncing(fake: FakeStripe) -> dict[str, Any]:
    """Creates, updates, cancels and deletes through the API; returns what to expect."""
    client = sdk(fake)
    customers = fake.data.streams["customers"]
    products = fake.data.streams["products"]
    created = [client.v1.customers.create({"name": f"new {i}"}).id for i in range(3)]
    renamed = {customers.object_id(i): f"renamed {i}" for i in (0, 1000, 1999)}
    for customer, name in renamed.items():
        client.v1.customers.update(customer, {"name": name})
    deleted = [customers.object_id(10), customers.object_id(1500), created[2]]
    for customer in deleted:
        client.v1.customers.delete(customer)
    canceled = active_subscriptions(fake, 2)
    for subscription in canceled:
        client.v1.subscriptions.cancel(subscription)
    new_product = client.v1.products.create({"name": "gadget"}).id
    gone_product = products.object_id(5)
    client.v1.products.delete(gone_product)
    coupon = fake.data.streams["coupons"].object_id(0)
    client.v1.coupons.update(coupon, {"name": "spring"})
    return {
        "created": created[:2],
        "renamed": renamed,
        "deleted": deleted,
        "canceled": canceled,
        "new_product": new_product,
        "gone_product": gone_product,
        "coupon": coupon,
    }


async def test_changes_made_while_a_backfill_runs_are_all_there_after_it(tmp_path):
    target = SqliteRows(tmp_path / "live.db")
    with fake_stripe(OBJECTS) as fake:
        pipeline = database_pipeline(
            fake, target, STREAMS, max_requests_per_second=12, poll_interval=0.3
        )
        store = destination_state_store(parse_pipeline(pipeline))
        assert store is not None
        expected: dict[str, Any] = {}
        writing: asyncio.Task[dict[str, Any]] | None = None
        end: dict[str, Any] = {}
        async for message in sync(pipeline, state_store=store):
            flowing = message["type"] == "progress" and message["progress"]["record_count"] > 0
            if writing is None and flowing:
                writing = asyncio.create_task(asyncio.to_thread(write_while_syncing, fake))
            if message["type"] == "end":
                end = message["end"]
        await store.close()  # type: ignore[attr-defined]
        assert writing is not None and writing.done(), "the writes did not overlap the backfill"
        expected = writing.result()
        assert end["reason"] == "complete", end
        customers = target.rows("customers")
        assert set(expected["created"]) <= target.live_ids("customers")
        for customer, name in expected["renamed"].items():
            assert customers[customer]["name"] == name
        for customer in expected["deleted"]:
            assert customers[customer]["_deleted"], customer
        subscriptions = target.rows("subscriptions")
        for subscription in expected["canceled"]:
            assert subscriptions[subscription]["status"] == "canceled"
            assert not subscriptions[subscription]["_deleted"]
        products = target.rows("products")
        assert expected["new_product"] in target.live_ids("products")
        assert products[expected["gone_product"]]["_deleted"]
        assert target.rows("coupons")[expected["coupon"]]["name"] == "spring"
        assert await verify_all(pipeline, STREAMS) == []


async def test_an_incremental_run_applies_the_changes_since_the_previous_one(target: Target):
    with fake_stripe({"customers": 200, "subscriptions": 30}) as fake:
        streams = ["customers", "subscriptions"]
        pipeline = database_pipeline(fake, target, streams, poll_interval=0.2)
        _, first = await sync_with_store(pipeline)
        assert first["reason"] == "complete"
        client = sdk(fake)
        customers = fake.data.streams["customers"]
        client.v1.customers.update(customers.object_id(150), {"email": "moved@example.com"})
        client.v1.customers.delete(customers.object_id(151))
        [canceled] = active_subscriptions(fake, 1)
        client.v1.subscriptions.cancel(canceled)
        _, second = await sync_with_store(pipeline)
        assert second["reason"] == "complete"
        rows = stored(target, "customers")
        assert rows[customers.object_id(150)]["email"] == "moved@example.com"
        assert rows[customers.object_id(151)]["_deleted"]
        subscription = stored(target, "subscriptions")[canceled]
        assert subscription["status"] == "canceled" and not subscription["_deleted"]
        event_records = second["request_progress"]["live"]["event_count"]
        assert event_records == 3
        cursor = (await saved_state(pipeline))["source"]["global"]["events"]
        assert cursor["cursor_created"] >= int(time.time()) - 30
        assert cursor["streams"] == streams
        assert await verify_all(pipeline, streams) == []


async def test_same_second_changes_of_one_object_land_in_order(tmp_path):
    target = SqliteRows(tmp_path / "order.db")
    with fake_stripe({"customers": 20}) as fake:
        pipeline = database_pipeline(fake, target, ["customers"], poll_interval=0.2)
        await sync_with_store(pipeline)
        client = sdk(fake)
        customer = fake.data.streams["customers"].object_id(3)
        for n in range(150):  # more than a page of events, mostly within one or two seconds
            client.v1.customers.update(customer, {"name": f"v{n}"})
        await sync_with_store(pipeline)
        assert target.rows("customers")[customer]["name"] == "v149"


async def test_a_cursor_older_than_the_events_window_re_backfills_the_streams_it_serves(tmp_path):
    target = SqliteRows(tmp_path / "cliff.db")
    with fake_stripe({"customers": 300, "tax_codes": 4}) as fake:
        streams = ["customers", "tax_codes"]  # tax codes have no events: never reset
        pipeline = database_pipeline(fake, target, streams, poll_interval=0.2)
        await sync_with_store(pipeline)
        state = await saved_state(pipeline)
        state["source"]["global"]["events"]["cursor_created"] = int(time.time()) - 31 * 86_400
        await save_state(pipeline, state)
        # rows lost behind the sync's back: only a re-backfill brings them back
        with sqlite3.connect(target.path) as connection:
            connection.execute("DELETE FROM customers WHERE rowid % 2 = 0")
        messages, end = await sync_with_store(pipeline)
        assert end["reason"] == "complete"
        logs = [log["message"] for log in of_type(messages, "log")]
        resets = [line for line in logs if line.startswith("stream reset: ")]
        assert resets == [
            "stream reset: customers: events cursor is 31.0 days old; Stripe keeps 30 days of events"
        ]
        assert any("resetting customers; the backfill of this run starts over" in m for m in logs)
        customers = end["run_progress"]["streams"]["customers"]
        assert customers["record_count"] == 300 and customers["status"] == "complete"
        assert end["run_progress"]["streams"]["tax_codes"]["status"] == "complete"
        assert len(target.live_ids("customers")) == 300
        state = await saved_state(pipeline)
        assert state["source"]["global"]["events"]["cursor_created"] >= int(time.time()) - 60
        assert await verify_all(pipeline, streams) == []


@pytest.mark.parametrize(
    ("saved_streams", "configured", "joins"),
    [
        (["customers", "products"], ["customers"], False),  # a continuation without products
        (["customers"], ["customers", "products"], True),
        (["customers", "products"], ["customers", "products"], True),
    ],
)
async def test_a_continuation_call_without_some_streams_leaves_the_cursor(
    saved_streams, configured, joins
):
    with fake_stripe({"customers": 5, "products": 5}) as fake:
        started_at = "2026-11-01T00:00:00Z"
        cursor = {
            "cursor_created": int(time.time()) - 100,
            "seen_ids": [],
            "run_started_at": started_at,
            "streams": saved_streams,
        }
        catalog = {
            "streams": [{"name": name, "time_range": {"lt": started_at}} for name in configured]
        }
        config = stripe_pipeline(fake.url, None)["source"]["config"]
        state = {"streams": {}, "global": {"events": cursor}}
        states = [
            message["source_state"]["data"]["events"]
            async for message in StripeSource().read(config, catalog, state)
            if message["type"] == "source_state"
            and message["source_state"]["state_type"] == "global"
        ]
        assert bool(states) is joins
        if joins:
            assert states[-1]["streams"] == sorted(configured)
