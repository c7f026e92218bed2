"""The write loop shared by the database destinations: buffer, batch, commit, confirm.

Records are buffered per stream, deduplicated by primary key (the newest version wins; ties: the
later record), and written in batches of ``batch_size`` (checked after each input batch, so a
page that arrives as one batch with its state is never split between two transactions), when the oldest buffered record has
waited ``max_delay_s``, or when no input came for ``IDLE_FLUSH_S`` (a live change does not wait
for the timer). After each committed batch the loop yields ``write_stats`` and every
``source_state`` the fence can release. Input is read by a separate task, so the source keeps
producing while a batch is written and a quiet source still gets its states confirmed on time.
Input arrives in batches of messages (``write_batches``; ``write`` wraps each message in one), and
each record's object is serialised once, here, without ``_account_id`` (which has its own column).

Given a ``StateCommit`` (the engine's state store is this database's ``_sync_state``), each batch
saves the pipeline's SyncState with the states it confirms in its own transaction; states confirmed
without a batch (nothing of theirs was buffered) are saved in a transaction of their own before
they are emitted.

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
from stripe_sync.destinations.database import Batch, Database, Row, SavedState, prepare_table
from stripe_sync.destinations.errors import DestinationError, table_failed
from stripe_sync.destinations.fence import StateFence
from stripe_sync.destinations.layout import ACCOUNT_FIELD, TableLayout, layout_for_stream
from stripe_sync.engine.state_commit import StateCommit
from stripe_sync.protocol.batching import Batch as MessageBatch
from stripe_sync.protocol.batching import MessageQueue
from stripe_sync.protocol.errors import ConfigError

Message = dict[str, Any]

MAX_DELAY_S = 1.0
IDLE_FLUSH_S = 0.05
"""Buffered records are written once the input has been quiet this long."""
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
        if ACCOUNT_FIELD in data:
            data = data.copy()
            del data[ACCOUNT_FIELD]
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
    """Reads the input batches on their own task into a queue bounded by messages."""

    def __init__(self, batches: AsyncIterator[MessageBatch], size: int) -> None:
        self._queue = MessageQueue(size)
        self._task = asyncio.create_task(self._run(batches))

    async def _run(self, batches: AsyncIterator[MessageBatch]) -> None:
        try:
            async for batch in batches:
                await self._queue.put(batch)
        except Exception as exc:
            await self._queue.put(exc)
        else:
            await self._queue.put(_END)

    async def get(self, wait_s: float | None) -> Any:
        """The next batch, ``_END``, an exception to raise, or None after ``wait_s``."""
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
        state_commit: StateCommit | None = None,
    ) -> None:
        self.db = db
        self.state_commit = state_commit
        self.config = config
        self.max_delay_s = max_delay_s
        self.streams = {s.get("name"): s for s in catalog.get("streams") or []}
        self.buffers: dict[str, StreamBuffer] = {}
        self.received: dict[str, int] = {}
        self.durable: dict[str, int] = {}
        self.failed: set[str] = set()
        self.fence = StateFence()

    async def run(self, batches: AsyncIterator[MessageBatch]) -> AsyncIterator[Message]:
        pump = _Pump(batches, max(1000, self.config.batch_size))
        try:
            deadline: float | None = None
            while True:
                wait_s = None
                if deadline is not None:
                    wait_s = min(deadline - time.monotonic(), IDLE_FLUSH_S)
                batch = await pump.get(wait_s)
                if batch is _END:
                    break
                if isinstance(batch, BaseException):
                    raise batch
                if batch is None:  # the input went quiet (or the oldest record waited enough)
                    async for out in self._flush_all():
                        yield out
                    deadline = None
                    continue
                for message in batch or ():
                    kind = message.get("type")
                    if kind == "record":
                        if deadline is None:
                            deadline = time.monotonic() + self.max_delay_s
                        failed = self._on_record(message["record"])
                        if failed is not None:
                            async for out in failed:
                                yield out
                    elif kind == "source_state":
                        self.fence.hold(message, self.received, self.durable)
                        for out in await self._release():
                            yield out
                for stream in self._full():  # after the whole batch: a page is never split
                    async for out in self._flush(stream):
                        yield out
                if deadline is not None and time.monotonic() >= deadline:
                    async for out in self._flush_all():
                        yield out
                    deadline = None
            async for out in self._flush_all():
                yield out
        except _Stop:
            return
        except _Failed as failure:
            yield failure.message
        finally:
            await pump.close()

    def _on_record(self, record: Mapping[str, Any]) -> AsyncIterator[Message] | None:
        """Buffer a record; what to yield when its stream failed."""
        stream: str = record["stream"]
        if stream in self.failed:
            self.received[stream] += 1
            return None
        buffer = self.buffers.get(stream)
        try:
            if buffer is None:
                buffer = self.buffers[stream] = StreamBuffer(self._layout(stream))
                self.received.setdefault(stream, 0)
            buffer.add(record)
        except (DestinationError, ConfigError) as exc:
            self.received[stream] = self.received.get(stream, 0) + 1
            return self._fail(stream, exc)
        self.received[stream] += 1
        return None

    def _full(self) -> list[str]:
        """Streams whose buffer reached ``batch_size``."""
        size = self.config.batch_size
        return [stream for stream, buffer in self.buffers.items() if len(buffer) >= size]

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
            state = self._saved_state(
                self.fence.covered({**self.durable, stream: target}, self.failed)
            )
            counts = await self.db.write_batch(buffer.layout, batch, state)
        except DestinationError as exc:
            if exc.level == "global":
                yield error_message(exc)
                raise _Stop from exc
            async for out in self._fail(stream, exc):
                yield out
            return
        self.durable[stream] = target
        yield counts.message(stream)
        for out in self.fence.release(self.durable, self.failed):
            yield out

    async def _fail(self, stream: str, exc: Exception) -> AsyncIterator[Message]:
        self.failed.add(stream)
        self.buffers.pop(stream, None)
        yield error_message(exc, stream)
        for out in await self._release():
            yield out

    async def _release(self) -> list[Message]:
        """Release the states no batch is needed for, saved first when the state is ours."""
        if not self.fence.releasable(self.durable, self.failed):
            return []
        state = self._saved_state(self.fence.covered(self.durable, self.failed))
        if state is not None:
            try:
                await self.db.save_state(state)
            except DestinationError as exc:
                raise _Failed(error_message(exc)) from exc
        return self.fence.release(self.durable, self.failed)

    def _saved_state(self, confirmed: list[Message]) -> SavedState | None:
        """The SyncState to save with the commit that makes these states' records durable (None:
        nothing to save, or the engine saves it). They are the fence's ``covered`` states: also
        those a waiting global state still holds back, so a stream's saved state keeps up with
        its committed rows."""
        if self.state_commit is None or not confirmed:
            return None
        state = self.state_commit.state_after([m["source_state"] for m in confirmed])
        return SavedState(self.state_commit.pipeline, orjson.dumps(state).decode())


class _Stop(Exception):
    """A global failure was reported; the write ends."""


class _Failed(Exception):
    """A global failure to report (the message) before the write ends."""

    def __init__(self, message: Message) -> None:
        super().__init__(message["error"]["message"])
        self.message = message


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
