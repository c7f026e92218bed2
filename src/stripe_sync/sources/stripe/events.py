"""The events lane: changes (updates, deletes, cancellations, new objects) from ``/v1/events``.

The lane's position is an :class:`EventsCursor` kept in ``source.global["events"]`` (never in a
stream's slot): ``cursor_created`` (unix seconds) says that every event created before it has been
applied, ``seen_ids`` the events at or after ``cursor_created - OVERLAP_S`` that were applied.

A **poll** lists ``/v1/events?created[gte]=cursor_created - OVERLAP_S`` without ``types[]`` (one
list of every type is cheaper than groups of 20) and keeps only what the catalog routes to the
streams the lane serves. Stripe lists newest first; the lane applies the events of one second
together, oldest first, so that two changes of one object in the same second land in order (their
versions tie, and on a tie the later write wins). After the scan the cursor moves to the server's
time at the scan's first page (the ``Date`` header), and the overlap makes the next poll look again
at events that became visible late; ``seen_ids`` skips those already applied.

An event becomes records as stripe-source.md describes: ``version = created * 1000``; a
``*.deleted`` event of a deletable object is a tombstone; ``customer.subscription.deleted`` (a
cancellation) and ``price.deleted`` are updates like any other; an event about a sub-object
(``customer.discount.*``, ``person.*``, …) refreshes its parent with a retrieve. With
``event_refetch: auto`` (the default) an object is retrieved again instead of taken from the event
when the event was rendered at another API version or carries an embedded list with more pages
(the record then has the retrieve's version when that is later); ``always`` and ``never`` do what
they say.

Stripe keeps events for 30 days: a cursor older than that (less a margin for the scan itself) can
no longer be caught up, and :meth:`EventsLane.past_window` tells the source to re-backfill instead.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from stripe_sync.protocol.ranges import format_time
from stripe_sync.sources.stripe.catalog import StreamDef, StripeCatalog
from stripe_sync.sources.stripe.client import StripeClient
from stripe_sync.sources.stripe.embedded import complete_embedded_lists
from stripe_sync.sources.stripe.errors import UnexpectedResponse
from stripe_sync.sources.stripe.outbox import Outbox
from stripe_sync.sources.stripe.segments import PAGE_SIZE
from stripe_sync.sources.stripe.stream_context import StreamContext

EVENTS_PATH = "/v1/events"
EVENTS_WINDOW_S = 30 * 86_400
WINDOW_MARGIN_S = 3_600
"""A cursor closer than this to the end of Stripe's 30 days counts as lost: a long catch-up scan
could otherwise see its oldest events expire under it."""
OVERLAP_S = 10
"""Each poll looks this far behind the cursor again, for events that became visible late."""
LANE = "_events"
"""The name the lane's own requests go by in the request budget and the statistics."""

Refetch = Literal["auto", "always", "never"]
Message = dict[str, Any]


@dataclass
class EventsCursor:
    """The lane's saved position (``source.global["events"]``)."""

    created: int
    seen: dict[str, int] = field(default_factory=dict)
    """Applied event ids at or after ``created - OVERLAP_S`` → their ``created``."""
    run: str | None = None
    """``started_at`` of the run whose backfill the lane joined (None: unknown)."""
    streams: list[str] = field(default_factory=list)
    """The streams whose events the lane applies."""

    @classmethod
    def from_state(cls, global_state: Any) -> EventsCursor | None:
        saved = global_state.get("events") if isinstance(global_state, dict) else None
        if not isinstance(saved, dict) or not isinstance(saved.get("cursor_created"), int):
            return None
        created = saved["cursor_created"]
        return cls(
            created=created,
            seen={str(event_id): created for event_id in saved.get("seen_ids") or []},
            run=saved.get("run_started_at"),
            streams=[str(name) for name in saved.get("streams") or []],
        )

    def to_state(self) -> dict[str, Any]:
        return {
            "events": {
                "cursor_created": self.created,
                "seen_ids": sorted(self.seen, key=lambda event_id: (self.seen[event_id], event_id)),
                "run_started_at": self.run,
                "streams": self.streams,
            }
        }

    def advance(self, created: int) -> None:
        """Move to ``created`` (never back) and forget ids the next poll cannot see again."""
        self.created = max(self.created, created)
        oldest = self.created - OVERLAP_S
        for event_id in [key for key, value in self.seen.items() if value < oldest]:
            del self.seen[event_id]  # in place: a pushed event may be adding to it meanwhile


