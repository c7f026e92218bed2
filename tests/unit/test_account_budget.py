"""One Stripe account's budget shared by several processes: requests counted at the fake.

Two ``AccountBudgets`` over one store stand for two workers; each runs Stripe sources for
several connected accounts at once (a child per account, the platform's key), every one of them
allowed the account's whole rate by its own budget. The fake counts the requests it accepts in
any one second: together they stay within the account's rate.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.support.stripe import fake_stripe

from stripe_sync.fake_stripe.server import FakeStripe
from stripe_sync.service.account_budget import AccountBudgets, account_key
from stripe_sync.service.sealing import Sealer, new_key
from stripe_sync.service.store import open_store
from stripe_sync.sources.stripe.catalog import load_catalog
from stripe_sync.sources.stripe.client import make_client
from stripe_sync.sources.stripe.config import StripeSourceConfig
from stripe_sync.sources.stripe.request_gate import REQUEST_GATE

KEY = "sk_test_sharedbudget"
RATE = 8.0
ACCOUNTS = 6
REQUESTS_EACH = 8


@pytest.fixture
def fake() -> Iterator[FakeStripe]:
    with fake_stripe({"customers": 30}, connected_accounts=ACCOUNTS, api_keys=[KEY]) as server:
        yield server


async def child(fake: FakeStripe, budgets: AccountBudgets, account: str) -> None:
    """One connected account's calls: its own client, its own budget of the whole rate."""
    config = {"api_key": KEY, "base_url": fake.url, "max_requests_per_second": RATE}
    gate = budgets.gate_for({"type": "stripe", "config": config})
    assert gate is not None
    REQUEST_GATE.set(gate.acquire)
    source_config = StripeSourceConfig.model_validate({**config, "account": account})
    client = make_client(source_config, load_catalog())
    try:
        for _ in range(REQUESTS_EACH):
            await client.get("/v1/customers", {"limit": 1}, stream="customers")
    finally:
        await client.aclose()
        await client.budget.close()


async def test_many_accounts_on_two_workers_stay_within_the_account_budget(
    fake: FakeStripe, tmp_path: Path
):
    store = open_store(f"sqlite:///{tmp_path / 'pipelines.db'}", Sealer([new_key()]))
    await store.migrate()
    workers = [AccountBudgets(store), AccountBudgets(store)]
    accounts = fake.api.connected
    await asyncio.gather(
        *(child(fake, workers[i % 2], account) for i, account in enumerate(accounts))
    )
    stats = fake.stats()
    assert stats["accepted_total"] == ACCOUNTS * REQUESTS_EACH
    # 48 requests that each child's own budget would send at 8/s each (48/s together)
    assert stats["max_accepted_per_second"] <= RATE + 1


def test_the_budget_key_hides_the_key_and_tells_accounts_apart():
    one = account_key({"api_key": KEY, "base_url": "http://a"})
    assert KEY not in one and one.startswith("stripe:")
    assert one == account_key({"api_key": KEY, "base_url": "http://a", "account": "acct_1"})
    assert one != account_key({"api_key": KEY, "base_url": "http://b"})
    assert one != account_key({"api_key": KEY + "x", "base_url": "http://a"})
