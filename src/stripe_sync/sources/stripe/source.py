"""The Stripe source: ``spec``, ``check``, ``discover`` and ``read``.

``read`` looks up the account once (its id completes every record's primary key, its creation
time bounds the backfill), then runs up to ``max_concurrent_streams`` streams at a time, each with
the strategy its capabilities allow, all sharing one request budget, while the events lane applies
changes beside them (:mod:`.changes`). Every stream ends with exactly one terminal status; failures
become protocol errors of the right level. A live read (``catalog["live"]``) only applies changes:
polled events and pushed ones (``input``).

**Connected accounts** (``accounts: "all"`` or a list of ids): the accounts are listed (``GET
/v1/accounts``, paged) or taken from the list, and each is read with its own client
(``Stripe-Account``) over the shared connections and budget, whose fairness groups are the
accounts. Every message about an account's data carries ``account``; its states are the saved
ones under ``"<account>/<stream>"``; the configured catalog's ``terminal_streams`` names the
account-streams this run already finished (skipped here). ``max_concurrent_streams`` bounds the
account-streams running at once, taken account by account so that small accounts finish early.
An account whose access is refused (401, 403 ``account_invalid``) gets one ``account``-level
error, its running streams fail and its other streams are not started; the others go on.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from stripe_sync.protocol.batching import Batch, MessageQueue, flatten
from stripe_sync.protocol.connector import Config, Message
from stripe_sync.protocol.ranges import make_range, range_bounds
from stripe_sync.sources.stripe.accounts import connected_accounts
from stripe_sync.sources.stripe.backfill import TimeRangeBackfill
from stripe_sync.sources.stripe.catalog import StripeCatalog, load_catalog
from stripe_sync.sources.stripe.changes import Changes
from stripe_sync.sources.stripe.client import StripeClient, make_client
from stripe_sync.sources.stripe.config import StripeSourceConfig
from stripe_sync.sources.stripe.errors import (
    AccountAccessRevoked,
    AuthenticationFailed,
    NotAvailable,
    PermissionDenied,
    StripeError,
)
from stripe_sync.sources.stripe.listing import list_by_cursor, list_newest, list_per_parent
from stripe_sync.sources.stripe.stream_context import StreamContext

OUTPUT_QUEUE_SIZE = 2000
_DONE: Message = {"type": "_done"}


def error_message(
    exc: StripeError, stream: str | None, level: str, account: str | None = None
) -> dict[str, Any]:
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
    if account is not None:
        payload["account"] = account
    if isinstance(exc, AccountAccessRevoked):
        payload["hint"] = "the account revoked the platform's access; reconnect it or leave it out"
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


@dataclass
class _Account:
    """The account a stream reads: its client, the id for ``_account_id``, the backfill's lower
    bound, and (for a connected account of a multi-account read) the ``account`` of messages."""

    client: StripeClient
    account_id: str
    lower_bound: int
    connected: str | None = None
    revoked: bool = False

    def key(self, stream: str) -> str:
        return f"{self.connected}/{stream}" if self.connected else stream


def is_account_refusal(exc: StripeError) -> bool:
    """A connected account's requests refused as a whole (revoked access or a refused key)."""
    return isinstance(exc, AccountAccessRevoked | AuthenticationFailed)


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
        self.global_failure = asyncio.Event()
        if self.config.accounts != "self":
            await self._run_accounts(streams)
            return
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
        backfilled = asyncio.Event()
        target = _Account(self.client, account_id, lower_bound)
        tasks = [asyncio.create_task(self._stream(entry, target, limiter)) for entry in streams]
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

    async def _run_accounts(self, streams: list[dict[str, Any]]) -> None:
        """A multi-account read: every connected account's streams under one concurrency limit."""
        if self.configured.get("live"):
            await self._log("warn", "live changes of connected accounts are not followed yet")
            return
        try:
            accounts = await connected_accounts(self.config, self.client)
        except StripeError as exc:
            await self.out.put({"type": "error", "error": error_message(exc, None, "global")})
            return
        finally:
            stats = self.client.stats.take("_accounts")
            await self.out.put({"type": "source_stats", "source_stats": stats})
        finished = set(self.configured.get("terminal_streams") or {})
        limiter = asyncio.Semaphore(self.config.max_concurrent_streams)
        tasks = [
            asyncio.create_task(self._connected(account, streams, finished, limiter))
            for account in accounts
        ]
        try:
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _connected(
        self,
        account: str,
        streams: list[dict[str, Any]],
        finished: set[str],
        limiter: asyncio.Semaphore,
    ) -> None:
        """One connected account: its lookup (creation time), then its unfinished streams."""
        entries = [entry for entry in streams if f"{account}/{entry['name']}" not in finished]
        if not entries:
            return
        client = self.client.for_account(account)
        client.log_retry = self._log_retry
        try:
            body = (await client.get("/v1/account", stream="_account")).body
        except StripeError as exc:
            await self.out.put(
                {"type": "error", "error": error_message(exc, None, "account", account)}
            )
            return
        finally:
            stats = {"account": account, **client.stats.take("_account")}
            await self.out.put({"type": "source_stats", "source_stats": stats})
        lower_bound = self.config.start or int(body.get("created") or 0)
        target = _Account(client, account, lower_bound, connected=account)
        await asyncio.gather(*(self._stream(entry, target, limiter) for entry in entries))

    async def _account_refused(self, target: _Account, exc: StripeError) -> None:
        """Report a connected account's refusal once; its streams stop."""
        if target.revoked:
            return
        target.revoked = True
        payload = error_message(exc, None, "account", target.connected)
        await self.out.put({"type": "error", "error": payload})

    async def _report(self, exc: StripeError, level: str) -> None:
        await self.out.put({"type": "error", "error": error_message(exc, None, level)})

    async def _log(self, level: str, message: str) -> None:
        await self.out.put({"type": "log", "log": {"level": level, "message": message}})

    async def _stream(
        self, entry: dict[str, Any], target: _Account, limiter: asyncio.Semaphore
    ) -> None:
        name = entry["name"]
        try:
            definition = self.catalog.stream(name)
        except KeyError:
            await self._log("warn", f"{name}: not a Stripe stream; skipped")
            return
        async with limiter:
            if self.global_failure.is_set() or target.revoked:
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
                await self._sync_stream(context, entry, target.lower_bound)
            except StripeError as exc:
                await self._stream_stopped(context, target, exc)
                return
            finally:
                self.running.discard(key)
                await context.emit_stats()
            seconds = time.monotonic() - started
            await self._log(
                "info",
                f"{key}: {context.record_count} records in {seconds:.1f} s",
            )
            await context.emit_status("complete")

    async def _stream_stopped(
        self, context: StreamContext, target: _Account, exc: StripeError
    ) -> None:
        """The terminal status (and error) of a stream stopped by ``exc``."""
        name = context.name
        if target.connected and is_account_refusal(exc):
            await self._account_refused(target, exc)
            await context.emit_status("failed", reason=str(exc))
        elif isinstance(exc, AuthenticationFailed):
            self.global_failure.set()
            await self.out.put({"type": "error", "error": error_message(exc, name, "global")})
            await context.emit_status("failed", reason=str(exc))
        elif isinstance(exc, NotAvailable):
            await self._log("info", f"{target.key(name)}: skipped: {exc}")
            await context.emit_status("skipped", reason=str(exc))
        else:
            payload = error_message(exc, name, "stream", target.connected)
            await self.out.put({"type": "error", "error": payload})
            await context.emit_status("failed", reason=str(exc))

    async def _sync_stream(
        self, context: StreamContext, entry: dict[str, Any], lower_bound: int
    ) -> None:
        definition = context.stream
        account = context.account
        key = f"{account}/{definition.name}" if account else definition.name
        reset = definition.name in self.reset_streams  # from the beginning, whatever was saved
        saved = None if reset else self.saved.get(key)
        limit = entry.get("backfill_limit")
        window = (entry.get("account_time_ranges") or {}).get(account) or entry.get("time_range")
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
