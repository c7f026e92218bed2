"""The Stripe source: ``spec``, ``check``, ``discover`` and ``read``.

``read`` looks up the account once (its id completes every record's primary key, its creation
time bounds the backfill), then runs up to ``max_concurrent_streams`` streams at a time, each with
the strategy its capabilities allow, all sharing one request budget, while the events lane applies
changes beside them (:mod:`.changes`). Every stream ends with exactly one terminal status; failures
become protocol errors of the right level. A live read (``catalog["live"]``) only applies changes:
polled events and pushed ones (``input``).

**Connected accounts** (``accounts: "all"`` or a list of ids) are read by :mod:`.connected`
through the same stream machinery: :class:`Reader` runs one account's streams under the shared
stream slots (:mod:`.stream_slots`) with its events lane beside them (:mod:`.account_work`).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

from stripe_sync.protocol.batching import Batch, MessageQueue, flatten
from stripe_sync.protocol.connector import Config, Message
from stripe_sync.protocol.ranges import make_range, range_bounds
from stripe_sync.sources.stripe.account_work import AccountWork, ReadTarget
from stripe_sync.sources.stripe.backfill import TimeRangeBackfill
from stripe_sync.sources.stripe.catalog import StripeCatalog, load_catalog
from stripe_sync.sources.stripe.changes import Changes, ErrorReporter
from stripe_sync.sources.stripe.client import StripeClient, make_client
from stripe_sync.sources.stripe.config import StripeSourceConfig
from stripe_sync.sources.stripe.connected import ConnectedRead
from stripe_sync.sources.stripe.errors import (
    NotAvailable,
    StripeError,
    error_payload,
    is_account_refusal,
)
from stripe_sync.sources.stripe.listing import list_by_cursor, list_newest, list_per_parent
from stripe_sync.sources.stripe.outbox import Outbox, still_read
from stripe_sync.sources.stripe.stream_context import StreamContext
from stripe_sync.sources.stripe.stream_slots import StreamSlots

OUTPUT_QUEUE_SIZE = 2000
_DONE: Message = {"type": "_done"}


class StripeSource:
    """Reads a Stripe account; see the module docstring."""

    config_model = StripeSourceConfig

    def spec(self) -> dict[str, Any]:
        return {"config": StripeSourceConfig.model_json_schema()}

    async def check(self, config: Config) -> dict[str, Any]:
        parsed = StripeSourceConfig.model_validate(config)
        client = make_client(parsed, load_catalog(parsed.spec_path))
        try:
            account = (await client.get("/v1/account", stream="_check")).body
        except StripeError as exc:
            return {"status": "failed", "message": str(exc)}
        finally:
            await client.aclose()
            await client.budget.close()
        return {"status": "succeeded", "message": f"connected to account {account.get('id')}"}

    async def discover(self, config: Config) -> dict[str, Any]:
        parsed = StripeSourceConfig.model_validate(config)
        catalog: dict[str, Any] = {"streams": load_catalog(parsed.spec_path).protocol_streams()}
        if parsed.accounts != "self":
            catalog["per_account"] = True  # progress and state keys are "<account>/<stream>"
        return catalog

    def read(
        self,
        config: Config,
        catalog: dict[str, Any],
        state: dict[str, Any],
        input: AsyncIterator[dict[str, Any]] | None = None,
    ) -> AsyncIterator[Message]:
        return flatten(self.read_batches(config, catalog, state, input))

    async def read_batches(
        self,
        config: Config,
        catalog: dict[str, Any],
        state: dict[str, Any],
        input: AsyncIterator[dict[str, Any]] | None = None,
    ) -> AsyncIterator[Batch]:
        """``read``'s messages a page at a time (a page's records in one batch)."""
        parsed = StripeSourceConfig.model_validate(config)
        stripe_catalog = load_catalog(parsed.spec_path)
        client = make_client(parsed, stripe_catalog)
        reader = Reader(parsed, stripe_catalog, client, catalog, state, input)
        task = asyncio.create_task(reader.run())
        try:
            while (item := await reader.out.get()) is not _DONE:
                yield item if isinstance(item, list) else [item]
            await task
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await client.aclose()
            await client.budget.close()


class Reader:
    """One ``read`` call: the account lookup, then the streams under the concurrency limit."""

    def __init__(
        self,
        config: StripeSourceConfig,
        catalog: StripeCatalog,
        client: StripeClient,
        configured: dict[str, Any],
        state: dict[str, Any],
        pushed: AsyncIterator[dict[str, Any]] | None = None,
    ) -> None:
        self.config = config
        self.catalog = catalog
        self.client = client
        self.configured = configured
        self.saved = state.get("streams") or {}
        self.global_state = state.get("global") or {}
        self.pushed = pushed
        self.out = MessageQueue(OUTPUT_QUEUE_SIZE)  # messages, or a page's records as a list
        self.running: set[str] = set()
        self.slots = StreamSlots(config.max_concurrent_streams)
        self.global_failure = asyncio.Event()
        client.log_retry = self._log_retry

    def _log_retry(self, stream: str, path: str, reason: str) -> None:
        message = {"level": "warn", "message": f"{stream}: retrying {path}: {reason}"}
        with contextlib.suppress(asyncio.QueueFull):
            self.out.put_nowait({"type": "log", "log": message})

    def share_rps(self) -> float:
        """The request rate one running stream may count on (0 = unlimited)."""
        account = self.client.budget.current_rps
        endpoint = self.client.budget.endpoint_rate
        if account <= 0:
            return endpoint
        share = account / max(1, len(self.running))
        return min(share, endpoint) if endpoint > 0 else share

    async def run(self) -> None:
        try:
            if self.config.accounts != "self":
                await ConnectedRead(self).run()
            else:
                await self._run()
        finally:
            if still_read():
                await self.out.put(_DONE)

    async def _run(self) -> None:
        streams = self.configured.get("streams") or []
        try:
            response = await self.client.get("/v1/account", stream="_account")
        except StripeError as exc:
            payload = error_payload(exc, None, "global", self.config.account)
            await self.out.put({"type": "error", "error": payload})
            return
        account = response.body
        account_id = str(self.config.account or account.get("id") or "")
        lower_bound = self.config.start or int(account.get("created") or 0)
        await self.emit_request_stats(self.client, "_account")
        changes = self.changes(self.client, account_id, self.out, self.global_state, self._report)
        if self.configured.get("live"):
            await changes.live(self.pushed)
            return
        target = ReadTarget(self.client, account_id, lower_bound)

        async def opened() -> tuple[ReadTarget, Changes]:
            return target, changes

        await self.backfill(AccountWork(opened), streams, 0)

    def changes(
        self,
        client: StripeClient,
        account_id: str,
        out: Outbox,
        global_state: Any,
        report: ErrorReporter,
    ) -> Changes:
        """The events lane of one account."""
        return Changes(
            config=self.config,
            catalog=self.catalog,
            client=client,
            out=out,
            account_id=account_id,
            configured=self.configured.get("streams") or [],
            global_state=global_state,
            report=report,
        )

    async def backfill(self, work: AccountWork, entries: list[dict[str, Any]], rank: int) -> None:
        """One account's streams; ``rank`` orders accounts for the stream slots."""
        tasks = [
            asyncio.create_task(self._stream(entry, work, (rank, index)))
            for index, entry in enumerate(entries)
        ]
        try:
            await asyncio.gather(*tasks)
            await work.finish(failed=self.global_failure.is_set())
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await work.close()

    async def account_refused(self, target: ReadTarget, exc: StripeError) -> None:
        """Report a connected account's refusal once; its streams stop."""
        if target.revoked:
            return
        target.revoked = True
        payload = error_payload(exc, None, "account", target.connected)
        await self.out.put({"type": "error", "error": payload})

    async def emit_request_stats(
        self, client: StripeClient, name: str, account: str | None = None
    ) -> None:
        """The request counters of ``name`` (an account lookup, the listing) as ``source_stats``;
        nothing once the read was cancelled (``still_read``)."""
        stats: dict[str, Any] = dict(client.stats.take(name))
        if account is not None:
            stats = {"account": account, **stats}
        if still_read():
            await self.out.put({"type": "source_stats", "source_stats": stats})

    async def _report(self, exc: StripeError, level: str) -> None:
        await self.out.put({"type": "error", "error": error_payload(exc, None, level)})

    async def log(self, level: str, message: str) -> None:
        await self.out.put({"type": "log", "log": {"level": level, "message": message}})

    async def _stream(
        self, entry: dict[str, Any], work: AccountWork, priority: tuple[int, int]
    ) -> None:
        name = entry["name"]
        try:
            definition = self.catalog.stream(name)
        except KeyError:
            await self.log("warn", f"{name}: not a Stripe stream; skipped")
            return
        async with self.slots.slot(priority):
            target = await work.target()
            if self.global_failure.is_set() or target is None or target.revoked:
                return
            context = StreamContext(
                definition,
                target.client,
                target.account_id,
                self.out,
                self.share_rps,
                account=target.connected,
            )
            key = target.key(name)
            self.running.add(key)
            started = time.monotonic()
            try:
                await self._sync_stream(context, entry, target)
            except StripeError as exc:
                await context.emit_stats()  # its requests count before its terminal status
                await self._stream_stopped(context, target, exc)
                return
            finally:
                self.running.discard(key)
                if still_read():
                    await context.emit_stats()
            seconds = time.monotonic() - started
            await self.log("info", f"{key}: {context.record_count} records in {seconds:.1f} s")
            await context.emit_status("complete")

    async def _stream_stopped(
        self, context: StreamContext, target: ReadTarget, exc: StripeError
    ) -> None:
        """The terminal status (and error) of a stream stopped by ``exc``."""
        name = context.name
        if target.connected and is_account_refusal(exc):
            await self.account_refused(target, exc)
            await context.emit_status("failed", reason=str(exc))
        elif is_account_refusal(exc):  # the one account this read has: nothing can go on
            self.global_failure.set()
            payload = error_payload(exc, name, "global", self.config.account)
            await self.out.put({"type": "error", "error": payload})
            await context.emit_status("failed", reason=str(exc))
        elif isinstance(exc, NotAvailable):
            await self.log("info", f"{target.key(name)}: skipped: {exc}")
            await context.emit_status("skipped", reason=str(exc))
        else:
            payload = error_payload(exc, name, "stream", target.connected)
            await self.out.put({"type": "error", "error": payload})
            await context.emit_status("failed", reason=str(exc))

    async def _sync_stream(
        self, context: StreamContext, entry: dict[str, Any], target: ReadTarget
    ) -> None:
        definition = context.stream
        account = context.account
        key = target.key(definition.name)
        reset = definition.name in target.reset_streams  # from the beginning, whatever was saved
        saved = None if reset else self.saved.get(key)
        limit = entry.get("backfill_limit")
        window = (entry.get("account_time_ranges") or {}).get(account) or entry.get("time_range")
        if reset and window:
            window = {"lt": window["lt"]}
        started: dict[str, Any] = {}
        bounds: tuple[int, int] | None = None
        lower_bound = target.lower_bound
        if definition.supports_time_range and window:
            gte, lt = range_bounds(window)
            bounds = (max(lower_bound, gte) if gte is not None else lower_bound, lt)
            started["total_range"] = make_range(bounds[0], max(bounds))
        await context.emit_status("started", **started)
        if definition.fan_out is not None:
            parent = self.catalog.stream(definition.fan_out.parent_stream)
            await list_per_parent(context, parent, saved)
        elif bounds is not None and limit:
            assert definition.time_filter is not None
            params = {
                definition.time_filter.gte_param: bounds[0],
                definition.time_filter.lt_param: bounds[1],
            }
            await list_newest(context, int(limit), params)
        elif bounds is not None:
            await TimeRangeBackfill(context, bounds[0], bounds[1], saved).run()
        elif limit:
            await list_newest(context, int(limit), {})
        else:
            follows = self.config.catch_up_events and bool(definition.event_types)
            await list_by_cursor(context, saved, follows_events=follows)
