"""One account's part of a backfill read: its streams and the events lane beside them.

The account is opened (for a connected account: looked up, which gives its creation time) when
the first of its streams gets a slot, not before, so a platform with thousands of accounts does
not spend its budget on lookups and event polls of accounts whose turn is far off. Opening also
joins the events lane to the backfill; the lane polls while the account's streams run and once
more after they finish.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from stripe_sync.sources.stripe.changes import Changes
from stripe_sync.sources.stripe.client import StripeClient


@dataclass
class ReadTarget:
    """The account a stream reads: its client, the id for ``_account_id``, the backfill's lower
    bound, and (for a connected account of a multi-account read) the ``account`` of messages."""

    client: StripeClient
    account_id: str
    lower_bound: int
    connected: str | None = None
    revoked: bool = False
    reset_streams: set[str] = field(default_factory=set)
    """Streams the events lane reset at the cliff: backfilled from the beginning."""

    def key(self, stream: str) -> str:
        return f"{self.connected}/{stream}" if self.connected else stream


Opener = Callable[[], Awaitable[tuple[ReadTarget, Changes] | None]]
"""Looks an account up; None when it cannot be read (the opener reported why)."""


class AccountWork:
    def __init__(self, open_account: Opener) -> None:
        self._open = open_account
        self._lock = asyncio.Lock()
        self._opened = False
        self._target: ReadTarget | None = None
        self._following: asyncio.Task[None] | None = None
        self._backfilled = asyncio.Event()

    async def target(self) -> ReadTarget | None:
        """The account, opened by the first caller (who holds a stream slot meanwhile)."""
        async with self._lock:
            if not self._opened:
                self._opened = True
                opened = await self._open()
                if opened is not None:
                    self._target, changes = opened
                    lane = await changes.join_backfill()
                    self._target.reset_streams = changes.reset_streams
                    if lane is not None:
                        follow = changes.follow(lane, self._backfilled)
                        self._following = asyncio.create_task(follow)
            return self._target

    async def finish(self, failed: bool) -> None:
        """After the account's streams: the lane's last poll (unless the read failed)."""
        self._backfilled.set()
        revoked = self._target is not None and self._target.revoked
        if self._following is not None and not (failed or revoked):
            await self._following

    async def close(self) -> None:
        """Stop the lane (it is done, or the read is being cancelled)."""
        if self._following is not None:
            self._following.cancel()
            await asyncio.gather(self._following, return_exceptions=True)
