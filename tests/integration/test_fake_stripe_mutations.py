"""Writes to the fake Stripe server through the official SDK: lists, retrieves and the events they
record, ``/v1/events`` filters and its 30-day window, and signed webhook posts."""

from __future__ import annotations

import http.server
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import orjson
import pytest
import stripe
from tests.support.stripe import fake_stripe

from stripe_sync.fake_stripe.server import FakeStripe
from stripe_sync.sources.stripe.webhook_signature import verify

OBJECTS = {
    "customers": 30,
    "products": 5,
    "coupons": 5,
    "plans": 5,
    "subscriptions": 8,
    "invoices": 4,
}


def client_for(fake: FakeStripe) -> stripe.StripeClient:
    return stripe.StripeClient("sk_test_w", base_addresses={"api": fake.url}, max_network_retries=0)


@pytest.fixture
def fake() -> Iterator[FakeStripe]:
    with fake_stripe(OBJECTS) as server:
        yield server


def event_types(client: stripe.StripeClient) -> list[str]:
    """Recorded events, oldest first."""
    return [event.type for event in reversed(list(client.v1.events.list({"limit": 100})))]


@pytest.mark.parametrize(
    ("stream", "name_field"),
    [("customers", "name"), ("products", "name"), ("coupons", "name"), ("plans", "nickname")],
)
def test_create_update_delete_show_in_lists_and_events(fake, stream, name_field):
    client = client_for(fake)
    service = getattr(client.v1, stream)
    seeded = fake.data.streams[stream].object_id(0)
    created = service.create({name_field: "Made here", "metadata": {"origin": "test"}})
    assert created[name_field] == "Made here"
    assert created.metadata.to_dict() == {"origin": "test"}
    updated = service.update(created.id, {"metadata": {"origin": "", "tier": "gold"}})
    assert updated.metadata.to_dict() == {"tier": "gold"}
    assert service.delete(seeded).deleted is True
    assert service.retrieve(seeded).deleted is True
    listed = [obj.id for obj in service.list({"limit": 100}).auto_paging_iter()]
    assert listed[0] == created.id  # newest first
    assert seeded not in listed
    assert len(listed) == OBJECTS[stream]
    prefix = fake.data.streams[stream].stream.object
    assert event_types(client) == [f"{prefix}.created", f"{prefix}.updated", f"{prefix}.deleted"]
    update_event = client.v1.events.list({"type": f"{prefix}.updated"}).data[0]
    assert update_event.data.object.id == created.id
    assert update_event.data.previous_attributes.to_dict() == {"metadata": {"origin": "test"}}
    assert update_event.api_version == fake.config.account_api_version  # the account's own


def test_canceled_subscription_stays_listed_with_status_all(fake):
    client = client_for(fake)
    subscriptions = fake.data.streams["subscriptions"]
    active = next(
        subscriptions.object_id(i)
        for i in range(len(subscriptions))
        if subscriptions.render(i)["status"] != "canceled"
    )
    canceled = client.v1.subscriptions.cancel(active)
    assert canceled.status == "canceled" and canceled.canceled_at is not None
    everything = [s.id for s in client.v1.subscriptions.list({"status": "all", "limit": 100})]
    assert active in everything and len(everything) == OBJECTS["subscriptions"]
    assert active not in [s.id for s in client.v1.subscriptions.list({"limit": 100})]
    event = client.v1.events.list({"limit": 1}).data[0]
    assert event.type == "customer.subscription.deleted"
    assert event.data.object.status == "canceled"
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.subscriptions.cancel(active)


def test_invoices_update_and_void(fake):
    client = client_for(fake)
    invoice = fake.data.streams["invoices"].object_id(1)
    assert client.v1.invoices.update(invoice, {"description": "fixed"}).description == "fixed"
    voided = client.v1.invoices.void_invoice(invoice)
    assert voided.status == "void" and voided.description == "fixed"
    assert client.v1.invoices.retrieve(invoice).status == "void"
    assert event_types(client) == ["invoice.updated", "invoice.voided"]
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.invoices.create({})  # not a write the fake offers: unrecognized URL


