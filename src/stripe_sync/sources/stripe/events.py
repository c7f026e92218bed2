"""The events lane: changes (updates, deletes, cancellations, new objects) from ``/v1/events``.

The lane's position is an :class:`EventsCursor` kept in ``source.global["events"]`` (never in a
stream's slot): ``cursor_created`` (unix seconds) says that every event created before it has been
applied and was listable when it was read, ``seen`` the applied events at or after it (id →
``created``: a later cursor forgets exactly those older than itself), and
``after`` (only while a backlog is caught up) the newest event applied.

A **poll** lists ``/v1/events?created[gte]=cursor_created`` without ``types[]`` (one list of every
type is cheaper than groups of 20) and keeps only what the catalog routes to the streams the lane
serves. A head of up to three pages is applied whole, oldest first (two changes of one object in
one second land in order: their versions tie, and on a tie the later write wins). A longer one is
a **backlog**: the oldest events after the cursor are found by halving a ``created`` window, then
the lane pages forward (``ending_before`` the newest applied event), applying each page oldest
first and saving the cursor after it, so a call stopped at any moment keeps what it applied.
After a poll the cursor moves to the poll's start less the **lag window** (``events_lag_s``,
default 60 s): an event listed late, up to that long after its ``created``, is still found by the
next poll, and ``seen`` keeps every event of the window from being applied twice.

An event becomes records as stripe-source.md describes: ``version = created * 1000``; a
``*.deleted`` event of a deletable object is a tombstone; ``customer.subscription.deleted`` (a
cancellation) and ``price.deleted`` are updates like any other; an event about a sub-object
(``customer.discount.*``, ``person.*``, …) refreshes its parent with a retrieve. With
``event_refetch: auto`` (the default) an object is retrieved again instead of taken from the event
when the event was rendered at another API version or carries an embedded list with more pages
(the record then has the retrieve's version when that is later); ``always`` and ``never`` do what
they say. A poll retrieves an object once; a 404 is a tombstone (the object is gone since the
event); any other failure writes the event's own copy with a warning naming the event, so no
event can hold the cursor back.

Stripe keeps events for 30 days: a cursor older than that (less a margin for the scan itself) can
no longer be caught up, and :meth:`EventsLane.past_window` tells the source to re-backfill instead.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from stripe_sync.protocol.ranges import format_time
from stripe_sync.sources.stripe.catalog import StreamDef, StripeCatalog
from stripe_sync.sources.stripe.client import StripeClient, StripeResponse
from stripe_sync.sources.stripe.embedded import complete_embedded_lists
from stripe_sync.sources.stripe.errors import (
    AccountAccessRevoked,
    AuthenticationFailed,
    StripeError,
    UnexpectedResponse,
)
from stripe_sync.sources.stripe.outbox import Outbox
from stripe_sync.sources.stripe.segments import PAGE_SIZE
from stripe_sync.sources.stripe.stream_context import StreamContext

EVENTS_PATH = "/v1/events"
EVENTS_WINDOW_S = 30 * 86_400
WINDOW_MARGIN_S = 3_600
"""A cursor closer than this to the end of Stripe's 30 days counts as lost: a long catch-up scan
could otherwise see its oldest events expire under it."""
DEFAULT_LAG_S = 60
"""How late an event may become listable after its ``created`` (Stripe's usual delay is seconds)."""
HEAD_PAGES = 3
"""A head scan of at most this many pages is applied whole; a longer one is a backlog, caught up
oldest first with a checkpoint per page."""
PREFETCH = 8
"""Retrieves a page of events needs, sent at once before the page is applied in order."""
ONE_SECOND_PAGES = 10_000
"""A one-second window is listed whole (pages of 100 events, far beyond any real second)."""
LANE = "_events"
"""The name the lane's own requests go by in the request budget and the statistics."""

Refetch = Literal["auto", "always", "never"]
Message = dict[str, Any]
Event = dict[str, Any]


@dataclass
class EventsCursor:
    """The lane's saved position (``source.global["events"]``)."""

    created: int
    """Every event created before this second has been applied, and was listable when it was
    read: the next poll looks for new and late events from here (``cursor_created``)."""
    seen: dict[str, int] = field(default_factory=dict)
    """Applied event ids created at or after ``created`` → their ``created``."""
    run: str | None = None
    """``started_at`` of the run whose backfill the lane joined (None: unknown)."""
    streams: list[str] = field(default_factory=list)
    """The streams whose events the lane applies."""
    after: tuple[str, int] | None = None
    """While a backlog is caught up: the newest event applied (id, created); the next page is
    the one just newer than it (``ending_before``)."""

    @classmethod
    def from_state(cls, global_state: Any) -> EventsCursor | None:
        saved = global_state.get("events") if isinstance(global_state, dict) else None
        if not isinstance(saved, dict) or not isinstance(saved.get("cursor_created"), int):
            return None
        created = saved["cursor_created"]
        after = saved.get("after")
        anchor = None
        if isinstance(after, dict) and isinstance(after.get("created"), int) and after.get("id"):
            anchor = (str(after["id"]), int(after["created"]))
        seen = saved.get("seen")
        if isinstance(seen, dict):
            seen = {str(key): value for key, value in seen.items() if isinstance(value, int)}
        else:  # the earlier form: ids alone, all taken as created at the cursor
            seen = {str(event_id): created for event_id in saved.get("seen_ids") or []}
        return cls(
            created=created,
            seen=seen,
            run=saved.get("run_started_at"),
            streams=[str(name) for name in saved.get("streams") or []],
            after=anchor,
        )

    def to_state(self) -> dict[str, Any]:
        state: dict[str, Any] = {
            "cursor_created": self.created,
            "seen": {
                event_id: self.seen[event_id]
                for event_id in sorted(self.seen, key=lambda key: (self.seen[key], key))
            },
            "run_started_at": self.run,
            "streams": self.streams,
        }
        if self.after is not None:
            state["after"] = {"id": self.after[0], "created": self.after[1]}
        return {"events": state}

    def advance(self, created: int) -> None:
        """Move to ``created`` (never back) and forget the ids older than it."""
        self.created = max(self.created, created)
        oldest = self.created
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
        lag_s: int = DEFAULT_LAG_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.catalog = catalog
        self.client = client
        self.out = out
        self.account_id = account_id
        self.api_version = api_version
        self.cursor = cursor
        self.refetch = refetch
        self.lag_s = lag_s
        self.clock = clock
        self.served = frozenset(cursor.streams)
        self._in_flight: set[str] = set()
        self._contexts: dict[str, StreamContext] = {}
        self._last_event_at: int | None = None
        self._first_page_at: int | None = None
        self._listings = 0
        """Pages of events listed so far: events are applied after the listing that read them."""
        self._applying: int | None = None
        """The listing the events being applied came from (None: pushed events)."""
        self._retrieved: dict[tuple[str, str], tuple[int, int]] = {}
        """Objects retrieved during this poll → (listings done before the retrieve, its version)."""
        self._prefetched: dict[tuple[str, str], StripeResponse | StripeError] = {}
        """Retrieves answered ahead of the events that need them (see :meth:`_prefetch`)."""

    def past_window(self) -> bool:
        """True when events the cursor still needs may already be gone from Stripe."""
        return self.cursor.created < self.clock() - (EVENTS_WINDOW_S - WINDOW_MARGIN_S)

    # -- polling ---------------------------------------------------------------------------

    async def poll(self) -> int:
        """Apply what was listed since the last poll, oldest first; returns the events applied.

        A short head (``created >= cursor``) is listed whole and applied; a backlog is caught up
        a page at a time, oldest first, with a state after every page, so a call stopped at any
        moment keeps what it applied.
        """
        cursor = self.cursor
        self._retrieved.clear()
        self._prefetched.clear()
        horizon = int(self.clock()) - self.lag_s  # events older than this are listable by now
        applied = reported = 0
        self._first_page_at = None
        if cursor.after is None:
            head = {"created[gte]": cursor.created}
            page = await self._list(head)
            events = self._events(page)
            if await self._rest(page, head, events, HEAD_PAGES - 1):
                applied += await self._apply_new(reversed(events))
            else:
                applied += await self._oldest_slice(horizon)
        while cursor.after is not None:  # a backlog: page forward from the newest applied
            page = await self._list({"ending_before": cursor.after[0]})
            events = self._events(page)
            applied += await self._apply_new(reversed(events))
            if events:
                cursor.after = (events[0]["id"], int(events[0]["created"]))
            if not page.body.get("has_more") or not events:
                cursor.advance(min(cursor.after[1], horizon))
                cursor.after = None
                break
            cursor.advance(min(cursor.after[1], horizon))
            await self.emit_state()
            await self.emit_stats(applied - reported, lag_s=self.clock() - cursor.after[1])
            reported = applied
        cursor.advance(horizon)
        await self.emit_state()
        started = self._first_page_at
        await self.emit_stats(applied - reported, lag_s=self.clock() - (started or self.clock()))
        return applied

    async def _list(self, params: dict[str, Any]) -> StripeResponse:
        response = await self.client.get(EVENTS_PATH, {**params, "limit": PAGE_SIZE}, stream=LANE)
        self._listings += 1
        self._applying = self._listings
        if self._first_page_at is None:
            self._first_page_at = response.received_ms // 1000
        return response

    @staticmethod
    def _events(response: StripeResponse) -> list[Event]:
        data = response.body.get("data") or []
        return [e for e in data if isinstance(e, dict) and isinstance(e.get("id"), str)]

    async def _rest(
        self, page: StripeResponse, params: dict[str, Any], events: list[Event], pages: int
    ) -> bool:
        """Add the pages after ``page`` of a newest-first listing to ``events``, at most
        ``pages`` of them; False when the listing goes on beyond."""
        while page.body.get("has_more") and events:
            if pages <= 0:
                return False
            pages -= 1
            page = await self._list({**params, "starting_after": events[-1]["id"]})
            events += self._events(page)
        return True

    async def _oldest_slice(self, horizon: int) -> int:
        """Find the oldest events after the cursor by halving a ``created`` window until it holds
        one page (or one second, listed whole), apply them and start the backlog from there."""
        cursor = self.cursor
        low, high = cursor.created, int(self.clock()) + 1
        span = max(1, (high - low) // 2)
        while low < high:
            span = max(1, min(span, high - low))
            window = {"created[gte]": low, "created[lt]": low + span}
            page = await self._list(window)
            events = self._events(page)
            if page.body.get("has_more") and events and span > 1:
                span //= 2
                continue
            if page.body.get("has_more") and events:
                await self._rest(page, window, events, ONE_SECOND_PAGES)
            if events:
                applied = await self._apply_new(reversed(events))
                cursor.after = (events[0]["id"], int(events[0]["created"]))
                cursor.advance(min(cursor.after[1], horizon))
                await self.emit_state()
                return applied
            low += span
        return 0

    async def push(self, event: dict[str, Any]) -> None:
        """Apply an event delivered by a (verified) webhook: duplicates are skipped."""
        self._applying = None
        applied = await self._apply_new([event])
        created = event.get("created")
        lag = self.clock() - created if isinstance(created, int) else None
        await self.emit_state()
        await self.emit_stats(applied, lag_s=lag)

    async def _apply_new(self, events: Iterable[Event]) -> int:
        """Apply the events not seen before, in the given order; returns how many reached a
        stream. An id counts as seen once its records are out, so a state never claims more."""
        fresh = [event for event in events if event.get("id") not in self.cursor.seen]
        await self._prefetch(fresh)
        try:
            return await self._apply_each(fresh)
        finally:
            self._prefetched.clear()  # answers are good for the events listed before them

    async def _apply_each(self, events: list[Event]) -> int:
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
            if created >= self.cursor.created:
                seen[event_id] = created
            self._last_event_at = max(self._last_event_at or created, created)
        return applied

    async def _prefetch(self, events: list[Event]) -> None:
        """Send the retrieves ``events`` will need, :data:`PREFETCH` at a time, so a page of
        changed objects costs a few round trips instead of one per object; the events are then
        applied in order with the answers (an error answer is kept and met at its event)."""
        wanted: dict[tuple[str, str], StreamDef] = {}
        for event in events:
            data = event.get("data")
            obj = data.get("object") if isinstance(data, dict) else None
            if not isinstance(obj, dict):
                continue
            for route in self.catalog.routes_for_event_type(str(event.get("type") or "")):
                stream = self.catalog.streams[route.stream]
                if route.stream not in self.served or stream.retrieve_path is None:
                    continue
                if route.parent_id_field is not None:
                    object_id = obj.get(route.parent_id_field)
                    object_id = object_id.get("id") if isinstance(object_id, dict) else object_id
                elif stream.is_deletion(str(event.get("type"))):
                    continue
                elif self._needs_refetch(stream, event, obj):
                    object_id = obj.get("id")
                else:
                    continue
                if isinstance(object_id, str) and object_id:
                    key = (stream.name, object_id)
                    if key not in self._retrieved:
                        wanted[key] = stream
        if len(wanted) < 2:
            return
        limiter = asyncio.Semaphore(PREFETCH)

        async def fetch(key: tuple[str, str], stream: StreamDef) -> None:
            async with limiter:
                try:
                    self._prefetched[key] = await self._get_object(stream, key[1])
                except StripeError as exc:
                    self._prefetched[key] = exc

        await asyncio.gather(*(fetch(key, stream) for key, stream in wanted.items()))

    async def _get_object(self, stream: StreamDef, object_id: str) -> StripeResponse:
        assert stream.retrieve_path is not None
        path = stream.retrieve_path.replace("{id}", object_id)
        return await self._context(stream).get(path, {}, endpoint=stream.retrieve_path)

    async def _retrieve(self, stream: StreamDef, object_id: str) -> StripeResponse:
        """The object's retrieve: answered ahead by :meth:`_prefetch`, or sent now."""
        prefetched = self._prefetched.pop((stream.name, object_id), None)
        if isinstance(prefetched, StripeError):
            raise prefetched
        if prefetched is not None:
            return prefetched
        return await self._get_object(stream, object_id)

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
                    reached |= await self._refresh(stream, parent_id, version, event)
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
        if self._needs_refetch(stream, event, obj):
            return await self._refresh(stream, object_id, version, event, snapshot=obj)
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

    async def _refresh(
        self,
        stream: StreamDef,
        object_id: str,
        version: int,
        event: Event,
        snapshot: dict[str, Any] | None = None,
    ) -> bool:
        """Retrieve an object and emit it as it is now; True when a record was emitted.

        Once per object and poll: a later event of the poll that the retrieve already reflects
        (listed before the retrieve was sent, or created before its second) emits nothing more. 404 means the object is gone
        since: a tombstone, never the event's older copy. Any other refusal (a permission, an
        endpoint that is not there, retries spent) must not hold the lane up: the event's own
        copy is written at the event's version (a warning names the event), or, for a parent
        refreshed because of a sub-object event, the event is skipped with a warning.
        """
        if stream.retrieve_path is None:
            return False
        key = (stream.name, object_id)
        retrieved = self._retrieved.get(key)
        if retrieved is not None:
            listings, retrieved_version = retrieved
            listed_before = self._applying is not None and self._applying <= listings
            if listed_before or version <= retrieved_version:
                return True
        context = self._context(stream)
        try:
            response = await self._retrieve(stream, object_id)
        except (AuthenticationFailed, AccountAccessRevoked):
            raise
        except StripeError as exc:
            if isinstance(exc, UnexpectedResponse) and exc.http_status == 404:
                gone = {**snapshot} if snapshot else {"id": object_id, "object": stream.object}
                await self._emit(stream, gone, version, deleted=True)
                self._retrieved[key] = (self._listings, version)
                return True
            event_name = f"{event.get('type')} {event.get('id')}"
            if snapshot is None:
                await self._log(f"{stream.name}: skipped event {event_name}: {exc}")
                return False
            await self._log(
                f"{stream.name}: wrote event {event_name} as it was sent, "
                f"the retrieve of {object_id} failed: {exc}"
            )
            await self._emit(stream, {**snapshot}, version)
            return True
        obj = response.body
        newest = max(version, response.version)
        self._retrieved[key] = (self._listings, response.version)
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

    async def _log(self, message: str) -> None:
        await self.out.put({"type": "log", "log": {"level": "warn", "message": message}})

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
