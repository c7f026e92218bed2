"""One request budget per Stripe account across a platform's children, live polling included.

`service api` and two `service worker` processes, the Temporal dev server, a Postgres store and
destination, the fake Stripe server with twelve connected accounts. A platform pipeline lets all
of them backfill at once and then poll events five times a second each (60 requests/s wanted),
within a budget of 6 requests/s; a second pipeline with the same key (the platform's own account)
shares it. The fake counts the requests it accepts in any one second: never more than the budget
(and its one-request slack), while the budget is used.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from tests.support.postgres import PostgresServer
from tests.support.stripe import fake_stripe
from tests.support.temporal import ServiceClient, service_processes

from stripe_sync.fake_stripe.server import FakeStripe

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

KEY = "sk_test_budgetkey"
ACCOUNTS = 12
RATE = 6
LIVE_WINDOW_S = 8.0


@pytest.fixture
def fake() -> Iterator[FakeStripe]:
    with fake_stripe({"customers": 30}, connected_accounts=ACCOUNTS, api_keys=[KEY]) as server:
        yield server


def spec(fake: FakeStripe, destination_url: str, name: str, accounts: str) -> dict[str, object]:
    return {
        "name": name,
        "source": {
            "type": "stripe",
            "config": {
                "api_key": KEY,
                "base_url": fake.url,
                "accounts": accounts,
                "max_requests_per_second": RATE,
                "poll_interval": 0.2,
            },
        },
        "destination": {"type": "postgres", "config": {"url": destination_url, "schema": name}},
        "streams": ["customers"],
        "max_parallel_accounts": ACCOUNTS,
    }


def test_every_child_and_pipeline_of_an_account_shares_its_budget(
    fake: FakeStripe, postgres_server: PostgresServer, temporal_address: str, tmp_path
):
    store_url = postgres_server.create_database("budget_store")
    destination_url = postgres_server.create_database("budget_destination")
    with service_processes(
        tmp_path,
        store_url=store_url,
        temporal_address=temporal_address,
        task_queue="budget",
        workers=2,
        live_time_limit=30,  # calls long enough that their ends (a wasted slot each) are rare
    ) as (api, _):
        client = ServiceClient(api.line_with("listening").split()[1])
        platform = client.post("/pipelines", json=spec(fake, destination_url, "platform", "all"))
        assert platform.status_code == 201, platform.text
        own = client.post("/pipelines", json=spec(fake, destination_url, "own", "self"))
        assert own.status_code == 201, own.text
        client.wait_for(
            platform.json()["id"],
            lambda p: (
                p["status"] == "live"
                and len(p["accounts"] or {}) == ACCOUNTS
                and all(a["status"] == "live" for a in p["accounts"].values())
            ),
            timeout=120,
            what="every account live",
        )
        client.wait_status(own.json()["id"], "live")
        before = fake.stats()["accepted_total"]
        time.sleep(LIVE_WINDOW_S)
        stats = fake.stats()
        client.close()

    polled = stats["accepted_total"] - before
    # the children want 60 polls/s; the budget lets through at most RATE, and they use it
    assert stats["max_accepted_per_second"] <= RATE + 1, (stats, polled)
    assert RATE * LIVE_WINDOW_S / 2 <= polled <= RATE * LIVE_WINDOW_S + 1, (stats, polled)
    assert stats["rate_limited_total"] == 0
