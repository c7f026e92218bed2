"""Moving messages in batches inside one process: the optional batched connector methods.

A batch is a list of messages in protocol order (a page of records, usually followed by its
state). In-process connectors may offer, beside ``read``/``write``, a batched form that the engine
prefers: ``read_batches(config, catalog, state, input=None)`` yields lists of messages, and
``write_batches(config, catalog, batches)`` consumes lists (and yields messages as ``write`` does).
Both carry exactly the messages of their one-at-a-time forms; they only save the per-message
hand-offs (queue operations, generator steps) on the hot path. The subprocess (NDJSON) form of a
connector is unchanged: external connectors speak ``read``/``write``, and the engine adapts. A
subclass that overrides only ``read`` (or ``write``) is used through it: the batched form is taken
only when it is at least as specific as the plain one.

``MessageQueue`` is an ``asyncio.Queue`` of messages or batches bounded by the number of
*messages* it holds, so back-pressure stays the same whatever the batch size.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

Message = dict[str, Any]
Batch = list[Message]


class MessageQueue(asyncio.Queue[Any]):
    """A queue whose size is the number of messages held: a list counts its length, anything else
    (a message, a sentinel) one. An item is accepted while the queue is below ``maxsize``, so one
    batch may take it past the bound (by less than a batch)."""

    def _init(self, maxsize: int) -> None:
        super()._init(maxsize)
        self._messages = 0

    def _put(self, item: Any) -> None:
        self._messages += len(item) if isinstance(item, list) else 1
        super()._put(item)

    def _get(self) -> Any:
        item = super()._get()
        self._messages -= len(item) if isinstance(item, list) else 1
        return item

    def qsize(self) -> int:
        return self._messages


def source_batches(
    source: Any,
    config: dict[str, Any],
    catalog: dict[str, Any],
    state: dict[str, Any],
    input: AsyncIterator[dict[str, Any]] | None = None,
) -> AsyncGenerator[Batch, None]:
    """A source's output as batches: its ``read_batches`` when it has one, else one message each."""
    read_batches = _batched_form(source, "read_batches", "read")
    if read_batches is not None:
        return _generator(read_batches(config, catalog, state, input))
    return singletons(source.read(config, catalog, state, input))


def destination_writes(
    destination: Any,
    config: dict[str, Any],
    catalog: dict[str, Any],
    batches: AsyncIterator[Batch],
    **options: Any,
) -> AsyncGenerator[Message, None]:
    """Run a destination over batches: ``write_batches`` when it has one, else ``write``.

    ``options`` are keyword arguments only ``write_batches`` takes (see ``writes_in_batches``)."""
    write_batches = _batched_form(destination, "write_batches", "write")
    if write_batches is not None:
        return _generator(write_batches(config, catalog, batches, **options))
    return _generator(destination.write(config, catalog, flatten(batches)))


def writes_in_batches(destination: Any) -> bool:
    """True when ``destination_writes`` uses the destination's ``write_batches``."""
    return _batched_form(destination, "write_batches", "write") is not None


async def singletons(messages: AsyncIterator[Message]) -> AsyncGenerator[Batch, None]:
    """Each message as a batch of its own."""
    try:
        async for message in messages:
            yield [message]
    finally:
        await _close(messages)


async def flatten(batches: AsyncIterator[Batch]) -> AsyncGenerator[Message, None]:
    """The messages of the batches, in order."""
    try:
        async for batch in batches:
            for message in batch:
                yield message
    finally:
        await _close(batches)


def _batched_form(connector: Any, batched: str, plain: str) -> Any:
    """``connector.<batched>`` unless missing, None, or less specific than ``<plain>``."""
    method = getattr(connector, batched, None)
    if method is None:
        return None
    own = vars(connector) if hasattr(connector, "__dict__") else {}
    if plain in own:
        return method if batched in own else None
    if batched in own:
        return method
    mro = type(connector).__mro__
    batched_in = next((c for c in mro if batched in vars(c)), None)
    plain_in = next((c for c in mro if plain in vars(c)), None)
    if batched_in is None or plain_in is None or issubclass(batched_in, plain_in):
        return method
    return None


def _generator(items: AsyncIterator[Any]) -> AsyncGenerator[Any, None]:
    """Any async iterator as an async generator (which the engine can close)."""
    if isinstance(items, AsyncGenerator):
        return items
    return _wrapped(items)


async def _wrapped(items: AsyncIterator[Any]) -> AsyncGenerator[Any, None]:
    try:
        async for item in items:
            yield item
    finally:
        await _close(items)


async def _close(iterator: AsyncIterator[Any]) -> None:
    aclose = getattr(iterator, "aclose", None)
    if aclose is not None:
        await aclose()
