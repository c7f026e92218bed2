"""The write loop shared by the database destinations: buffer, batch, commit, confirm.

Records are buffered per stream, deduplicated by primary key (the newest version wins; ties: the
later record), and written in batches of ``batch_size`` or when the oldest buffered record has
waited ``max_delay_s``. After each committed batch the loop yields ``write_stats`` and every
``source_state`` the fence can release. Input is read by a separate task, so the source keeps
producing while a batch is written and a quiet source still gets its states confirmed on time.

A failure of one stream's table is reported as a stream error and the other streams go on; a
global failure (connection lost, credentials refused) is reported and ends the write.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Mapping
from datetime import datetime
from typing import Any

import orjson

from stripe_sync.destinations.config import DeleteMode, DestinationConfig
from stripe_sync.destinations.database import Batch, Database, Row, prepare_table
from stripe_sync.destinations.errors import DestinationError, table_failed
from stripe_sync.destinations.fence import StateFence
from stripe_sync.destinations.layout import TableLayout, layout_for_stream
from stripe_sync.protocol.errors import ConfigError

Message = dict[str, Any]

MAX_DELAY_S = 1.0
_END = object()


class StreamBuffer:
    """One stream's records since its last batch, one row per key."""

    __slots__ = ("_key_of", "_rows", "_tombstones", "layout", "table_ready")

    def __init__(self, layout: TableLayout) -> None:
        self.layout = layout
        self.table_ready = False
        self._key_of = layout.key_getter()
        self._rows: dict[tuple[Any, ...], Row] = {}
        self._tombstones = 0

    def __len__(self) -> int:
        return len(self._rows)

    def add(self, record: Mapping[str, Any]) -> None:
        data = record["data"]
        try:
            key = self._key_of(data)
        except (KeyError, TypeError):
            raise table_failed(
                f"stream {self.layout.table!r}: record without its primary key "
                f"({', '.join(c.field for c in self.layout.key)})",
                "config_error",
            ) from None
        version = record.get("version")
        if version is None:
            version = version_of_emitted_at(record.get("emitted_at"))
        old = self._rows.get(key)
        if old is not None and old[-3] > version:
            return
        deleted = record.get("deleted") is True
        if old is not None and old[-2]:
            self._tombstones -= 1
        if deleted:
            self._tombstones += 1
        self._rows[key] = (*key, version, deleted, orjson.dumps(data).decode())

    def take(self, delete_mode: DeleteMode) -> Batch:
        batch = Batch(list(self._rows.values()), self._tombstones, delete_mode)
        self._rows = {}
        self._tombstones = 0
        return batch


def version_of_emitted_at(emitted_at: Any) -> int:
    """Milliseconds since the epoch of an ISO-8601 ``emitted_at`` (0 when absent)."""
    if not isinstance(emitted_at, str):
        return 0
    return _parse_iso_ms(emitted_at)


_iso_cache: dict[str, int] = {}


def _parse_iso_ms(text: str) -> int:
    cached = _iso_cache.get(text)
    if cached is None:
        if len(_iso_cache) > 1024:
            _iso_cache.clear()
        cached = int(datetime.fromisoformat(text).timestamp() * 1000)
        _iso_cache[text] = cached
    return cached


