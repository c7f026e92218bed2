"""When the events lane runs: beside a backfill, in live mode, and what happens at the 30-day cliff.

**Beside a backfill** (a non-live ``read``): the lane polls while the streams backfill and once
more after they finish, so changes made during the backfill are applied before the read ends. On
the very first run there is no cursor yet: it starts at the run's ``started_at`` (the ``lt`` the
engine injected), since the backfill lists everything created before that and events cover what
happens after, with no gap. A later run continues from the saved cursor, so an incremental run
applies every change since the previous run's last poll. The cursor records the run it joined and
the streams it serves: a continuation call of the same run that configures only some of those
streams (the others are already complete) cannot emit their records, so it leaves the cursor alone
and the live phase or the next run catches up from it.

**Live** (``catalog["live"]``): poll every ``poll_interval`` seconds and apply pushed events
(``input``: verified webhook events, plus ``{"object": "webhook_rejection", "reason"}`` notices
that are only counted) until the engine stops the read.

**The cliff**: a cursor older than Stripe's events window means changes may be lost. Every served
stream gets ``stream_status: reset`` (and a warning): beside a backfill those streams are
backfilled from the beginning in the same read and the cursor restarts at the run's start; in live
mode the read ends after the resets so that the engine re-backfills them in a new run, and the
cursor restarts now.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from stripe_sync.protocol.ranges import format_time, parse_time, range_bounds
from stripe_sync.sources.stripe.catalog import StripeCatalog
from stripe_sync.sources.stripe.client import StripeClient
from stripe_sync.sources.stripe.config import StripeSourceConfig
from stripe_sync.sources.stripe.errors import (
    AccountAccessRevoked,
    AuthenticationFailed,
    StripeError,
)
from stripe_sync.sources.stripe.events import (
    EVENTS_WINDOW_S,
    EventsCursor,
    EventsLane,
    follows_events,
)
from stripe_sync.sources.stripe.outbox import Outbox

Message = dict[str, Any]
ErrorReporter = Callable[[StripeError, str], Awaitable[None]]
"""Emits a StripeError as a protocol error of the given level."""


class Changes:
    """The events lane of one ``read``; see the module docstring."""

    def __init__(
        self,
        *,
        config: StripeSourceConfig,
        catalog: StripeCatalog,
        client: StripeClient,
        out: Outbox,
        account_id: str,
        configured: list[dict[str, Any]],
        global_state: Any,
        report: ErrorReporter,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.catalog = catalog
        self.client = client
        self.out = out
        self.account_id = account_id
        self.configured = configured
        self.saved = EventsCursor.from_state(global_state)
        self.report = report
        self.clock = clock
        self.served = sorted(
            entry["name"]
            for entry in configured
            if entry["name"] in catalog.streams and follows_events(catalog.streams[entry["name"]])
        )
        self.reset_streams: set[str] = set()
        """Streams reset at the cliff: backfill them from the beginning."""
        self.continuing = False
        """The lane picks up where an earlier call of the same run left its cursor."""
        self.caught_up = False
        """Nothing to catch up when the lane joins: the cursor starts at the run's start, or an
        earlier call of the run polled just before it stopped."""

    # -- beside a backfill -------------------------------------------------------------------

    async def join_backfill(self) -> EventsLane | None:
        """Decide whether this read polls events; emits the lane's starting state (and the
        resets when the cursor fell off the window). None: the lane sits this read out."""
        if not self.config.catch_up_events or not self.served:
            return None
        run = self._run_started_at()
        start = parse_time(run) if run else int(self.clock())
        cursor = self.saved
        if cursor is None:
            cursor = EventsCursor(created=start)
            self.caught_up = True
        elif run is not None and cursor.run == run:
            if not set(cursor.streams) <= set(self.served):
                return None  # a continuation call without some streams: leave the cursor
            self.continuing = cursor.streams == self.served
        cursor.run = run
        cursor.streams = self.served
        lane = self._lane(cursor)
        if lane.past_window():
            await self._reset(cursor, "the backfill of this run starts over")
            cursor.created = start
            cursor.seen.clear()
            cursor.after = None
            self.continuing = False
            self.caught_up = True
        self.caught_up = self.caught_up or self.continuing
        if not self.continuing:
            await lane.emit_state()
        return lane

    async def follow(self, lane: EventsLane, finished: asyncio.Event) -> None:
        """Poll while the backfill runs, then once more after ``finished`` is set. A lane with
        nothing to catch up (``caught_up``) waits a poll interval before its first poll."""
        wait_first = self.caught_up
        while True:
            if wait_first:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(finished.wait(), self.config.poll_interval)
            wait_first = True
            done = finished.is_set()
            if not await self._poll(lane) or done:
                return

    # -- live --------------------------------------------------------------------------------

    async def live(self, pushed: AsyncIterator[dict[str, Any]] | None) -> None:
        """Apply changes until cancelled (or until a reset needs a re-backfill)."""
        if not self.served:
            await self._log("warn", "live: none of the configured streams has events to follow")
            await asyncio.get_running_loop().create_future()  # idle until the engine stops it
        cursor = self.saved
        if cursor is None:
            cursor = EventsCursor(created=int(self.clock()))
            await self._log("info", "live: no events cursor yet; following events from now")
        cursor.streams = self.served
        lane = self._lane(cursor)
        polling = asyncio.create_task(self._poll_forever(lane))
        tasks = [polling]
        if pushed is not None:
            tasks.append(asyncio.create_task(self._consume(lane, pushed)))
        try:
            # polling ends only at the cliff or on a global failure; pushed input may run dry
            while not polling.done():
                done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    task.result()
                tasks = [task for task in tasks if not task.done()]
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _poll_forever(self, lane: EventsLane) -> None:
        while True:
            if lane.past_window():
                await self._reset(lane.cursor, "a new run re-backfills it, then live resumes")
                lane.cursor.created = int(self.clock())
                lane.cursor.seen.clear()
                lane.cursor.after = None
                lane.cursor.run = None
                await lane.emit_state()
                return
            if not await self._poll(lane, keep_going=True):
                return
            await asyncio.sleep(self.config.poll_interval)

    async def _consume(self, lane: EventsLane, pushed: AsyncIterator[dict[str, Any]]) -> None:
        async for item in pushed:
            kind = item.get("object")
            if kind == "webhook_rejection":
                stats = {"webhooks_rejected": 1}
                await self.out.put({"type": "source_stats", "source_stats": stats})
                await self._log("warn", f"webhook rejected: {item.get('reason')}")
            elif kind == "event":
                try:
                    await lane.push(item)
                except StripeError as exc:
                    await self._failed(exc, keep_going=True)
            else:
                await self._log("warn", f"ignored a pushed item that is not an event: {kind!r}")

    # -- shared ------------------------------------------------------------------------------

    async def _poll(self, lane: EventsLane, keep_going: bool = False) -> bool:
        """One poll; False when the lane has to stop (an error it cannot get past)."""
        try:
            await lane.poll()
        except StripeError as exc:
            return await self._failed(exc, keep_going)
        return True

    async def _failed(self, exc: StripeError, keep_going: bool) -> bool:
        """Report a failed request of the lane; True when the lane may try again later."""
        if isinstance(exc, AuthenticationFailed | AccountAccessRevoked):
            await self.report(exc, "global")
            return False
        await self.report(exc, "transient")
        return keep_going

    def _lane(self, cursor: EventsCursor) -> EventsLane:
        return EventsLane(
            catalog=self.catalog,
            client=self.client,
            out=self.out,
            account_id=self.account_id,
            api_version=self.client.http.headers["Stripe-Version"],
            cursor=cursor,
            refetch=self.config.event_refetch,
            lag_s=self.config.events_lag_s,
            clock=self.clock,
        )

    def _run_started_at(self) -> str | None:
        """The run's ``started_at``: the ``lt`` the engine injects into time-range streams."""
        bounds = [range_bounds(e["time_range"])[1] for e in self.configured if e.get("time_range")]
        return format_time(min(bounds)) if bounds else None

    async def _reset(self, cursor: EventsCursor, consequence: str) -> None:
        age_days = (self.clock() - cursor.created) / 86_400
        window_days = EVENTS_WINDOW_S // 86_400
        reason = (
            f"events cursor is {age_days:.1f} days old; Stripe keeps {window_days} days of events"
        )
        await self._log("warn", f"{reason}: resetting {', '.join(self.served)}; {consequence}")
        for name in self.served:
            status = {"stream": name, "status": "reset", "reason": reason}
            await self.out.put({"type": "stream_status", "stream_status": status})
        self.reset_streams = set(self.served)

    async def _log(self, level: str, message: str) -> None:
        await self.out.put({"type": "log", "log": {"level": level, "message": message}})
