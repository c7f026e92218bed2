"""The fake Stripe server through the official `stripe` SDK (only the API base changed)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
import stripe

from stripe_sync.fake_stripe import FakeStripe, ListSize, SameSecond

NOW = 1767225600  # 2026-01-01T00:00:00Z
KEY = "sk_test_fake"
OBJECTS = {"customers": 1234, "invoices": 30, "subscriptions": 40, "subscription_items": 90}


def client_for(fake: FakeStripe, key: str = KEY) -> stripe.StripeClient:
    return stripe.StripeClient(key, base_addresses={"api": fake.url}, max_network_retries=0)


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeStripe]:
    with FakeStripe(
        seed=1,
        now=NOW,
        objects={"*": 3, **OBJECTS},
        same_second=[SameSecond("customers", 250, NOW - 500)],
        list_sizes=[ListSize("invoices", "lines", 0, 250)],
        restricted_keys={"rk_test_limited": frozenset({"customers"})},
        not_available=frozenset({"issuing_cards"}),
    ) as server:
        yield server


def test_auto_paging_returns_every_seeded_object_newest_first(fake):
    customers = fake.data.streams["customers"]
    listed = list(client_for(fake).v1.customers.list({"limit": 100}).auto_paging_iter())
    assert [c.id for c in listed] == [customers.object_id(i) for i in range(len(customers))]
    assert len(listed) == 1234 + 250
    created = [c.created for c in listed]
    assert created == sorted(created, reverse=True)


def test_auto_paging_backwards_from_ending_before(fake):
    customers = fake.data.streams["customers"]
    start = customers.object_id(300)
    listed = client_for(fake).v1.customers.list({"limit": 7, "ending_before": start})
    ids = [c.id for c in listed.auto_paging_iter()]
    assert sorted(ids) == sorted(customers.object_id(i) for i in range(300))


def test_created_filters_select_exactly(fake):
    customers = fake.data.streams["customers"]
    all_created = [customers.created(i) for i in range(len(customers))]
    middle = sorted(all_created)[len(all_created) // 2]
    windows: list[tuple[Any, Callable[[int], bool]]] = [
        ({"gte": middle - 86_400 * 90, "lt": middle}, lambda t: middle - 86_400 * 90 <= t < middle),
        ({"gt": middle, "lte": NOW}, lambda t: middle < t <= NOW),
        ({"gte": NOW - 500, "lt": NOW - 499}, lambda t: t == NOW - 500),
    ]
    for bounds, selected in windows:
        params: Any = {"limit": 100, "created": bounds}
        listed = list(client_for(fake).v1.customers.list(params).auto_paging_iter())
        assert len(listed) == sum(1 for t in all_created if selected(t)) > 0
        assert all(selected(c.created) for c in listed)


def test_retrieve_and_the_account(fake):
    client = client_for(fake)
    customers = fake.data.streams["customers"]
    customer = client.v1.customers.retrieve(customers.object_id(17))
    assert customer.object == "customer" and customer.created == customers.created(17)
    assert client.v1.subscription_items.retrieve(
        fake.data.children["subscription_items"].object_id(0, 0)
    ).object == ("subscription_item")
    account = client.v1.accounts.retrieve_current()
    oldest = min(customers.created(i) for i in range(len(customers)))
    assert account.object == "account" and account.id.startswith("acct_")
    assert account.created <= oldest


def test_embedded_lists_page_through_their_url(fake):
    client = client_for(fake)
    invoice = client.v1.invoices.retrieve(fake.data.streams["invoices"].object_id(0))
    assert invoice.lines.has_more and len(invoice.lines.data) == 10
    lines = list(client.v1.invoices.line_items.list(invoice.id, {"limit": 100}).auto_paging_iter())
    assert len({line.id for line in lines}) == 250
    subscription = client.v1.subscriptions.list({"status": "all", "limit": 1}).data[0]
    items = client.v1.subscription_items.list({"subscription": subscription.id})
    assert {item.id for item in items.data} == {item.id for item in subscription["items"].data}


def test_subscriptions_need_status_all_for_canceled_ones(fake):
    client = client_for(fake)
    default = list(client.v1.subscriptions.list({"limit": 100}).auto_paging_iter())
    everything = list(
        client.v1.subscriptions.list({"status": "all", "limit": 100}).auto_paging_iter()
    )
    assert len(everything) == 40 > len(default)
    assert all(sub.status != "canceled" for sub in default)


def test_errors_raise_the_sdk_exception_classes(fake):
    client = client_for(fake)
    with pytest.raises(stripe.AuthenticationError):
        client_for(fake, "sk_test_").v1.customers.list()
    with pytest.raises(stripe.PermissionError, match="rak_customer_read"):
        client_for(fake, "rk_test_limited").v1.customers.list()
    assert client_for(fake, "rk_test_limited").v1.charges.list().data is not None
    with pytest.raises(stripe.InvalidRequestError) as missing:
        client.v1.customers.retrieve("cus_doesnotexist")
    assert missing.value.http_status == 404 and missing.value.code == "resource_missing"
    with pytest.raises(stripe.InvalidRequestError) as cursor:
        client.v1.customers.list({"starting_after": "cus_doesnotexist"})
    assert cursor.value.http_status == 404 and cursor.value.param == "starting_after"
    with pytest.raises(stripe.InvalidRequestError, match="not set up to use Issuing"):
        client.v1.issuing.cards.list()
    with pytest.raises(stripe.InvalidRequestError) as required:
        client.v1.subscription_items.list({})  # type: ignore[typeddict-item]
    assert required.value.http_status == 400 and required.value.param == "subscription"


def test_rate_limits_raise_rate_limit_error():
    with FakeStripe(seed=1, now=NOW, objects={"*": 1}, rate_limit=2) as fake:
        client = client_for(fake)
        with pytest.raises(stripe.RateLimitError) as raised:
            for _ in range(5):
                client.v1.customers.list()
        assert raised.value.http_status == 429
        assert (raised.value.headers or {})["Stripe-Rate-Limited-Reason"] == "global-rate"


def test_five_thousand_objects_in_one_second_are_listed_once():
    # plain HTTP: the SDK spends ~90 ms turning each page of 100 into StripeObjects
    with (
        FakeStripe(
            seed=3, now=NOW, objects={"*": 0}, same_second=[SameSecond("charges", 5000, NOW - 7)]
        ) as fake,
        httpx.Client(base_url=fake.url, headers={"Authorization": f"Bearer {KEY}"}) as http,
    ):
        ids: list[str] = []
        params: dict[str, str | int] = {
            "limit": 100,
            "created[gte]": NOW - 7,
            "created[lt]": NOW - 6,
        }
        while True:
            page = http.get("/v1/charges", params=params).json()
            ids += [charge["id"] for charge in page["data"]]
            if not page["has_more"]:
                break
            params["starting_after"] = ids[-1]
    assert len(ids) == len(set(ids)) == 5000


PATHS = (
    "/v1/customers?limit=100",
    "/v1/invoices?limit=5&created[lt]=1767000000",
    "/v1/subscriptions?status=all&limit=3",
    "/v1/account",
)


def bodies(seed: int) -> list[bytes]:
    with FakeStripe(seed=seed, now=NOW, objects={"customers": 300}) as fake:
        headers = {"Authorization": f"Bearer {KEY}"}
        with httpx.Client(base_url=fake.url, headers=headers) as http:
            responses = [http.get(path) for path in PATHS]
            first = responses[1].json()["data"][0]["id"]
            responses.append(http.get(f"/v1/invoices/{first}/lines"))
    assert all(response.status_code == 200 for response in responses)
    return [response.content for response in responses]


def test_same_seed_same_bytes_other_seed_other_data():
    first, again, other = bodies(5), bodies(5), bodies(6)
    assert first == again
    assert all(a != b for a, b in zip(first, other, strict=True))