class _Pump:
    """Reads the input on its own task into a bounded queue."""

    def __init__(self, messages: AsyncIterator[Message], size: int) -> None:
        self._queue: asyncio.Queue[Any] = asyncio.Queue(size)
        self._task = asyncio.create_task(self._run(messages))

    async def _run(self, messages: AsyncIterator[Message]) -> None:
        try:
            async for message in messages:
                await self._queue.put(message)
        except Exception as exc:
            await self._queue.put(exc)
        else:
            await self._queue.put(_END)

    async def get(self, wait_s: float | None) -> Any:
        """The next message, ``_END``, an exception to raise, or None after ``wait_s``."""
        with contextlib.suppress(asyncio.QueueEmpty):
            return self._queue.get_nowait()
        if wait_s is None:
            return await self._queue.get()
        try:
            async with asyncio.timeout(max(wait_s, 0.0)):
                return await self._queue.get()
        except TimeoutError:
            return None

    async def close(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


class BatchWriter:
    """Runs one ``write`` call against an open database."""

    def __init__(
        self,
        db: Database,
        catalog: Mapping[str, Any],
        config: DestinationConfig,
        max_delay_s: float = MAX_DELAY_S,
    ) -> None:
        self.db = db
        self.config = config
        self.max_delay_s = max_delay_s
        self.streams = {s.get("name"): s for s in catalog.get("streams") or []}
        self.buffers: dict[str, StreamBuffer] = {}
        self.received: dict[str, int] = {}
        self.durable: dict[str, int] = {}
        self.failed: set[str] = set()
        self.fence = StateFence()

    async def run(self, messages: AsyncIterator[Message]) -> AsyncIterator[Message]:
        pump = _Pump(messages, max(1000, self.config.batch_size))
        try:
            deadline: float | None = None
            while True:
                wait_s = None if deadline is None else deadline - time.monotonic()
                message = await pump.get(wait_s)
                if message is _END:
                    break
                if isinstance(message, BaseException):
                    raise message
                if message is not None:
                    kind = message.get("type")
                    if kind == "record":
                        if deadline is None:
                            deadline = time.monotonic() + self.max_delay_s
                        async for out in self._on_record(message["record"]):
                            yield out
                    elif kind == "source_state":
                        self.fence.hold(message, self.received, self.durable)
                        for out in self.fence.release(self.durable, self.failed):
                            yield out
                if deadline is not None and time.monotonic() >= deadline:
                    async for out in self._flush_all():
                        yield out
                    deadline = None
            async for out in self._flush_all():
                yield out
        except _Stop:
            return
        finally:
            await pump.close()

    async def _on_record(self, record: Mapping[str, Any]) -> AsyncIterator[Message]:
        stream: str = record["stream"]
        if stream in self.failed:
            self.received[stream] += 1
            return
        buffer = self.buffers.get(stream)
        try:
            if buffer is None:
                buffer = self.buffers[stream] = StreamBuffer(self._layout(stream))
                self.received.setdefault(stream, 0)
            buffer.add(record)
        except (DestinationError, ConfigError) as exc:
            self.received[stream] = self.received.get(stream, 0) + 1
            for out in self._fail(stream, exc):
                yield out
            return
        self.received[stream] += 1
        if len(buffer) >= self.config.batch_size:
            async for out in self._flush(stream):
                yield out

    def _layout(self, stream: Any) -> TableLayout:
        entry = self.streams.get(stream)
        if entry is None:
            raise ConfigError(f"stream {stream!r} is not in the configured catalog")
        return layout_for_stream(entry)

    async def _flush_all(self) -> AsyncIterator[Message]:
        for stream in list(self.buffers):
            async for out in self._flush(stream):
                yield out

    async def _flush(self, stream: str) -> AsyncIterator[Message]:
        buffer = self.buffers[stream]
        if not len(buffer):
            return
        target = self.received[stream]
        batch = buffer.take(self.config.delete_mode)
        try:
            if not buffer.table_ready:
                buffer.layout = await prepare_table(self.db, buffer.layout)
                buffer.table_ready = True
            counts = await self.db.write_batch(buffer.layout, batch)
        except DestinationError as exc:
            if exc.level == "global":
                yield error_message(exc)
                raise _Stop from exc
            for out in self._fail(stream, exc):
                yield out
            return
        self.durable[stream] = target
        yield counts.message(stream)
        for out in self.fence.release(self.durable, self.failed):
            yield out

    def _fail(self, stream: str, exc: Exception) -> list[Message]:
        self.failed.add(stream)
        self.buffers.pop(stream, None)
        return [error_message(exc, stream), *self.fence.release(self.durable, self.failed)]


class _Stop(Exception):
    """A global failure was reported; the write ends."""


def error_message(exc: Exception, stream: str | None = None) -> Message:
    """An `error` envelope for a failure, at stream level when `stream` is given."""
    payload: dict[str, Any] = {
        "level": "stream" if stream is not None else "global",
        "failure_type": getattr(exc, "failure_type", "system_error"),
        "message": str(exc),
    }
    if stream is not None:
        payload["stream"] = stream
    return {"type": "error", "error": payload}
