"""The Stripe source against the fake server: complete data, resumable, errors and budget."""

from __future__ import annotations

import random
from collections import Counter

import pytest
from tests.support.engine import of_type, run_sync
from tests.support.stripe import fake_stripe, seeded_ids, stripe_pipeline

from stripe_sync.connectors.testing.destination import TestDestination
from stripe_sync.fake_stripe.config import Burst429


def stored_ids(name: str, stream: str) -> set[str]:
    return {key[1] for key in TestDestination.stores.get(name, {}) if key[0] == stream}


@pytest.fixture(scope="module")
def big_fake():
    objects = {
        "customers": 9000,
        "charges": 8000,
        "invoices": 3000,
        "subscriptions": 300,
        "subscription_items": 700,
        "reporting_report_types": 7,
    }
    with fake_stripe(objects) as fake:
        yield fake


async def test_three_streams_fan_out_and_cursor_only_arrive_complete_and_once(big_fake, tmp_path):
    streams = ["customers", "charges", "invoices", "subscription_items", "reporting_report_types"]
    rows = tmp_path / "rows.jsonl"
    pipeline = stripe_pipeline(
        big_fake.url,
        streams,
        name="complete",
        destination={"type": "test", "config": {"name": "complete", "path": str(rows)}},
    )
    _, end = await run_sync(pipeline)
    assert end["reason"] == "complete"
    assert end["has_more"] is False
    statuses = {k: v["status"] for k, v in end["run_progress"]["streams"].items()}
    assert set(statuses.values()) == {"complete"}
    for stream in streams:
        assert stored_ids("complete", stream) == seeded_ids(big_fake, stream), stream
    delivered = Counter(line for line in rows.read_text().splitlines())
    assert max(delivered.values()) == 1
    record = next(
        data
        for (stream, _), data in TestDestination.stores["complete"].items()
        if stream == "customers"
    )
    assert record["_account_id"].startswith("acct_")


async def test_resume_from_the_state_after_any_page_loses_nothing(big_fake):
    streams = ["customers", "subscription_items", "reporting_report_types"]
    expected = {stream: seeded_ids(big_fake, stream) for stream in streams}
    rng = random.Random(7)
    for cut in sorted(rng.sample(range(1, 60), 8)):
        name = f"cut-{cut}"
        pipeline = stripe_pipeline(big_fake.url, streams, name=name)
        _, first = await run_sync(pipeline, state_limit=cut)
        assert first["reason"] in ("state_limit", "complete")
        _, end = await run_sync(pipeline, first["ending_state"])
        assert end["has_more"] is False
        for stream in streams:
            assert stored_ids(name, stream) == expected[stream], (cut, stream)


async def test_invalid_key_is_a_global_auth_error_and_nothing_else_is_asked():
    with fake_stripe({"customers": 50}, api_keys=["sk_test_good"]) as fake:
        pipeline = stripe_pipeline(fake.url, ["customers", "charges"], api_key="sk_test_bad")
        messages, end = await run_sync(pipeline)
        assert end["reason"] == "error"
        errors = end["run_progress"]["errors"]
        assert errors[0]["level"] == "global"
        assert errors[0]["failure_type"] == "auth_error"
        assert "sk_test_bad" not in str(messages)
        refused = sum(counts.get("401", 0) for counts in fake.stats()["requests"].values())
        assert refused == 1


async def test_forbidden_stream_fails_with_hint_others_complete_unavailable_is_skipped():
    with fake_stripe(
        {"customers": 120, "charges": 80, "payouts": 30},
        restricted_keys={"rk_test_limited": frozenset({"charges"})},
        not_available=frozenset({"payouts"}),
    ) as fake:
        pipeline = stripe_pipeline(
            fake.url, ["customers", "charges", "payouts"], api_key="rk_test_limited", name="perm"
        )
        messages, end = await run_sync(pipeline)
        streams = end["run_progress"]["streams"]
        assert streams["customers"]["status"] == "complete"
        assert streams["charges"]["status"] == "failed"
        error = streams["charges"]["errors"][0]
        assert error["failure_type"] == "permission_error"
        assert error["level"] == "stream"
        assert "rak_" in error["hint"]
        assert streams["payouts"]["status"] == "skipped"
        assert streams["payouts"]["reason"]
        assert stored_ids("perm", "customers") == seeded_ids(fake, "customers")
        assert any("payouts" in log["message"] for log in of_type(messages, "log"))


async def test_server_errors_and_dropped_connections_still_give_complete_data():
    with fake_stripe(
        {"customers": 3000, "charges": 2000}, fault_rate=0.05, reset_rate=0.03, garbage_rate=0.02
    ) as fake:
        pipeline = stripe_pipeline(fake.url, ["customers", "charges"], name="faults")
        _, end = await run_sync(pipeline)
        assert end["reason"] == "complete"
        assert end["run_progress"]["retry_count"] > 0
        for stream in ("customers", "charges"):
            assert stored_ids("faults", stream) == seeded_ids(fake, stream)


async def test_requests_stay_within_the_configured_budget():
    with fake_stripe({"customers": 4000, "charges": 4000}, latency_ms=20) as fake:
        pipeline = stripe_pipeline(
            fake.url, ["customers", "charges"], name="budget", max_requests_per_second=15
        )
        _, end = await run_sync(pipeline)
        assert end["reason"] == "complete"
        stats = fake.stats()
        busiest = stats["max_accepted_per_second"]
        assert busiest <= 15 + 15 * 0.25 + 1


async def test_a_burst_of_429s_lowers_budget_rps_and_it_recovers():
    burst = Burst429(every_s=2.5, length_s=0.3)
    with fake_stripe({"customers": 10000}, burst_429=burst) as fake:
        pipeline = stripe_pipeline(
            fake.url,
            ["customers"],
            name="limited",
            max_requests_per_second=20,
            max_requests_per_second_per_endpoint=0,
        )
        messages, end = await run_sync(pipeline, progress_interval=0.2)
        assert end["reason"] == "complete"
        budgets = [p["budget_rps"] for p in of_type(messages, "progress") if p.get("budget_rps")]
        assert end["run_progress"]["rate_limited_count"] > 0
        first_drop = next(i for i, rps in enumerate(budgets) if rps < budgets[0])
        assert max(budgets[first_drop:]) > budgets[first_drop], "the budget never recovered"
        assert stored_ids("limited", "customers") == seeded_ids(fake, "customers")
