"""The request budget: rate, per-endpoint cap, fairness between streams, adaptive back-off."""

from __future__ import annotations

import asyncio
import time
from collections import Counter

from stripe_sync.sources.stripe.budget import RequestBudget


async def hammer(budget, streams, seconds, endpoint_of=lambda stream: stream):
    granted: Counter[str] = Counter()
    deadline = time.monotonic() + seconds

    async def worker(stream):
        while time.monotonic() < deadline:
            await budget.acquire(stream, endpoint_of(stream))
            budget.answered(endpoint_of(stream), accepted=True, round_trip=0.0)
            if time.monotonic() < deadline:
                granted[stream] += 1

    await asyncio.gather(*(worker(s) for s in streams for _ in range(4)))
    await budget.close()
    return granted


async def test_account_rate_is_never_exceeded_and_shared_fairly():
    budget = RequestBudget(rate=40, endpoint_rate=0)
    granted = await hammer(budget, ["a", "b", "c", "d"], 1.5)
    total = sum(granted.values())
    assert total <= 40 * 1.5 + 10 + 1
    assert total >= 40 * 1.5 * 0.7
    assert max(granted.values()) - min(granted.values()) <= 3


async def test_endpoint_cap_holds_for_one_stream_while_others_use_the_rest():
    budget = RequestBudget(rate=60, endpoint_rate=10)
    granted = await hammer(budget, ["big", "small"], 1.5)
    assert granted["big"] <= 10 * 1.5 + 10 * 0.25 + 1
    assert granted["small"] <= 10 * 1.5 + 10 * 0.25 + 1


async def test_unlimited_budget_does_not_wait():
    budget = RequestBudget(rate=0, endpoint_rate=0)
    started = time.monotonic()
    for _ in range(1000):
        await budget.acquire("s", "e")
    assert time.monotonic() - started < 1.0


async def test_retry_after_pauses_every_grant():
    budget = RequestBudget(rate=100, endpoint_rate=0)
    budget.rate_limited(retry_after=0.5)
    started = time.monotonic()
    await budget.acquire("a", "e")
    assert time.monotonic() - started >= 0.45
    await budget.close()


async def test_accounts_share_equally_whatever_the_number_of_their_streams():
    budget = RequestBudget(rate=40, endpoint_rate=0)
    granted: Counter[str] = Counter()
    deadline = time.monotonic() + 1.5

    async def worker(account, stream):
        while time.monotonic() < deadline:
            await budget.acquire(stream, f"{account}/{stream}", account)
            budget.answered(f"{account}/{stream}", accepted=True, round_trip=0.0)
            if time.monotonic() < deadline:
                granted[account] += 1

    streams = {"big": ["s1", "s2", "s3", "s4"], "small": ["s1"]}
    await asyncio.gather(*(worker(a, s) for a, names in streams.items() for s in names))
    await budget.close()
    assert abs(granted["big"] - granted["small"]) <= 3


async def test_a_grant_looks_only_at_streams_still_waiting():
    budget = RequestBudget(rate=1000, endpoint_rate=0)
    accounts = [f"acct_{n}" for n in range(300)]
    await asyncio.gather(*(budget.acquire("customers", "/v1/customers", a) for a in accounts))
    assert not budget.groups  # 300 finished accounts leave nothing to walk
    blocked = asyncio.create_task(budget.acquire("charges", "/v1/charges", "acct_x"))
    budget.rate_limited(retry_after=30)  # nothing is granted for a while
    await asyncio.sleep(0.05)
    assert list(budget.groups) == ["acct_x"]
    blocked.cancel()
    await asyncio.gather(blocked, return_exceptions=True)
    assert not budget.groups  # a cancelled waiter leaves nothing behind either
    await budget.close()
