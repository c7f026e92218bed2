"""One request budget per Stripe account, shared by every call of every worker.

Stripe limits requests per account: a platform's requests for its connected accounts count
against the platform, and two pipelines with one key share one limit. Each call of a worker runs
its own source, so the service paces them together: every Stripe request of a call waits at the
source's gate (``sources.stripe.request_gate``) for a slot of its account's budget.

Slots are reserved in the pipeline store (``PipelineStore.reserve_requests``), one row per account
(a hash of the base URL and the key, never the key): the row holds the time of the account's next
free slot, so slots are spaced ``1 / rate`` apart on the database's clock whatever the worker, and
the requests of all calls together never exceed ``rate`` per second (at most ``rate + 1`` in any
one second, however many calls). A worker reserves for the requests waiting in it at once (at
most a quarter second's worth per reservation), so the store sees a few transactions per second
per account, not one per request. Slots are times on the database's clock; each process keeps
that clock's offset from its own, measured by its fastest reservation round trip (as NTP does),
so a busy event loop does not shift its slots. A request goes within ``STALE_S`` of its slot or
not at all: a slot that passed (an event loop that woke late) is dropped and another one taken;
dropped slots are budget left unused, never requests bunched.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import deque
from typing import Any

from stripe_sync.service.store import PipelineStore
from stripe_sync.sources.stripe.config import StripeSourceConfig

BATCH_S = 0.25
"""A reservation covers at most this much of the account's budget."""
STALE_S = 0.05
"""A slot this far in the past is dropped: spent late it could bunch with later slots."""
OFFSET_KEPT_S = 60.0
"""A clock offset measured by a fast round trip is kept this long unless a faster one comes."""


def account_key(config: dict[str, Any]) -> str:
    """The budget's key for a Stripe source config: its base URL and key, hashed."""
    base_url = str(config.get("base_url") or "https://api.stripe.com")
    digest = hashlib.sha256(f"{base_url}\n{config['api_key']}".encode()).hexdigest()
    return f"stripe:{digest[:32]}"


class AccountBudget:
    """The slots of one account's budget in this process (see the module docstring)."""

    def __init__(self, store: PipelineStore, key: str, rate: float) -> None:
        self.store = store
        self.key = key
        self.rate = rate
        self.batch = max(1, int(rate * BATCH_S))
        self.slots: deque[float] = deque()
        self.waiting = 0
        self.lock = asyncio.Lock()
        self.offset = 0.0
        """The database's clock minus this process's (``loop.time()``)."""
        self.offset_round_trip = float("inf")
        self.offset_at = 0.0

    async def acquire(self) -> None:
        """Wait for this request's slot (sent late, it would bunch with later slots)."""
        loop = asyncio.get_running_loop()
        while True:
            slot = await self._next_slot()
            await asyncio.sleep(max(0.0, slot - loop.time()))
            if loop.time() - slot <= STALE_S:
                return

    def _measure(self, sent: float, answered: float, db_now: float) -> None:
        """Keep the clock offset of the fastest recent round trip."""
        round_trip = answered - sent
        stale = answered - self.offset_at > OFFSET_KEPT_S
        if round_trip <= self.offset_round_trip or stale:
            self.offset = db_now - (sent + answered) / 2
            self.offset_round_trip = round_trip
            self.offset_at = answered

    async def _next_slot(self) -> float:
        loop = asyncio.get_running_loop()
        self.waiting += 1
        try:
            async with self.lock:
                while self.slots and self.slots[0] < loop.time() - STALE_S:
                    self.slots.popleft()
                if not self.slots:
                    count = min(self.waiting, self.batch)
                    sent = loop.time()
                    first, now = await self.store.reserve_requests(self.key, self.rate, count)
                    self._measure(sent, loop.time(), now)
                    start = first - self.offset
                    self.slots.extend(start + i / self.rate for i in range(count))
                return self.slots.popleft()
        finally:
            self.waiting -= 1


class AccountBudgets:
    """The budgets of every Stripe account this process calls, by account and rate."""

    def __init__(self, store: PipelineStore) -> None:
        self.store = store
        self.budgets: dict[tuple[str, float], AccountBudget] = {}

    def gate_for(self, source: dict[str, Any]) -> AccountBudget | None:
        """The budget a pipeline's source shares (None: not Stripe, or unlimited)."""
        if source.get("type") != "stripe":
            return None
        config = source.get("config") or {}
        rate = StripeSourceConfig.model_validate(config).account_rps
        if rate <= 0:
            return None
        index = (account_key(config), float(rate))
        budget = self.budgets.get(index)
        if budget is None:
            budget = self.budgets[index] = AccountBudget(self.store, index[0], float(rate))
        return budget
