"""The Stripe source: ``spec``, ``check``, ``discover`` and ``read``.

``read`` looks up the account once (its id completes every record's primary key, its creation
time bounds the backfill), then runs up to ``max_concurrent_streams`` streams at a time, each with
the strategy its capabilities allow, all sharing one request budget, while the events lane applies
changes beside them (:mod:`.changes`). Every stream ends with exactly one terminal status; failures
become protocol errors of the right level. A live read (``catalog["live"]``) only applies changes:
polled events and pushed ones (``input``).
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
from stripe_sync.sources.stripe.backfill import TimeRangeBackfill
from stripe_sync.sources.stripe.budget import RequestBudget
from stripe_sync.sources.stripe.catalog import StripeCatalog, load_catalog
from stripe_sync.sources.stripe.changes import Changes
from stripe_sync.sources.stripe.client import StripeClient
from stripe_sync.sources.stripe.config import StripeSourceConfig
from stripe_sync.sources.stripe.errors import (
    AuthenticationFailed,
    NotAvailable,
    PermissionDenied,
    StripeError,
)
from stripe_sync.sources.stripe.listing import list_by_cursor, list_newest, list_per_parent
from stripe_sync.sources.stripe.stream_context import StreamContext

OUTPUT_QUEUE_SIZE = 2000
_DONE: Message = {"type": "_done"}


def make_client(config: StripeSourceConfig, catalog: StripeCatalog) -> StripeClient:
    budget = RequestBudget(config.account_rps, config.endpoint_rps)
    return StripeClient(
        api_key=config.api_key.get_secret_value(),
        base_url=config.base_url,
        api_version=config.api_version or catalog.api_version,
        budget=budget,
        account=config.account,
        timeout=config.request_timeout,
        max_retries=config.max_retries,
    )


def error_message(exc: StripeError, stream: str | None, level: str) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "level": level,
        "failure_type": exc.failure_type,
        "message": str(exc),
    }
    for key in ("http_status", "request_id"):
        if getattr(exc, key, None) is not None:
            payload[key] = getattr(exc, key)
    if stream is not None:
        payload["stream"] = stream
    if isinstance(exc, PermissionDenied):
        permission = exc.permission
        payload["hint"] = (
            f"grant the restricted key the '{permission}' permission"
            if permission
            else "grant the restricted key read access to this resource"
        )
    if isinstance(exc, AuthenticationFailed):
        payload["hint"] = "check the API key (STRIPE_API_KEY or --api-key)"
    return payload


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
        return {"streams": load_catalog(parsed.spec_path).protocol_streams()}

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
        reader = _Read(parsed, stripe_catalog, client, catalog, state, input)
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


class _Read:
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
        self.reset_streams: set[str] = set()
        self.out = MessageQueue(OUTPUT_QUEUE_SIZE)  # messages, or a page's records as a list
        self.running: set[str] = set()
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
            await self._run()
        finally:
            await self.out.put(_DONE)

    async def _run(self) -> None:
        streams = self.configured.get("streams") or []
        try:
            response = await self.client.get("/v1/account", stream="_account")
        except StripeError as exc:
            level = (
                "account"
                if self.config.account and isinstance(exc, AuthenticationFailed)
                else "global"
            )
            await self.out.put({"type": "error", "error": error_message(exc, None, level)})
            return
        account = response.body
        account_id = str(self.config.account or account.get("id") or "")
        lower_bound = self.config.start or int(account.get("created") or 0)
        stats = self.client.stats.take("_account")
        await self.out.put({"type": "source_stats", "source_stats": stats})
        changes = Changes(
            config=self.config,
            catalog=self.catalog,
            client=self.client,
            out=self.out,
            account_id=account_id,
            configured=streams,
            global_state=self.global_state,
            report=self._report,
        )
        if self.configured.get("live"):
            await changes.live(self.pushed)
            return
        lane = await changes.join_backfill()
        self.reset_streams = changes.reset_streams
        limiter = asyncio.Semaphore(self.config.max_concurrent_streams)
        self.global_failure = asyncio.Event()
        backfilled = asyncio.Event()
        tasks = [
            asyncio.create_task(self._stream(entry, account_id, lower_bound, limiter))
            for entry in streams
        ]
        following = [asyncio.create_task(changes.follow(lane, backfilled))] if lane else []
        try:
            await asyncio.gather(*tasks)
            backfilled.set()
            if not self.global_failure.is_set():
                await asyncio.gather(*following)
        finally:
            for task in (*tasks, *following):
                task.cancel()
            await asyncio.gather(*tasks, *following, return_exceptions=True)

    async def _report(self, exc: StripeError, level: str) -> None:
        await self.out.put({"type": "error", "error": error_message(exc, None, level)})

    async def _log(self, level: str, message: str) -> None:
        await self.out.put({"type": "log", "log": {"level": level, "message": message}})

    async def _stream(
        self,
        entry: dict[str, Any],
        account_id: str,
        lower_bound: int,
        limiter: asyncio.Semaphore,
    ) -> None:
        name = entry["name"]
        try:
            definition = self.catalog.stream(name)
        except KeyError:
            await self._log("warn", f"{name}: not a Stripe stream; skipped")
            return
        async with limiter:
            if self.global_failure.is_set():
                return
            context = StreamContext(definition, self.client, account_id, self.out, self.share_rps)
            self.running.add(name)
            started = time.monotonic()
            try:
                await self._sync_stream(context, entry, lower_bound)
            except AuthenticationFailed as exc:
                self.global_failure.set()
                await self.out.put({"type": "error", "error": error_message(exc, name, "global")})
                await context.emit_status("failed", reason=str(exc))
                return
            except NotAvailable as exc:
                await self._log("info", f"{name}: skipped: {exc}")
                await context.emit_status("skipped", reason=str(exc))
                return
            except StripeError as exc:
                await self.out.put({"type": "error", "error": error_message(exc, name, "stream")})
                await context.emit_status("failed", reason=str(exc))
                return
            finally:
                self.running.discard(name)
                await context.emit_stats()
            seconds = time.monotonic() - started
            await self._log(
                "info",
                f"{name}: {context.record_count} records in {seconds:.1f} s",
            )
            await context.emit_status("complete")

    async def _sync_stream(
        self, context: StreamContext, entry: dict[str, Any], lower_bound: int
    ) -> None:
        definition = context.stream
        reset = definition.name in self.reset_streams  # from the beginning, whatever was saved
        saved = None if reset else self.saved.get(definition.name)
        limit = entry.get("backfill_limit")
        window = entry.get("time_range")
        if reset and window:
            window = {"lt": window["lt"]}
        started: dict[str, Any] = {}
        bounds: tuple[int, int] | None = None
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
            await list_by_cursor(context, saved)