def test_bad_writes_are_refused_without_events(fake):
    client = client_for(fake)
    customer = fake.data.streams["customers"].object_id(3)
    with pytest.raises(stripe.InvalidRequestError, match="unknown parameter: bogus"):
        client.v1.customers.update(customer, {"bogus": "1"})
    with pytest.raises(stripe.InvalidRequestError, match="Invalid integer"):
        client.v1.customers.update(customer, {"balance": "lots"})
    client.v1.customers.delete(customer)
    with pytest.raises(stripe.InvalidRequestError, match="No such customer"):
        client.v1.customers.update(customer, {"name": "ghost"})
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.charges.update(customer, {"description": "charges are read-only here"})
    assert event_types(client) == ["customer.deleted"]


def test_a_cursor_on_an_object_deleted_meanwhile_still_pages_on(fake):
    client = client_for(fake)
    customers = fake.data.streams["customers"]
    first_page = client.v1.customers.list({"limit": 10})
    cursor = first_page.data[-1].id
    client.v1.customers.delete(cursor)
    rest = client.v1.customers.list({"limit": 100, "starting_after": cursor})
    assert [c.id for c in rest] == [customers.object_id(i) for i in range(10, len(customers))]


def test_events_filters_window_and_paging(fake):
    client = client_for(fake)
    made = [client.v1.customers.create({"name": f"n{i}"}).id for i in range(25)]
    client.v1.products.create({"name": "p"})
    with pytest.raises(stripe.InvalidRequestError, match="more than 20"):
        client.v1.events.list({"types": [f"customer.t{i}" for i in range(21)]})
    only = client.v1.events.list({"types": ["product.created"], "limit": 100})
    assert [event.type for event in only] == ["product.created"]
    paged = list(client.v1.events.list({"type": "customer.*", "limit": 7}).auto_paging_iter())
    assert [event.data.object.id for event in paged] == made[::-1]
    newer = client.v1.events.list(
        {"type": "customer.*", "ending_before": paged[10].id, "limit": 100}
    )
    assert [event.id for event in newer] == [event.id for event in paged[:10]]
    now = int(fake.api.event_logs[fake.data.account_id].clock())
    assert client.v1.events.list({"created": {"gt": now + 5}}).data == []
    log = fake.api.event_logs[fake.data.account_id]
    log.clock = lambda: now + 31 * 86_400
    assert client.v1.events.list({"limit": 100}).data == []
    with pytest.raises(stripe.InvalidRequestError, match="No such event"):
        client.v1.events.retrieve(paged[0].id)


class _Receiver(http.server.BaseHTTPRequestHandler):
    deliveries: list[tuple[bytes, str]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.deliveries.append((body, self.headers["Stripe-Signature"]))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_each_event_is_posted_signed_to_the_webhook_url():
    receiver = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{receiver.server_address[1]}/hook"
    try:
        with fake_stripe(OBJECTS, webhook_url=url, webhook_secret="whsec_test") as fake:
            client = client_for(fake)
            customer = client.v1.customers.create({"email": "hook@example.com"})
            client.v1.customers.delete(customer.id)
            for _ in range(200):
                if len(_Receiver.deliveries) == 2:
                    break
                time.sleep(0.05)
            assert fake.stats()["webhooks"] == {"200": 2}
    finally:
        receiver.shutdown()
    events = []
    for body, signature in _Receiver.deliveries:
        verify(body, signature, ["whsec_test"])
        events.append(orjson.loads(body))
    # deliveries run side by side, so they may arrive in either order (as Stripe's may)
    assert sorted(event["type"] for event in events) == ["customer.created", "customer.deleted"]
    assert all(event["pending_webhooks"] == 1 for event in events)


def test_the_command_wants_a_secret_with_a_webhook_url():
    done = subprocess.run(
        [sys.executable, "-m", "stripe_sync.cli.main", "fake-stripe", "--webhook-url", "http://x/"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert done.stderr.strip() == "stripe-sync: --webhook-url needs --webhook-secret"
