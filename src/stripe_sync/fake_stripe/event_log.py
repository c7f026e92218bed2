"""An account's events: recorded on every mutation, served by ``GET /v1/events`` as Stripe does.

Events are objects added to the account's ``events`` collection (after any seeded ones), created
at the real clock, so they list newest first like every other stream. They carry the account's
API version (``account_api_version``), not the one the request pinned. Recorded events expire 30
days after they were created (by the real clock); seeded ones 30 days before the seeded history's
clock (``--now``, running on from when the log was made). With ``delay_ms`` each recorded event
is listed only after a random delay of up to that long, as Stripe lists some events late.
``/v1/events`` filters by ``created``, by ``type`` (``customer.*`` matches a prefix) and by
``types[]`` (at most 20 names). Each recorded event is handed to ``notify`` (the webhook sender)
when one is set.
"""

from __future__ import annotations

import copy
import dataclasses
import random
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl

from stripe_sync.fake_stripe import errors
from stripe_sync.fake_stripe.dataset import EVENTS_WINDOW_SECONDS, StreamCollection
from stripe_sync.fake_stripe.forms import decode_form
from stripe_sync.fake_stripe.listing import View, list_page, parse_page_request

MAX_TYPES = 20
EVENTS_PATH = "/v1/events"

Clock = Callable[[], float]


class EventLog:
    """Records and lists the events of one account."""

    def __init__(
        self,
        events: StreamCollection,
        api_version: str,
        clock: Clock = time.time,
        notify: Callable[[dict[str, Any]], None] | None = None,
        account: str | None = None,
        *,
        history_now: int | None = None,
        delay_ms: float = 0.0,
        seed: int = 0,
    ) -> None:
        self.events = events
        self.account = account
        """A connected account's id: its events say so (``account``), as Connect events do."""
        self.api_version = api_version
        self.clock = clock
        self.notify = notify
        self.delay_ms = delay_ms
        self._random = random.Random(seed)
        self._hidden: dict[int, float] = {}
        """Ordinals of recorded events not listed yet → when they become listable."""
        self._history_offset = (history_now - clock()) if history_now is not None else 0.0
        """The seeded history's clock minus the real one (``--now`` runs on from here)."""
        self._expired = 0
        """How many of the recorded events (oldest first) have expired."""

    def record(
        self,
        event_type: str,
        obj: dict[str, Any],
        previous_attributes: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Append an event about ``obj`` (a snapshot is taken) and notify the webhook sender."""
        ordinal, _ = self.events.add(int(self.clock()))
        data: dict[str, Any] = {"object": copy.deepcopy(obj)}
        if previous_attributes is not None:
            data["previous_attributes"] = copy.deepcopy(previous_attributes)
        event = {
            "id": self.events.object_id(ordinal),
            "object": "event",
            "api_version": self.api_version,
            "created": self.events.created(ordinal),
            "data": data,
            "livemode": False,
            "pending_webhooks": 1 if self.notify is not None else 0,
            "request": {"id": None, "idempotency_key": None},
            "type": event_type,
        }
        if self.account is not None:
            event["account"] = self.account
        self.events.store(ordinal, event)
        if self.delay_ms > 0:
            self._hidden[ordinal] = self.clock() + self._random.uniform(0, self.delay_ms) / 1000
        if self.notify is not None:
            self.notify(event)
        return event

    def list(self, query: str) -> dict[str, Any]:
        """``GET /v1/events`` with the request's query string."""
        nested = decode_form(query)
        flat = dict(parse_qsl(query, keep_blank_values=True))
        names = nested.get("types")
        if names is not None and not isinstance(names, list):
            raise errors.parameter_invalid("types", "Invalid array")
        if names is not None and len(names) > MAX_TYPES:
            raise errors.parameter_invalid(
                "types", f"types: cannot list more than {MAX_TYPES} event types"
            )
        other = {"type", "delivery_success", *(name for name in flat if name.startswith("types["))}
        page = parse_page_request(flat, other_params=other, created_filter=True)
        self.expire()
        oldest = int(self.clock() + self._history_offset) - EVENTS_WINDOW_SECONDS
        if page.created_gte is None or page.created_gte < oldest:
            page = dataclasses.replace(page, created_gte=oldest)
        view = self.events.full_view()
        hidden = self._not_listed_yet()
        if hidden:
            view = _filtered(view, lambda ordinal: ordinal not in hidden)
        matches = _type_filter(flat.get("type"), names)
        if matches is not None:
            render = view.render
            view = _filtered(view, lambda ordinal: matches(str(render(ordinal).get("type"))))
        return list_page(view, page, EVENTS_PATH)

    def _not_listed_yet(self) -> set[int]:
        """The recorded events still delayed (those whose delay has run out are forgotten)."""
        now = self.clock()
        for ordinal in [o for o, visible_at in self._hidden.items() if visible_at <= now]:
            del self._hidden[ordinal]
        return set(self._hidden)

    def expire(self) -> None:
        """Forget recorded events older than Stripe's 30 days (they are no longer served)."""
        window_start = self.clock() - EVENTS_WINDOW_SECONDS
        recorded = self.events.overlay.added
        while self._expired < len(recorded) and recorded[self._expired] < window_start:
            self._expired += 1
            self.events.delete(-self._expired)


def _type_filter(pattern: str | None, names: list[str] | None) -> Callable[[str], bool] | None:
    """What ``type`` (``customer.*`` is a prefix) and ``types[]`` select; None for everything."""
    if pattern is None and names is None:
        return None
    wanted = set(names or ())

    def matches(event_type: str) -> bool:
        if names is not None and event_type not in wanted:
            return False
        if pattern is None:
            return True
        if pattern.endswith("*"):
            return event_type.startswith(pattern[:-1])
        return event_type == pattern

    return matches


def _filtered(view: View, keep: Callable[[int], bool]) -> View:
    """The events of ``view`` whose ordinal ``keep`` accepts, as a view of their own."""
    keys: list[int] = []
    indices: list[int] = []
    for key, ordinal in zip(view.keys, view.indices, strict=True):
        if keep(ordinal):
            keys.append(key)
            indices.append(ordinal)
    return View(keys, indices, view.render, view.find, view.object_name)
