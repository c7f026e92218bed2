"""Parallel adaptive backfill against the fake: same-second storms, resumes, budget, embedded lists."""

from __future__ import annotations

import random
from collections import Counter

import orjson
from tests.support.engine import run_sync
from tests.support.stripe import fake_stripe, seeded_ids, stripe_pipeline

from stripe_sync.connectors.testing.destination import TestDestination
from stripe_sync.fake_stripe.config import ListSize, SameSecond


def deliveries(path) -> Counter[str]:
    return Counter(orjson.loads(line)["data"]["id"] for line in path.read_bytes().splitlines())


def remaining_segments(end, stream="customers") -> int:
    saved = end["ending_state"]["source"]["streams"].get(stream) or {}
    return len(saved.get("remaining") or [])


async def test_two_thousand_objects_in_one_second_split_and_resumed_arrive_once(tmp_path):
    with fake_stripe({"customers": 3000}, same_second=[SameSecond("customers", 2000)]) as fake:
        rows = tmp_path / "rows.jsonl"
        destination = {"type": "test", "config": {"name": "storm", "path": str(rows)}}
        pipeline = stripe_pipeline(fake.url, ["customers"], name="storm", destination=destination)
        _, first = await run_sync(pipeline, state_limit=12)
        assert first["reason"] == "state_limit"
        in_flight = remaining_segments(first)
        _, end = await run_sync(pipeline, first["ending_state"])
        assert end["has_more"] is False
        expected = seeded_ids(fake, "customers")
        assert len(expected) == 5000
        delivered = deliveries(rows)
        assert set(delivered) == expected
        assert sum(delivered.values()) - len(expected) <= 100 * in_flight


async def test_resuming_at_fifty_random_checkpoints_loses_nothing_and_refetches_little(tmp_path):
    with fake_stripe({"customers": 8000}) as fake:
        rows = tmp_path / "rows.jsonl"
        destination = {"type": "test", "config": {"name": "resumes", "path": str(rows)}}
        pipeline = stripe_pipeline(fake.url, ["customers"], name="resumes", destination=destination)
        rng = random.Random(3)
        state = None
        allowance = 0
        calls = 0
        while calls < 50:
            _, end = await run_sync(pipeline, state, state_limit=rng.randint(1, 3))
            calls += 1
            state = end["ending_state"]
            if not end["has_more"]:
                break
            allowance += 100 * remaining_segments(end)
        if end["has_more"]:
            _, end = await run_sync(pipeline, state)
        assert end["has_more"] is False
        assert calls >= 20
        delivered = deliveries(rows)
        expected = seeded_ids(fake, "customers")
        assert set(delivered) == expected
        assert sum(delivered.values()) - len(expected) <= allowance


async def test_one_stream_keeps_requests_in_flight_within_the_server_limits():
    with fake_stripe(
        {"customers": 8000}, latency_ms=100, jitter_ms=20, rate_limit=50, endpoint_rate_limit=25
    ) as fake:
        pipeline = stripe_pipeline(
            fake.url,
            ["customers"],
            name="in-flight",
            max_requests_per_second=50,
            max_requests_per_second_per_endpoint=25,
        )
        _, end = await run_sync(pipeline)
        assert end["reason"] == "complete"
        stats = fake.stats()
        requests = sum(sum(counts.values()) for counts in stats["requests"].values())
        assert stats["peak_concurrency"] >= 3
        assert stats["rate_limited_total"] <= 0.01 * requests
        assert (
            stats["max_accepted_per_second_by_endpoint"]["GET /v1/customers"] <= 25 + 25 * 0.25 + 1
        )
        assert {k[1] for k in TestDestination.stores["in-flight"]} == seeded_ids(fake, "customers")


async def test_an_invoice_with_250_lines_is_stored_with_all_of_them():
    with fake_stripe({"invoices": 40}, list_sizes=[ListSize("invoices", "lines", 0, 250)]) as fake:
        pipeline = stripe_pipeline(fake.url, ["invoices"], name="lines")
        _, end = await run_sync(pipeline)
        assert end["reason"] == "complete"
        newest = fake.data.streams["invoices"].object_id(0)
        invoice = TestDestination.stores["lines"][("invoices", newest)]
        lines = invoice["lines"]
        assert lines["has_more"] is False
        assert len(lines["data"]) == 250
        assert len({line["id"] for line in lines["data"]}) == 250
