"""The fake Stripe server behaves like a real account where real accounts differ from a kind
server: events at the account's API version, events listed late, the 30-day window over seeded
events, the account looked up by its own id, deleted objects that answer 404, the realistic
profile."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import stripe
from tests.support.stripe import NOW, fake_stripe

from stripe_sync.fake_stripe.config import ACCOUNT_API_VERSION, PROFILES, profile_objects
from stripe_sync.protocol.errors import ConfigError
from stripe_sync.sources.stripe.catalog import load_catalog


def client_for(url: str) -> stripe.StripeClient:
    return stripe.StripeClient("sk_test_r", base_addresses={"api": url}, max_network_retries=0)


def test_events_carry_the_accounts_api_version_not_the_pinned_one():
    pinned = load_catalog().api_version
    assert pinned != ACCOUNT_API_VERSION
    with fake_stripe({"customers": 2}) as fake:
        client = client_for(fake.url)
        client.v1.customers.create({"name": "v"})
        (event,) = client.v1.events.list({"limit": 10}).data
        assert event.api_version == ACCOUNT_API_VERSION
    with fake_stripe({"customers": 2}, account_api_version=pinned) as fake:
        client = client_for(fake.url)
        client.v1.customers.create({"name": "v"})
        assert client.v1.events.list({"limit": 10}).data[0].api_version == pinned


def test_events_become_listable_late_with_an_event_delay():
    with fake_stripe({"customers": 2}, event_delay_ms=1500) as fake:
        client = client_for(fake.url)
        made = {client.v1.customers.create({"name": f"late {i}"}).id for i in range(20)}
        early = client.v1.events.list({"limit": 100}).data
        assert len(early) < 20  # 20 uniform delays of up to 1.5 s: some are still hidden
        time.sleep(1.6)
        listed = client.v1.events.list({"limit": 100}).data
        assert {event.data.object.id for event in listed} == made
    with fake_stripe({"customers": 2}) as fake:
        client = client_for(fake.url)
        client.v1.customers.create({"name": "at once"})
        assert len(client.v1.events.list({"limit": 100}).data) == 1


def test_seeded_events_expire_thirty_days_before_the_histories_clock():
    with fake_stripe({"events": 50}) as fake:
        client = client_for(fake.url)
        listed = list(client.v1.events.list({"limit": 100}).auto_paging_iter())
        assert len(listed) == 50
        assert min(event.created for event in listed) >= NOW - 30 * 86_400
        log = fake.api.event_logs[fake.data.account_id]
        real = log.clock
        log.clock = lambda: real() + 10 * 86_400  # ten days later
        later = list(client.v1.events.list({"limit": 100}).auto_paging_iter())
        assert 0 < len(later) < 50
        assert min(event.created for event in later) >= NOW - 20 * 86_400
        asked_old = client.v1.events.list({"limit": 100, "created": {"gte": NOW - 40 * 86_400}})
        assert len(list(asked_old.auto_paging_iter())) == len(later)


def test_the_account_answers_by_its_own_id_and_as_its_own_stripe_account():
    with fake_stripe({"customers": 3}) as fake:
        own = fake.data.account_id
        headers = {"Authorization": "Bearer sk_test_r"}
        by_id = httpx.get(f"{fake.url}/v1/accounts/{own}", headers=headers)
        assert by_id.status_code == 200
        assert by_id.json()["id"] == own
        as_itself = httpx.get(
            f"{fake.url}/v1/customers", headers={**headers, "Stripe-Account": own}
        )
        assert as_itself.status_code == 200
        assert len(as_itself.json()["data"]) == 3
        other = httpx.get(f"{fake.url}/v1/accounts/acct_nobody", headers=headers)
        assert other.status_code == 404


@pytest.mark.parametrize("real_404", [False, True])
def test_a_deleted_product_answers_404_when_asked_to(real_404):
    with fake_stripe({"products": 2, "customers": 2}, deleted_retrieve_404=real_404) as fake:
        client = client_for(fake.url)
        product = fake.data.streams["products"].object_id(0)
        customer = fake.data.streams["customers"].object_id(0)
        client.v1.products.delete(product)
        client.v1.customers.delete(customer)
        assert client.v1.customers.retrieve(customer).deleted is True  # customers keep a stub
        if real_404:
            with pytest.raises(stripe.InvalidRequestError, match="No such product"):
                client.v1.products.retrieve(product)
        else:
            assert client.v1.products.retrieve(product).deleted is True


def test_an_update_and_a_delete_in_one_second_list_in_order():
    with fake_stripe({"customers": 2}) as fake:
        account = fake.data.account_id
        second = int(time.time())
        fake.api.event_logs[account].clock = lambda: second
        fake.api.mutations[account].clock = lambda: second
        client = client_for(fake.url)
        customer = fake.data.streams["customers"].object_id(0)
        client.v1.customers.update(customer, {"name": "last words"})
        client.v1.customers.delete(customer)
        events = client.v1.events.list({"limit": 10}).data
        assert [event.type for event in events] == ["customer.deleted", "customer.updated"]
        assert {event.created for event in events} == {second}


def test_the_realistic_profile():
    counts = profile_objects("realistic")
    assert counts["customers"] == 6000 and counts["entitlements_active_entitlements"] == 0
    assert counts["balance_transactions"] > counts["customers"]
    with pytest.raises(ConfigError, match="unknown profile"):
        profile_objects("huge")
    assert set(PROFILES["realistic"]) - {"*"} <= set(load_catalog().streams)


def test_the_command_takes_the_new_flags():
    command = [
        str(Path(sys.executable).with_name("stripe-sync")),
        "fake-stripe",
        "--port",
        "0",
        "--profile",
        "realistic",
        "--objects",
        "customers=7",
        "--account-api-version",
        "2024-06-20",
        "--event-delay-ms",
        "100",
        "--deleted-retrieve-404",
    ]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("listening "), line
        url = line.split()[1]
        client = client_for(url)
        assert len(client.v1.customers.list({"limit": 100}).data) == 7
        assert len(client.v1.subscriptions.list({"limit": 3, "status": "all"}).data) == 3
        client.v1.customers.create({"name": "x"})
        time.sleep(0.2)
        assert client.v1.events.list({"limit": 1}).data[0].api_version == "2024-06-20"
    finally:
        process.terminate()
        process.wait(10)
    bad = subprocess.run(
        [*command[:2], "--profile", "huge"], capture_output=True, text=True, timeout=60
    )
    assert bad.returncode == 2
    assert "unknown profile" in bad.stderr
