"""Seeded account data: schema-shaped ~2 KB objects, parents and children, embedded lists."""

from __future__ import annotations

import statistics

import orjson
import pytest

from stripe_sync.fake_stripe.config import FakeStripeConfig, ListSize, SameSecond
from stripe_sync.fake_stripe.dataset import EMBEDDED_PAGE, AccountData
from stripe_sync.protocol.errors import ConfigError
from stripe_sync.sources.stripe.catalog import load_catalog

NOW = 1767225600
CATALOG = load_catalog()


def account(seed: int = 1, **settings) -> AccountData:
    return AccountData(CATALOG, FakeStripeConfig(seed=seed, now=NOW, **settings), "acct_test")


def test_every_stream_has_objects_shaped_by_its_schema():
    data = account()
    for name, collection in data.streams.items():
        stream = CATALOG.streams[name]
        expected = 0 if name in ("accounts", "events") else 10
        assert len(collection) == expected, name
        for index in range(len(collection)):
            obj = collection.render(index)
            assert obj["id"] == collection.object_id(index)
            assert obj["object"] == stream.object
            assert set(obj) <= set(stream.json_schema["properties"]), name
            if stream.created_field:
                assert obj[stream.created_field] == collection.created(index)


def test_main_objects_are_about_two_kilobytes():
    data = account(objects={"customers": 200, "charges": 200, "payment_intents": 200})
    for name in ("customers", "charges", "payment_intents"):
        collection = data.streams[name]
        sizes = [len(orjson.dumps(collection.render(i))) for i in range(len(collection))]
        assert 1500 <= statistics.mean(sizes) <= 3000, name


def test_references_point_at_seeded_objects():
    data = account(objects={"customers": 30, "invoices": 30})
    customers = {data.streams["customers"].object_id(i) for i in range(30)}
    invoices = [data.streams["invoices"].render(i) for i in range(30)]
    assert all(invoice["customer"] in customers for invoice in invoices)
    assert len({invoice["customer"] for invoice in invoices}) > 10


def test_fan_out_children_carry_their_parent_and_follow_it():
    data = account(objects={"subscriptions": 20, "subscription_items": 50})
    children = data.children["subscription_items"]
    assert children.total() == 50
    parents = data.streams["subscriptions"]
    for parent in range(20):
        for position in range(children.size(parent)):
            item = children.render(parent, position)
            assert item["subscription"] == parents.object_id(parent)
            assert children.find(item["id"]) == (parent, position)
            assert item["created"] >= parents.created(parent)


def test_embedded_lists_show_the_first_page_and_their_url():
    data = account(objects={"invoices": 5}, list_sizes=[ListSize("invoices", "lines", 0, 250)])
    invoices = data.streams["invoices"]
    invoice = invoices.render(0)
    lines = invoice["lines"]
    assert lines["object"] == "list" and lines["has_more"] is True
    assert lines["url"] == f"/v1/invoices/{invoice['id']}/lines"
    assert len(lines["data"]) == EMBEDDED_PAGE
    assert all(line["object"] == "line_item" for line in lines["data"])
    assert all(line["invoice"] == invoice["id"] for line in lines["data"])
    assert invoices.embedded["lines"].children.size(0) == 250
    subscription = data.streams["subscriptions"].render(0)
    items = subscription["items"]
    assert items["url"] == f"/v1/subscription_items?subscription={subscription['id']}"
    assert [item["subscription"] for item in items["data"]] == [subscription["id"]] * len(
        items["data"]
    )


def test_same_second_groups_and_account_creation():
    data = account(objects={"customers": 5}, same_second=[SameSecond("customers", 300, NOW - 10)])
    customers = data.streams["customers"]
    assert len(customers) == 305
    assert sum(1 for i in range(305) if customers.created(i) == NOW - 10) >= 300
    assert data.created <= min(customers.created(i) for i in range(305))


def test_subscriptions_leave_out_canceled_ones_unless_asked():
    subscriptions = account(objects={"subscriptions": 400}).streams["subscriptions"]
    everything = subscriptions.list_view({"status": "all"})
    default = subscriptions.list_view({})
    canceled = subscriptions.list_view({"status": "canceled"})
    assert len(everything.indices) == 400
    assert 0 < len(canceled.indices) < 400
    assert len(default.indices) + len(canceled.indices) == 400
    assert all(subscriptions.render(i)["status"] == "canceled" for i in canceled.indices)
    assert all(subscriptions.render(i)["status"] != "canceled" for i in default.indices)


def test_same_seed_same_objects_other_seed_other_objects():
    first, again, other = account(1), account(1), account(2)
    assert first.streams["charges"].render(3) == again.streams["charges"].render(3)
    assert first.account_object == again.account_object
    assert first.streams["charges"].render(3) != other.streams["charges"].render(3)


@pytest.mark.parametrize(
    "settings",
    [
        {"objects": {"custmers": 3}},
        {"same_second": [SameSecond("subscription_items", 3)]},
        {"list_sizes": [ListSize("customers", "lines", 0, 3)]},
        {"list_sizes": [ListSize("invoices", "lines", 99, 3)]},
    ],
)
def test_bad_shapes_are_config_errors(settings):
    with pytest.raises(ConfigError):
        account(**settings)
