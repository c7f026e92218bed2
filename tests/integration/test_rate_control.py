"""Rate control against the fake over real HTTP: each 429 reason reaches the limit it names, and a
sync paced at a sliding-window server's exact limit meets (almost) no 429."""

from __future__ import annotations

import asyncio

from tests.support.engine import run_sync
from tests.support.stripe import fake_stripe, seeded_ids, stripe_pipeline

from stripe_sync.connectors.testing.destination import TestDestination
from stripe_sync.sources.stripe.budget import RequestBudget
from stripe_sync.sources.stripe.client import StripeClient


def client_for(url: str, budget: RequestBudget) -> StripeClient:
    return StripeClient(
        api_key="sk_test_rate", base_url=url, api_version="2025-01-27.acacia", budget=budget
    )


async def test_an_endpoint_429_teaches_that_endpoint_and_leaves_the_account_alone():
    with fake_stripe({"customers": 10, "charges": 10}, endpoint_rate_limit=5) as fake:
        budget = RequestBudget(rate=0, endpoint_rate=0)
        client = client_for(fake.url, budget)
        try:
            await asyncio.gather(
                *(client.get("/v1/customers", {"limit": 1}, stream="c") for _ in range(12)),
                *(client.get("/v1/charges", {"limit": 1}, stream="h") for _ in range(3)),
            )
        finally:
            await client.aclose()
            await budget.close()
        assert fake.stats()["rate_limited_by_reason"]["endpoint-rate"] > 0
    assert budget.endpoints["/v1/customers"].learnt
    assert not budget.endpoints["/v1/charges"].learnt
    assert budget.learnt_rps is None and budget.current_rps == 0  # the account: still unlimited


async def test_a_concurrency_429_caps_requests_in_flight_and_leaves_the_rates_alone():
    with fake_stripe({"customers": 10}, concurrency_limit=3, latency_ms=200) as fake:
        budget = RequestBudget(rate=50, endpoint_rate=0)
        client = client_for(fake.url, budget)
        try:
            await asyncio.gather(
                *(client.get("/v1/customers", {"limit": 1}, stream="c") for _ in range(8))
            )
        finally:
            await client.aclose()
            await budget.close()
        assert fake.stats()["rate_limited_by_reason"]["global-concurrency"] > 0
    assert budget.concurrency.cap is not None and budget.concurrency.cap <= 3
    assert budget.concurrency.in_flight == 0
    assert budget.learnt_rps is None
    assert not any(pace.learnt for pace in budget.endpoints.values())


async def test_a_sync_paced_at_a_sliding_window_server_limit_sends_no_burst():
    rate = 20
    with fake_stripe(
        {"customers": 5000, "charges": 3000}, latency_ms=100, rate_limit=rate, sliding_window=True
    ) as fake:
        pipeline = stripe_pipeline(
            fake.url,
            ["customers", "charges"],
            name="window",
            max_requests_per_second=rate,
            max_requests_per_second_per_endpoint=0,
        )
        _, end = await run_sync(pipeline)
        assert end["reason"] == "complete"
        stats = fake.stats()
        requests = sum(sum(counts.values()) for counts in stats["requests"].values())
        assert stats["max_accepted_per_second"] <= rate
        assert stats["rate_limited_total"] <= max(2, 0.01 * requests)
        stored = {key[1] for key in TestDestination.stores["window"]}
        assert stored == seeded_ids(fake, "customers") | seeded_ids(fake, "charges")
