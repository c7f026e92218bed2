"""The events lane against a fake that behaves like a real account: refetches once per object and
poll, deleted objects stay deleted, failing refetches do not hold the cursor, late events are
applied once, and a 50,000-event backlog is caught up across 10-second calls with a checkpoint per
page (real HTTP to the fake; the lane's messages collected as the engine would receive them)."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
from tests.support.stripe import fake_stripe

from stripe_sync.fake_stripe.server import FakeStripe
from stripe_sync.sources.stripe.budget import RequestBudget
from stripe_sync.sources.stripe.catalog import load_catalog
from stripe_sync.sources.stripe.client import StripeClient
from stripe_sync.sources.stripe.events import EventsCursor, EventsLane

CATALOG = load_catalog()
PINNED = CATALOG.api_version


class Collected:
    """The lane's output: every message, in order."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []

    async def put(self, item: Any) -> None:
        self.put_nowait(item)

    def put_nowait(self, item: Any) -> None:
        self.messages.extend(item if isinstance(item, list) else [item])

    def records(self, object_id: str | None = None) -> list[dict[str, Any]]:
        return [
            m["record"]
            for m in self.messages
            if m["type"] == "record" and object_id in (None, m["record"]["data"]["id"])
        ]

    def confirmed(self) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
        """The records up to the last state and that state (what a restart keeps)."""
        last = max(
            (i for i, m in enumerate(self.messages) if m["type"] == "source_state"), default=-1
        )
        kept = self.messages[: last + 1]
        state = kept[-1]["source_state"]["data"] if kept else None
        return [m["record"] for m in kept if m["type"] == "record"], state

    def warnings(self) -> list[str]:
        return [
            m["log"]["message"]
            for m in self.messages
            if m["type"] == "log" and m["log"]["level"] == "warn"
        ]


def lane_for(
    fake: FakeStripe,
    cursor: EventsCursor,
    out: Collected,
    *,
    key: str = "sk_test_lane",
    lag_s: int = 60,
) -> tuple[EventsLane, StripeClient]:
    client = StripeClient(
        api_key=key,
        base_url=fake.url,
        api_version=PINNED,
        budget=RequestBudget(0, 0),
        max_retries=1,
    )
    lane = EventsLane(
        catalog=CATALOG,
        client=client,
        out=out,
        account_id=fake.data.account_id,
        api_version=PINNED,
        cursor=cursor,
        refetch="auto",
        lag_s=lag_s,
    )
    return lane, client


async def poll_once(fake: FakeStripe, cursor: EventsCursor, **options: Any) -> Collected:
    out = Collected()
    lane, client = lane_for(fake, cursor, out, **options)
    try:
        await lane.poll()
    finally:
        await client.aclose()
        await client.budget.close()
    return out


def retrieves(fake: FakeStripe, endpoint: str) -> int:
    return sum(fake.stats()["requests"].get(endpoint, {}).values())


def mutate(fake: FakeStripe, method: str, stream: str, *args: Any) -> None:
    """Write through the fake's mutations on its own loop (as a request would)."""
    mutations = fake.api.mutations[fake.data.account_id]

    async def call() -> None:
        getattr(mutations, method)(stream, *args)

    assert fake._loop is not None
    asyncio.run_coroutine_threadsafe(call(), fake._loop).result()


async def test_a_poll_retrieves_each_object_once_whatever_its_events():
    with fake_stripe({"customers": 10}) as fake:  # events at an older API version: refetched
        cursor = EventsCursor(int(time.time()) - 5, streams=["customers"])
        customers = [fake.data.streams["customers"].object_id(i) for i in range(3)]
        for round_ in range(5):
            for customer in customers:
                mutate(fake, "update", "customers", customer, {"name": f"r{round_}"})
        out = await poll_once(fake, cursor)
        assert retrieves(fake, "GET /v1/customers/{id}") == 3
        for customer in customers:
            assert out.records(customer)[-1]["data"]["name"] == "r4"