def follows_events(stream: StreamDef) -> bool:
    """True when some event changes the stream's records."""
    return bool(stream.event_types or stream.sub_object_events)


class EventsLane:
    """Applies events to the streams it serves; see the module docstring."""

    def __init__(
        self,
        *,
        catalog: StripeCatalog,
        client: StripeClient,
        out: Outbox,
        account_id: str,
        api_version: str,
        cursor: EventsCursor,
        refetch: Refetch,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.catalog = catalog
        self.client = client
        self.out = out
        self.account_id = account_id
        self.api_version = api_version
        self.cursor = cursor
        self.refetch = refetch
        self.clock = clock
        self.served = frozenset(cursor.streams)
        self._in_flight: set[str] = set()
        self._contexts: dict[str, StreamContext] = {}
        self._last_event_at: int | None = None

    def past_window(self) -> bool:
        """True when events the cursor still needs may already be gone from Stripe."""
        return self.cursor.created < self.clock() - (EVENTS_WINDOW_S - WINDOW_MARGIN_S)

    # -- polling ---------------------------------------------------------------------------

    async def poll(self) -> int:
        """One scan from the cursor (less the overlap) to now; returns the events applied."""
        cursor = self.cursor
        params: dict[str, Any] = {"created[gte]": cursor.created - OVERLAP_S, "limit": PAGE_SIZE}
        scan_started: int | None = None
        one_second: list[dict[str, Any]] = []  # newest first
        applied = 0
        while True:
            response = await self.client.get(EVENTS_PATH, params, stream=LANE)
            if scan_started is None:
                scan_started = response.received_ms // 1000
            events = [e for e in response.body.get("data") or [] if isinstance(e, dict)]
            for event in events:
                if one_second and event.get("created") != one_second[0].get("created"):
                    applied += await self._apply_new(reversed(one_second))
                    one_second = []
                one_second.append(event)
            if not response.body.get("has_more") or not events:
                break
            params["starting_after"] = events[-1]["id"]
            await self.emit_stats(0, lag_s=self.clock() - cursor.created)
        applied += await self._apply_new(reversed(one_second))
        assert scan_started is not None
        cursor.advance(scan_started)
        await self.emit_state()
        await self.emit_stats(applied, lag_s=self.clock() - scan_started)
        return applied

    async def push(self, event: dict[str, Any]) -> None:
        """Apply an event delivered by a (verified) webhook: duplicates are skipped."""
        applied = await self._apply_new([event])
        created = event.get("created")
        lag = self.clock() - created if isinstance(created, int) else None
        await self.emit_state()
        await self.emit_stats(applied, lag_s=lag)

    async def _apply_new(self, events: Iterable[dict[str, Any]]) -> int:
        """Apply the events not seen before, in the given order; returns how many reached a
        stream. An id counts as seen once its records are out, so a state never claims more."""
        applied = 0
        seen = self.cursor.seen  # the same dict for the lane's life (advance prunes in place)
        for event in events:
            event_id = event.get("id")
            created = event.get("created")
            if not isinstance(event_id, str) or not isinstance(created, int):
                continue
            if event_id in seen or event_id in self._in_flight:
                continue
            self._in_flight.add(event_id)
            try:
                applied += await self.apply(event)
            finally:
                self._in_flight.discard(event_id)
            if created >= self.cursor.created - OVERLAP_S:
                seen[event_id] = created
            self._last_event_at = max(self._last_event_at or created, created)
        return applied

    # -- one event -------------------------------------------------------------------------

    async def apply(self, event: dict[str, Any]) -> bool:
        """Emit the records one event means for the served streams; True when there were any."""
        event_type = str(event.get("type") or "")
        data = event.get("data")
        obj = data.get("object") if isinstance(data, dict) else None
        if not isinstance(obj, dict):
            return False
        version = int(event["created"]) * 1000
        reached = False
        for route in self.catalog.routes_for_event_type(event_type):
            if route.stream not in self.served:
                continue
            stream = self.catalog.streams[route.stream]
            if route.parent_id_field is None:
                reached |= await self._object_changed(stream, event, obj, version)
            else:
                parent_id = obj.get(route.parent_id_field)
                if isinstance(parent_id, dict):
                    parent_id = parent_id.get("id")
                if isinstance(parent_id, str) and parent_id:
                    reached |= await self._refresh(stream, parent_id, version)
        return reached

    async def _object_changed(
        self, stream: StreamDef, event: dict[str, Any], obj: dict[str, Any], version: int
    ) -> bool:
        object_id = obj.get("id")
        if not isinstance(object_id, str):
            return False
        if stream.is_deletion(str(event.get("type"))):
            await self._emit(stream, {**obj}, version, deleted=True)
            return True
        if self._needs_refetch(stream, event, obj) and await self._refresh(
            stream, object_id, version
        ):
            return True
        await self._emit(stream, {**obj}, version)
        return True

    def _needs_refetch(self, stream: StreamDef, event: dict[str, Any], obj: dict[str, Any]) -> bool:
        if self.refetch != "auto" or stream.retrieve_path is None:
            return self.refetch == "always" and stream.retrieve_path is not None
        if event.get("api_version") not in (None, self.api_version):
            return True
        return any(
            isinstance(obj.get(name), dict) and obj[name].get("has_more")
            for name in stream.embedded_lists
        )

    async def _refresh(self, stream: StreamDef, object_id: str, version: int) -> bool:
        """Retrieve an object and emit it (a tombstone when Stripe says it is deleted); False
        when it is gone or cannot be retrieved."""
        if stream.retrieve_path is None:
            return False
        context = self._context(stream)
        path = stream.retrieve_path.replace("{id}", object_id)
        try:
            response = await context.get(path, {}, endpoint=stream.retrieve_path)
        except UnexpectedResponse as exc:
            if exc.http_status == 404:
                return False
            raise
        obj = response.body
        newest = max(version, response.version)
        if obj.get("deleted") is True:
            await self._emit(stream, obj, newest, deleted=True)
            return True
        if stream.embedded_lists:
            await complete_embedded_lists(context, [obj])
        await self._emit(stream, obj, newest)
        return True

    def _context(self, stream: StreamDef) -> StreamContext:
        context = self._contexts.get(stream.name)
        if context is None:
            context = StreamContext(stream, self.client, self.account_id, self.out, lambda: 0.0)
            self._contexts[stream.name] = context
        return context

    # -- output ----------------------------------------------------------------------------

    async def _emit(
        self, stream: StreamDef, data: dict[str, Any], version: int, *, deleted: bool = False
    ) -> None:
        data["_account_id"] = self.account_id
        record: dict[str, Any] = {
            "stream": stream.name,
            "data": data,
            "emitted_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "version": version,
        }
        if deleted:
            record["deleted"] = True
        await self.out.put({"type": "record", "record": record})

    async def emit_state(self) -> None:
        payload = {"state_type": "global", "data": self.cursor.to_state()}
        await self.out.put({"type": "source_state", "source_state": payload})

    async def emit_stats(self, applied: int, *, lag_s: float | None) -> None:
        stats: dict[str, Any] = {**self.client.stats.take(LANE), "event_count": applied}
        if lag_s is not None:
            stats["live_lag_s"] = round(max(0.0, lag_s), 3)
        if self._last_event_at is not None:
            stats["last_event_at"] = format_time(self._last_event_at)
        await self.out.put({"type": "source_stats", "source_stats": stats})
        for name in self._contexts:
            await self.out.put(
                {
                    "type": "source_stats",
                    "source_stats": {"stream": name, **self.client.stats.take(name)},
                }
            )
