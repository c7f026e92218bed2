"""Batches of messages in one process: the message-bounded queue and the read/write adapters."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from stripe_sync.protocol.batching import (
    MessageQueue,
    destination_writes,
    flatten,
    singletons,
    source_batches,
)


def record(n: int) -> dict[str, Any]:
    return {"type": "record", "record": {"stream": "s", "data": {"id": n}}}


async def test_the_queue_is_bounded_by_messages_not_by_batches():
    queue = MessageQueue(4)
    queue.put_nowait([record(1), record(2), record(3)])
    assert queue.qsize() == 3 and not queue.full()
    queue.put_nowait([record(4), record(5)])  # accepted below the bound, may pass it by a batch
    assert queue.qsize() == 5 and queue.full()
    with pytest.raises(asyncio.QueueFull):
        queue.put_nowait(None)
    assert len(queue.get_nowait()) == 3
    assert queue.qsize() == 2
    queue.put_nowait(None)  # a sentinel counts one
    assert queue.qsize() == 3


async def test_a_blocked_producer_resumes_when_messages_are_taken():
    queue = MessageQueue(2)
    queue.put_nowait([record(1), record(2)])
    put = asyncio.create_task(queue.put([record(3)]))
    await asyncio.sleep(0.01)
    assert not put.done()
    queue.get_nowait()
    await asyncio.wait_for(put, 1)
    assert queue.qsize() == 1


class OneAtATime:
    """A connector with only the one-message forms."""

    def __init__(self) -> None:
        self.closed = False
        self.written: list[dict[str, Any]] = []

    async def read(self, config, catalog, state, input=None) -> AsyncIterator[dict[str, Any]]:
        try:
            for n in range(5):
                yield record(n)
        finally:
            self.closed = True

    async def write(self, config, catalog, messages) -> AsyncIterator[dict[str, Any]]:
        async for message in messages:
            self.written.append(message)
            yield {"type": "log", "log": {"level": "info", "message": "got one"}}


class Batched(OneAtATime):
    """A connector with the batched forms too; the adapters must prefer them."""

    async def read_batches(self, config, catalog, state, input=None):
        yield [record(0), record(1)]
        yield [record(2)]

    async def write_batches(self, config, catalog, batches):
        async for batch in batches:
            yield {"type": "log", "log": {"level": "info", "message": f"batch of {len(batch)}"}}


async def test_a_source_without_batches_is_read_one_message_per_batch_and_closed_early():
    source = OneAtATime()
    batches = source_batches(source, {}, {}, {})
    assert await batches.__anext__() == [record(0)]
    await batches.aclose()
    assert source.closed


async def test_a_batched_source_and_destination_are_used_as_such():
    connector = Batched()
    batches = [batch async for batch in source_batches(connector, {}, {}, {})]
    assert batches == [[record(0), record(1)], [record(2)]]

    async def given() -> AsyncIterator[list[dict[str, Any]]]:
        for batch in batches:
            yield batch

    out = [m["log"]["message"] async for m in destination_writes(connector, {}, {}, given())]
    assert out == ["batch of 2", "batch of 1"]


async def test_a_destination_without_batches_gets_the_messages_in_order():
    destination = OneAtATime()

    async def given() -> AsyncIterator[list[dict[str, Any]]]:
        yield [record(0), record(1)]
        yield []
        yield [record(2)]

    out = [m async for m in destination_writes(destination, {}, {}, given())]
    assert len(out) == 3
    assert destination.written == [record(0), record(1), record(2)]


async def test_flatten_and_singletons_are_inverse():
    async def messages() -> AsyncIterator[dict[str, Any]]:
        for n in range(3):
            yield record(n)

    assert [m async for m in flatten(singletons(messages()))] == [record(n) for n in range(3)]


class OverridesRead(Batched):
    """A subclass changing ``read`` only: its ``read`` must be used, not the inherited batches."""

    async def read(self, config, catalog, state, input=None):
        yield record(42)


async def test_an_override_of_read_alone_wins_over_inherited_batches():
    batches = [batch async for batch in source_batches(OverridesRead(), {}, {}, {})]
    assert batches == [[record(42)]]
    first = await source_batches(Batched(), {}, {}, {}).__anext__()
    assert first == [record(0), record(1)]
