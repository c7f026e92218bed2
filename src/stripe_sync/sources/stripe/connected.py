"""A multi-account read (``accounts: "all"`` or a list of ids): a platform's connected accounts.

The accounts are listed (``GET /v1/accounts``, paged) or taken from the config. Each is read
with its own client (``Stripe-Account``) over the read's connections and request budget, whose
fairness groups are the accounts, and every message about its data carries ``account``.

**Backfill**: the streams of all accounts share the read's stream slots, ranked account by account
(:mod:`.stream_slots`), so an account that started finishes before later ones take its slots. An
account is looked up when its first stream gets a slot (:mod:`.account_work`); account-streams
the run already finished (``terminal_streams`` of the configured catalog) are skipped, and an
account with none left is not looked up at all. Each account's events lane runs beside its
streams, its cursor kept under the account in the global state (:mod:`.outbox`), so an
incremental run applies every account's changes since the previous run.

**Live**: one events lane per account polls its events; pushed (webhook) events are routed to
their ``account``'s lane. When one account's cursor fell out of Stripe's events window, its
streams are reset and the read ends, so that the engine starts a new run that backfills them.
Accounts connected after the run began are picked up by the next run.

An account whose access is refused (401, 403 ``account_invalid``) gets one ``account``-level error;
its running streams fail, its other streams are not started and its lane stops; the others go on.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from stripe_sync.sources.stripe.account_work import AccountWork, ReadTarget
from stripe_sync.sources.stripe.accounts import connected_accounts
from stripe_sync.sources.stripe.changes import Changes
from stripe_sync.sources.stripe.client import StripeClient
from stripe_sync.sources.stripe.errors import StripeError, error_payload, is_account_refusal
from stripe_sync.sources.stripe.outbox import AccountOutbox, account_cursors

if TYPE_CHECKING:
    from stripe_sync.sources.stripe.source import Reader


class ConnectedRead:
    def __init__(self, reader: Reader) -> None:
        self.reader = reader
        self.cursors = account_cursors(reader.global_state)

    async def run(self) -> None:
        reader = self.reader
        try:
            accounts = await connected_accounts(reader.config, reader.client)
        except StripeError as exc:
            await reader.out.put({"type": "error", "error": error_payload(exc, None, "global")})
            return
        finally:
            await reader.emit_request_stats(reader.client, "_accounts")
        if reader.configured.get("live"):
            await self.live(accounts)
        else:
            await self.backfill(accounts)

    # -- backfill ----------------------------------------------------------------------------

    async def backfill(self, accounts: list[str]) -> None:
        reader = self.reader
        streams = reader.configured.get("streams") or []
        finished = set(reader.configured.get("terminal_streams") or {})
        tasks = []
        for rank, account in enumerate(accounts):
            entries = [entry for entry in streams if f"{account}/{entry['name']}" not in finished]
            if entries:
                work = AccountWork(functools.partial(self._open, account))
                tasks.append(asyncio.create_task(reader.backfill(work, entries, rank)))
        try:
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _open(self, account: str) -> tuple[ReadTarget, Changes] | None:
        """Look the account up (its creation time bounds the backfill)."""
        reader = self.reader
        client = self._client(account)
        try:
            body = (await client.get("/v1/account", stream="_account")).body
        except StripeError as exc:
            payload = error_payload(exc, None, "account", account)
            await reader.out.put({"type": "error", "error": payload})
            return None
        finally:
            await reader.emit_request_stats(client, "_account", account)
        lower_bound = reader.config.start or int(body.get("created") or 0)
        target = ReadTarget(client, account, lower_bound, connected=account)
        return target, self._changes(target)

    # -- live --------------------------------------------------------------------------------

    async def live(self, accounts: list[str]) -> None:
        """Every account's lane until one needs a new run (or the engine stops the read)."""
        inboxes: dict[str, asyncio.Queue[dict[str, Any]]] = {a: asyncio.Queue() for a in accounts}
        lanes = {
            asyncio.create_task(self._follow(account, inboxes[account])): account
            for account in accounts
        }
        routing = [asyncio.create_task(self._route(inboxes))] if self.reader.pushed else []
        pending = set(lanes)
        try:
            while pending:
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                if any(task.result() for task in done):
                    return  # an account's streams were reset: a new run backfills them
        finally:
            for task in (*lanes, *routing):
                task.cancel()
            await asyncio.gather(*lanes, *routing, return_exceptions=True)

    async def _follow(self, account: str, inbox: asyncio.Queue[dict[str, Any]]) -> bool:
        """One account's live lane; True when it ended at the cliff (its streams were reset)."""
        changes = self._changes(ReadTarget(self._client(account), account, 0, connected=account))
        await changes.live(_drain(inbox) if self.reader.pushed else None)
        return bool(changes.reset_streams)

    async def _route(self, inboxes: dict[str, asyncio.Queue[dict[str, Any]]]) -> None:
        """Hand each pushed item to its account's lane (rejection notices are only counted)."""
        reader = self.reader
        assert reader.pushed is not None
        async for item in reader.pushed:
            account = item.get("account")
            inbox = inboxes.get(account) if isinstance(account, str) else None
            if inbox is not None:
                inbox.put_nowait(item)
            elif item.get("object") == "webhook_rejection":
                stats = {"webhooks_rejected": 1}
                await reader.out.put({"type": "source_stats", "source_stats": stats})
                await reader.log("warn", f"webhook rejected: {item.get('reason')}")
            else:
                owner = account or "the platform itself"
                await reader.log("warn", f"ignored a pushed event of {owner}: not synced here")

    # -- shared ------------------------------------------------------------------------------

    def _client(self, account: str) -> StripeClient:
        client = self.reader.client.for_account(account)
        client.log_retry = self.reader.client.log_retry
        return client

    def _changes(self, target: ReadTarget) -> Changes:
        """The account's events lane: its messages tagged, its cursor kept under the account;
        a refusal it meets is the account's (reported once, with its streams')."""
        reader = self.reader
        account = target.account_id

        async def report(exc: StripeError, level: str) -> None:
            if is_account_refusal(exc):
                await reader.account_refused(target, exc)
            else:
                payload = error_payload(exc, None, level, account)
                await reader.out.put({"type": "error", "error": payload})

        outbox = AccountOutbox(reader.out, account, self.cursors)
        saved = self.cursors.get(account) or {}
        return reader.changes(target.client, account, outbox, saved, report)


async def _drain(inbox: asyncio.Queue[dict[str, Any]]) -> AsyncIterator[dict[str, Any]]:
    while True:
        yield await inbox.get()
