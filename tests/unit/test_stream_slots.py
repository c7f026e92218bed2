"""The read's concurrency limit hands freed slots out by priority, not by arrival."""

from __future__ import annotations

import asyncio

from stripe_sync.sources.stripe.stream_slots import StreamSlots


async def test_at_most_limit_run_and_freed_slots_go_to_the_smallest_priority():
    slots = StreamSlots(2)
    order: list[tuple[int, int]] = []
    running = 0
    most = 0
    gates = {priority: asyncio.Event() for priority in [(5, 0), (1, 1), (0, 2), (1, 0), (3, 0)]}

    async def stream(priority: tuple[int, int]) -> None:
        nonlocal running, most
        async with slots.slot(priority):
            running += 1
            most = max(most, running)
            order.append(priority)
            await gates[priority].wait()
            running -= 1

    tasks = []
    for priority in gates:  # (5, 0) and (1, 1) take the two slots; the rest wait
        tasks.append(asyncio.create_task(stream(priority)))
        await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert order == [(5, 0), (1, 1)]
    for priority in [(5, 0), (1, 1), (0, 2), (1, 0), (3, 0)]:
        gates[priority].set()
        await asyncio.sleep(0.01)
    await asyncio.gather(*tasks)
    assert order == [(5, 0), (1, 1), (0, 2), (1, 0), (3, 0)]
    assert most == 2 and slots.free == 2


async def test_a_cancelled_waiter_gives_its_slot_on():
    slots = StreamSlots(1)
    first_in = asyncio.Event()
    release = asyncio.Event()
    got: list[str] = []

    async def holder() -> None:
        async with slots.slot((0, 0)):
            first_in.set()
            await release.wait()

    async def waiter(name: str, priority: tuple[int, int]) -> None:
        async with slots.slot(priority):
            got.append(name)

    hold = asyncio.create_task(holder())
    await first_in.wait()
    doomed = asyncio.create_task(waiter("doomed", (0, 1)))
    patient = asyncio.create_task(waiter("patient", (0, 2)))
    await asyncio.sleep(0)
    release.set()
    await asyncio.sleep(0)  # the holder's exit grants "doomed" its slot ...
    doomed.cancel()  # ... which is cancelled before it runs: the slot must move on
    await asyncio.gather(hold, patient)
    assert got == ["patient"] and slots.free == 1
