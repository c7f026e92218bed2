"""Writes through the API: create, update, delete or cancel, and actions such as voiding an invoice.

Each mutation changes the collection's overlay and records the events Stripe would send:
``<prefix>.created|updated|deleted`` (``customer.subscription.*`` for subscriptions, whose
``DELETE`` cancels: the subscription stays, ``status = canceled``, and the event is
``customer.subscription.deleted``), ``invoice.voided`` for ``POST /v1/invoices/{id}/void``.
Parameters are Stripe's form encoding; a parameter that is not a field of the object is a 400,
``metadata`` merges key by key (an empty value removes a key), other nested objects merge.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson

from stripe_sync.fake_stripe import errors
from stripe_sync.fake_stripe.dataset import AccountData, StreamCollection
from stripe_sync.fake_stripe.errors import StripeError
from stripe_sync.fake_stripe.event_log import EventLog
from stripe_sync.fake_stripe.forms import coerce

DeleteKind = Literal["delete", "cancel"]


@dataclass(frozen=True)
class Mutable:
    """The writes a stream accepts."""

    create: bool = True
    update: bool = True
    delete: DeleteKind | None = "delete"
    actions: tuple[str, ...] = field(default=())


MUTABLE_STREAMS: dict[str, Mutable] = {
    "customers": Mutable(),
    "products": Mutable(),
    "coupons": Mutable(),
    "plans": Mutable(),
    "subscriptions": Mutable(delete="cancel"),
    "invoices": Mutable(create=False, delete=None, actions=("void",)),
}
FIXED_FIELDS = frozenset({"id", "object", "created", "livemode"})


class StateConflict(StripeError):
    def __init__(self, message: str) -> None:
        super().__init__(400, message)


class Mutations:
    """Applies writes to one account's data and records their events."""

    def __init__(
        self, account: AccountData, events: EventLog, clock: Callable[[], float] = time.time
    ) -> None:
        self.account = account
        self.events = events
        self.clock = clock

    def create(self, stream: str, params: dict[str, Any]) -> dict[str, Any]:
        collection = self.account.streams[stream]
        ordinal, seeded = collection.add(int(self.clock()))
        body = _copy(seeded)
        if "metadata" in body:
            body["metadata"] = {}  # what the request gives, not made-up values
        _apply(collection, body, params)
        collection.store(ordinal, body)
        self.events.record(f"{_prefix(collection)}.created", body)
        return body

    def update(self, stream: str, object_id: str, params: dict[str, Any]) -> dict[str, Any]:
        collection, ordinal = self._existing(stream, object_id)
        body = _copy(collection.render(ordinal))
        previous = _apply(collection, body, params)
        collection.store(ordinal, body)
        self.events.record(f"{_prefix(collection)}.updated", body, previous)
        return body

    def delete(self, stream: str, object_id: str, kind: DeleteKind) -> dict[str, Any]:
        collection, ordinal = self._existing(stream, object_id)
        body = collection.render(ordinal)
        if kind == "cancel":
            if body.get("status") == "canceled":
                raise StateConflict(f"The subscription {object_id} is already canceled.")
            changes = {"status": "canceled", "canceled_at": None, "ended_at": None}
            return self._change(collection, ordinal, changes, "deleted")
        collection.delete(ordinal)
        self.events.record(f"{_prefix(collection)}.deleted", body)
        return {"id": object_id, "object": collection.stream.object, "deleted": True}

    def action(self, stream: str, object_id: str, action: str) -> dict[str, Any]:
        collection, ordinal = self._existing(stream, object_id)
        if action == "void":
            if collection.render(ordinal).get("status") == "void":
                raise StateConflict(f"Invoice {object_id} is already void.")
            return self._change(collection, ordinal, {"status": "void"}, "voided")
        raise errors.unrecognized_url("POST", f"{collection.stream.list_path}/{object_id}/{action}")

    def _change(
        self,
        collection: StreamCollection,
        ordinal: int,
        changes: dict[str, Any],
        action: str,
    ) -> dict[str, Any]:
        """Set fields (None: the time now, for ``*_at`` fields the object has) and record
        ``<prefix>.<action>``."""
        body = _copy(collection.render(ordinal))
        previous: dict[str, Any] = {}
        properties = collection.stream.json_schema.get("properties", {})
        for name, value in changes.items():
            if name not in properties:
                continue
            previous[name] = body.get(name)
            body[name] = int(self.clock()) if value is None else value
        collection.store(ordinal, body)
        self.events.record(f"{_prefix(collection)}.{action}", body, previous)
        return body

    def _existing(self, stream: str, object_id: str) -> tuple[StreamCollection, int]:
        collection = self.account.streams[stream]
        ordinal = collection.find(object_id)
        if ordinal is None or collection.is_deleted(ordinal):
            raise errors.resource_missing(collection.stream.object, object_id)
        return collection, ordinal


def _copy(body: dict[str, Any]) -> dict[str, Any]:
    """A deep copy (built objects share nested values with others of their variant)."""
    copied: dict[str, Any] = orjson.loads(orjson.dumps(body))
    return copied


def _prefix(collection: StreamCollection) -> str:
    """The event prefix of a stream's objects: ``customer``, ``customer.subscription``, …"""
    for event_type in collection.stream.event_types:
        if event_type.endswith(".updated"):
            return event_type.removesuffix(".updated")
    return collection.stream.object


def _apply(
    collection: StreamCollection, body: dict[str, Any], params: dict[str, Any]
) -> dict[str, Any]:
    """Set the fields ``params`` names; returns the previous values of the fields that changed."""
    stream = collection.stream
    properties = stream.json_schema.get("properties", {})
    previous: dict[str, Any] = {}
    for name, value in params.items():
        if name == "expand" or name in stream.embedded_lists:
            continue  # expansion is ignored; embedded lists (subscription items) are not modelled
        if name in FIXED_FIELDS or name == stream.created_field or name not in properties:
            raise errors.parameter_unknown(name)
        new = coerce(name, value, properties[name])
        old = body.get(name)
        if name == "metadata":
            merged = {} if new is None or value == "" else dict(old or {})
            for key, item in (new or {}).items():
                if item in ("", None):
                    merged.pop(key, None)
                else:
                    merged[key] = item
            new = merged
        elif isinstance(new, dict) and isinstance(old, dict):
            new = {**old, **new}
        if new != old:
            previous[name] = old
            body[name] = new
    return previous