async def test_a_pages_retrieves_are_sent_together_and_applied_in_order():
    with fake_stripe({"customers": 30}, latency_ms=40) as fake:
        cursor = EventsCursor(int(time.time()) - 5, streams=["customers"])
        customers = [fake.data.streams["customers"].object_id(i) for i in range(20)]
        for customer in customers:
            mutate(fake, "update", "customers", customer, {"name": "changed"})
        mutate(fake, "update", "customers", customers[0], {"name": "changed again"})
        out = await poll_once(fake, cursor)
        assert retrieves(fake, "GET /v1/customers/{id}") == 20
        assert fake.stats()["peak_concurrency"] >= 4  # not one retrieve after another
        assert [r["data"]["id"] for r in out.records()] == customers  # the events' order
        assert out.records(customers[0])[-1]["data"]["name"] == "changed again"


async def test_an_update_and_a_delete_in_one_second_stay_deleted():
    with fake_stripe({"products": 4}, deleted_retrieve_404=True) as fake:
        account = fake.data.account_id
        second = int(time.time())
        fake.api.event_logs[account].clock = lambda: second
        fake.api.mutations[account].clock = lambda: second
        product = fake.data.streams["products"].object_id(0)
        mutate(fake, "update", "products", product, {"name": "last words"})
        mutate(fake, "delete", "products", product, "delete")
        out = await poll_once(fake, EventsCursor(second - 1, streams=["products"]))
        records = out.records(product)
        assert records and all(record.get("deleted") for record in records), records


async def test_an_object_deleted_after_its_event_is_a_tombstone_not_the_old_copy():
    with fake_stripe({"products": 4, "customers": 4}, deleted_retrieve_404=True) as fake:
        product = fake.data.streams["products"].object_id(1)
        customer = fake.data.streams["customers"].object_id(1)
        cursor = EventsCursor(int(time.time()) - 5, streams=["products", "customers"])
        mutate(fake, "update", "products", product, {"name": "renamed"})
        mutate(fake, "update", "customers", customer, {"name": "renamed"})
        for stream, object_id in (("products", product), ("customers", customer)):
            collection = fake.data.streams[stream]
            ordinal = collection.find(object_id)
            assert ordinal is not None
            collection.delete(ordinal)  # gone before the lane retrieves it, its event not listed
        out = await poll_once(fake, cursor)
        for object_id in (product, customer):
            (record,) = out.records(object_id)
            assert record["deleted"] is True


async def test_a_refetch_that_keeps_failing_writes_the_events_copy_and_moves_on():
    key = "rk_test_no_customers"
    with fake_stripe({"customers": 4}, restricted_keys={key: frozenset({"customers"})}) as fake:
        customer = fake.data.streams["customers"].object_id(0)
        cursor = EventsCursor(int(time.time()) - 5, streams=["customers"])
        mutate(fake, "update", "customers", customer, {"name": "as sent"})
        out = await poll_once(fake, cursor, key=key)
        (record,) = out.records(customer)
        assert record["data"]["name"] == "as sent"
        (event,) = fake.api.event_logs[fake.data.account_id].list("limit=1")["data"]
        assert record["version"] == event["created"] * 1000
        assert any(event["id"] in warning for warning in out.warnings()), out.warnings()
        again = await poll_once(fake, cursor, key=key)
        assert again.records() == []  # applied once: the cursor is past it


async def test_an_event_listed_five_seconds_late_is_applied_once():
    with fake_stripe({"customers": 30}, event_delay_ms=5000, account_api_version=PINNED) as fake:
        cursor = EventsCursor(int(time.time()) - 1, streams=["customers"])
        customers = [fake.data.streams["customers"].object_id(i) for i in range(20)]
        for customer in customers:
            mutate(fake, "update", "customers", customer, {"name": "late"})
        applied: Counter[str] = Counter()
        first = await poll_once(fake, cursor)
        applied.update(record["data"]["id"] for record in first.records())
        assert len(applied) < 20  # some were not listable yet
        await asyncio.sleep(5.2)
        for _ in range(2):
            later = await poll_once(fake, cursor)
            applied.update(record["data"]["id"] for record in later.records())
        assert applied == Counter(customers)


async def test_a_backlog_of_50000_events_completes_across_ten_second_calls():
    with fake_stripe({"customers": 500}, latency_ms=15, account_api_version=PINNED) as fake:
        start = int(time.time()) - 1
        customers = [fake.data.streams["customers"].object_id(i) for i in range(500)]
        mutations = fake.api.mutations[fake.data.account_id]

        async def write_backlog() -> None:
            for number in range(50_000):
                customer = customers[number % 500]
                mutations.update("customers", customer, {"metadata": {"n": str(number)}})

        assert fake._loop is not None
        asyncio.run_coroutine_threadsafe(write_backlog(), fake._loop).result()
        cursor: EventsCursor | None = EventsCursor(start, streams=["customers"])
        applied: Counter[str] = Counter()
        calls = 0
        while True:
            calls += 1
            assert cursor is not None and calls < 30
            out = Collected()
            lane, client = lane_for(fake, cursor, out)
            try:
                await asyncio.wait_for(lane.poll(), 10)
                finished = True
            except TimeoutError:
                finished = False
            finally:
                await client.aclose()
                await client.budget.close()
            kept, state = out.confirmed()
            applied.update(record["data"]["metadata"]["n"] for record in kept)
            cursor = EventsCursor.from_state(state) if state else cursor
            if finished:
                break
        assert calls >= 2, "the backlog fitted one call: make it larger or slower"
        assert len(applied) == 50_000
        assert set(applied.values()) == {1}, "an event was applied twice"


def test_the_cli_catches_a_50000_event_backlog_up_across_calls_of_ten_seconds(tmp_path):
    """``stripe-sync sync --time-limit 10`` again and again: each call keeps what it applied, so
    the backlog finishes and every customer ends with its last change."""
    database = tmp_path / "backlog.db"
    cli = str(Path(sys.executable).with_name("stripe-sync"))
    with fake_stripe({"customers": 500}, latency_ms=5, account_api_version=PINNED) as fake:
        command = [
            cli,
            "sync",
            *("--api-key", "sk_test_backlog", "--base-url", fake.url, "--streams", "customers"),
            *("--to", f"sqlite:///{database}", "--max-rps", "0", "--ndjson", "--no-progress"),
        ]
        first = subprocess.run(command, capture_output=True, text=True, timeout=120)
        assert first.returncode == 0, first.stderr[-2000:]
        customers = [fake.data.streams["customers"].object_id(i) for i in range(500)]
        mutations = fake.api.mutations[fake.data.account_id]

        async def write_backlog() -> None:
            for number in range(50_000):
                customer = customers[number % 500]
                mutations.update("customers", customer, {"metadata": {"n": str(number)}})

        assert fake._loop is not None
        asyncio.run_coroutine_threadsafe(write_backlog(), fake._loop).result()
        last = {customers[n % 500]: str(n) for n in range(49_500, 50_000)}

        def caught_up() -> bool:
            with sqlite3.connect(database) as connection:
                rows = connection.execute("SELECT id, _raw_data FROM customers").fetchall()
            stored = {row[0]: orjson.loads(row[1]).get("metadata", {}).get("n") for row in rows}
            return all(stored.get(customer) == n for customer, n in last.items())

        calls = 0
        while not caught_up():
            calls += 1
            assert calls <= 30, "the backlog did not finish in 30 calls of 10 s"
            call = subprocess.run(
                [*command, "--time-limit", "10"], capture_output=True, timeout=120
            )
            assert call.returncode in (0, 3), call.stderr[-2000:]
        assert calls >= 2, "the backlog fitted one call: make it larger or slower"
