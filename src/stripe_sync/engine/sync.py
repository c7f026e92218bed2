"""``sync``: run a pipeline's source into its destination as one call of a sync run.

One call = optional backfill phase + optional live phase. In each phase a source task forwards
records and states to the destination through a bounded queue (back-pressure) while a destination
task consumes what the destination confirms. Confirmed states advance the SyncState and are saved;
terminal statuses wait behind the confirmation watermark until every earlier state is confirmed.
Everything the client sees goes through one output queue: ``catalog`` first, ``progress``, ``log``,
confirmed ``source_state``, and exactly one ``end``, whatever fails: an unexpected exception in the
engine itself ends the call with an engine ``system_error`` (``end.error.internal``). The output queue
is bounded: while the client has not taken ``OUTPUT_LIMIT`` messages, the source is not read on.
Connector output is checked at the boundary (:mod:`stripe_sync.protocol.boundary`).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import traceback
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from contextlib import aclosing
from datetime import UTC, datetime
from typing import Any

from stripe_sync.engine.catalog_selection import configure_catalog, select_streams
from stripe_sync.engine.pipeline import Pipeline, parse_pipeline
from stripe_sync.engine.progress import ProgressTracker
from stripe_sync.engine.registry import checked_config, load_connector, secret_fields
from stripe_sync.engine.run_lease import run_lease
from stripe_sync.engine.state_commit import StateCommit, destination_saves_state
from stripe_sync.engine.state_store import StateStore
from stripe_sync.engine.sync_run import SyncRun, stream_key
from stripe_sync.protocol.batching import Batch, MessageQueue, destination_writes, source_batches
from stripe_sync.protocol.boundary import (
    check_catalog,
    check_destination_message,
    check_source_message,
)
from stripe_sync.protocol.connector import Message, call_setup
from stripe_sync.protocol.errors import ConfigError, SyncError
from stripe_sync.protocol.state import coerce_sync_state

Clock = Callable[[], datetime]
QUEUE_SIZE = 1000  # messages (records and states) between the source and the destination
OUTPUT_LIMIT = 1000  # messages for the client not yet taken before the source waits
TERMINAL = ("complete", "skipped", "failed")
STOPPING = ("error", "state_limit", "aborted")
_DONE: Message = {"type": "_done"}
_NO_STREAM = object()


def utc_now() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def hard_deadline(time_limit: float) -> float:
    """Seconds after which a call ends even if something is blocked."""
    return time_limit + max(5.0, 0.1 * time_limit)


class StopReason:
    """Why a call stops early; the worst reason set wins (an error over an abort over a limit)."""

    RANK = {"error": 3, "aborted": 2, "time_limit": 1, "state_limit": 1}

    def __init__(self) -> None:
        self.value: str | None = None

    def set(self, reason: str) -> None:
        if self.value is None or self.RANK[reason] > self.RANK[self.value]:
            self.value = reason


def error_rank(error: dict[str, Any]) -> int:
    """How bad a global error is for the caller: a config error, then an internal one, then others
    (the order of the CLI's exit codes 2, 1, 5)."""
    if error.get("failure_type") == "config_error":
        return 3
    return 2 if error.get("internal") else 1


class Session:
    """The state of one ``sync`` call (see the module docstring)."""

    def __init__(
        self,
        pipeline: Pipeline,
        *,
        source: Any,
        destination: Any,
        source_config: dict[str, Any],
        destination_config: dict[str, Any],
        run: SyncRun,
        streams: list[dict[str, Any]],
        live: bool,
        time_limit: float | None,
        state_limit: int | None,
        state_store: StateStore | None,
        input: AsyncIterator[dict[str, Any]] | None,
        clock: Clock,
        progress_interval: float,
        abort: asyncio.Event,
    ) -> None:
        self.pipeline = pipeline
        self.source = source
        self.destination = destination
        self.source_config = source_config
        self.destination_config = destination_config
        self.run = run
        self.streams = streams
        self.live = live
        self.time_limit = time_limit
        self.state_limit = state_limit
        self.state_store = state_store
        self.input = input
        self.clock = clock
        self.progress_interval = progress_interval
        self.abort = abort
        self.state_commit = (
            StateCommit(pipeline.name, self.state_after)
            if destination_saves_state(destination, destination_config, state_store)
            else None
        )
        self.out: asyncio.Queue[Message] = asyncio.Queue()
        self.reader_caught_up = asyncio.Event()
        self.stop = StopReason()
        self.stop_error: dict[str, Any] | None = None
        self.failure: BaseException | None = None  # set when the call failed before it started
        self.catalog_sent = False
        self.started = time.monotonic()
        self.last_progress = 0.0
        self.confirmed_count = 0
        self.source_label = f"source/{pipeline.source.type}"
        self.destination_label = f"destination/{pipeline.destination.type}"
        self.tracker = ProgressTracker(
            run_started_at=run.started_at,
            request_started_at=iso(clock()),
            stream_keys=run.progress_keys(),
            run_base=run.engine.get("run_progress"),
            lifetime_base=run.engine.get("lifetime"),
            stream_history=run.engine["streams"],
            terminal=run.terminal,
            labels={"pipeline": pipeline.name, "sync_run_id": run.engine["sync_run_id"]},
        )

    # -- output ----------------------------------------------------------------------------

    def emit(self, kind: str, payload: Any, by: str = "engine") -> None:
        self.out.put_nowait(
            {"type": kind, kind: payload, "_emitted_by": by, "_ts": iso(self.clock())}
        )

    def log(self, level: str, message: str) -> None:
        self.emit("log", {"level": level, "message": message})

    def progress(self) -> None:
        self.last_progress = time.monotonic()
        self.emit("progress", self.tracker.snapshot("run"))

    def maybe_progress(self) -> None:
        if time.monotonic() - self.last_progress >= self.progress_interval:
            self.progress()

    async def wait_for_reader(self) -> None:
        """Back-pressure from the client: wait while ``OUTPUT_LIMIT`` messages are not taken."""
        while self.out.qsize() >= OUTPUT_LIMIT:
            self.reader_caught_up.clear()
            await self.reader_caught_up.wait()

    def taken(self) -> None:
        """The client took a message (called by ``sync``'s loop)."""
        if self.out.qsize() < OUTPUT_LIMIT // 2:
            self.reader_caught_up.set()

    def _stopped_by(self, payload: dict[str, Any], by: str) -> None:
        """A global error stops the call; the worst one is the ``end``'s ``error``."""
        self.stop.set("error")
        if self.stop_error is None or error_rank(payload) > error_rank(self.stop_error):
            self.stop_error = {**payload, "emitted_by": by}

    def error(self, payload: dict[str, Any], by: str) -> None:
        key = (
            stream_key(payload["stream"], payload.get("account")) if payload.get("stream") else None
        )
        self.tracker.error(payload, key)
        if payload["level"] == "global":
            self.log("error", f"global error: {payload['message']}")
            self._stopped_by(payload, by)
        elif payload["level"] in ("stream", "account"):
            subject = key or payload.get("account")
            self.log("error", f"{payload['level']} error: {subject}: {payload['message']}")
        self.emit("error", payload, by)
        self.progress()

    def crash(self, exc: BaseException, by: str, *, internal: bool = False) -> None:
        """An exception ends the call with a global error: a connector's (``by`` names it) or,
        ``internal``, the engine's own unexpected one (a bug)."""
        message = str(exc) or type(exc).__name__
        if internal:
            message = f"internal error: {type(exc).__name__}: {message}"
            self.log("error", f"engine failed: {message}")
        else:
            self.log("error", f"connector crashed: {message}")
        failure_type = exc.failure_type if isinstance(exc, SyncError) else "system_error"
        payload: dict[str, Any] = {
            "level": "global",
            "failure_type": failure_type,
            "message": message,
        }
        if not isinstance(exc, SyncError):
            payload["stack_trace"] = "".join(traceback.format_exception(exc))[-4000:]
        if internal:
            payload["internal"] = True
        self.tracker.error(payload, None)
        self.emit("error", payload, by)
        self._stopped_by(payload, by)
        self.progress()

    # -- the run ---------------------------------------------------------------------------

    async def drive(self) -> None:
        """Run the phases of this call, then emit ``end`` and close the output, whatever fails."""
        try:
            await self._run()
        except Exception as exc:  # a bug in the engine: the call still ends, with an error
            if not self.catalog_sent:
                self.emit("catalog", {"streams": []})
            self.crash(exc, "engine", internal=not isinstance(exc, SyncError))
        try:
            await self._finish()
        except Exception as exc:
            self.crash(exc, "engine", internal=True)
            self.emit("end", self._end_payload("error"))
        finally:
            self.out.put_nowait(_DONE)

    async def _run(self) -> None:
        shown: dict[str, Any] = {"streams": self._display_catalog()}
        if self.run.per_account:
            shown["per_account"] = True
        self.emit("catalog", shown)
        self.catalog_sent = True
        self.progress()
        if self.failure is not None:
            self.crash(self.failure, self.source_label)
            return
        for connector, config, label in (
            (self.source, self.source_config, self.source_label),
            (self.destination, self.destination_config, self.destination_label),
        ):
            try:
                await call_setup(connector, config, {"streams": self.streams})
            except Exception as exc:  # the connector's own failure, not the engine's
                self.crash(exc, label)
                return
        if self.stop.value is None:
            deadline = self.started + self.time_limit if self.time_limit is not None else None
            if self.run.has_more:
                catalog = configure_catalog(
                    self.streams, self.run, backfill_limit=self.pipeline.backfill_limit
                )
                await self._phase(catalog, deadline)
            if self.live and self.stop.value is None and not self.run.has_more:
                self.run.engine["mode"] = "live"
                catalog = configure_catalog(self.streams, self.run, live=True)
                await self._phase(catalog, deadline)

    def _display_catalog(self) -> list[dict[str, Any]]:
        shown = []
        for stream in self.streams:
            entry = {k: stream.get(k) for k in ("name", "primary_key", "supports_time_range")}
            if stream.get("supports_time_range"):
                entry["time_range"] = self.run.time_range(stream["name"])
            shown.append(entry)
        return shown

    async def _phase(self, catalog: dict[str, Any], deadline: float | None) -> None:
        phase = Phase(self, catalog)
        await phase.run(deadline)
        read_whole = phase.read_to_end and self.stop.value not in STOPPING
        if self.run.per_account and read_whole and not catalog.get("live"):
            self.run.accounts_listed()

    async def _finish(self) -> None:
        reason = self.stop.value
        if reason is None:
            reason = "time_limit" if self.live else "complete"
        elif reason == "time_limit" and not self.live and not self.run.has_more:
            reason = "complete"
        self.progress()
        end = self._end_payload(reason)
        if self.state_store is not None:
            try:
                await self.state_store.save(self.pipeline.name, self.run.state)
            except Exception as exc:  # the store is the destination's database
                self.crash(exc, "engine")
                end = self._end_payload("error")
        self.emit("end", end)

    def _end_payload(self, reason: str) -> dict[str, Any]:
        """The ``end`` payload; ``failed_streams`` and ``error`` are this engine's additions."""
        request_progress = self.tracker.snapshot("request")
        run_progress = self.tracker.snapshot("run")
        self.run.save_progress(run_progress, request_progress["lifetime"])
        end: dict[str, Any] = {
            "reason": reason,
            "has_more": self.run.has_more or self.failure is not None,  # nothing was done
            "ending_state": self.run.state,
            "request_progress": request_progress,
            "run_progress": run_progress,
            "failed_streams": sorted(
                key for key, status in self.run.terminal.items() if status == "failed"
            ),
        }
        if reason == "error" and self.stop_error is not None:
            end["error"] = self.stop_error
        return end

    def state_after(self, confirmed: list[dict[str, Any]]) -> dict[str, Any]:
        """The SyncState a destination saves with a batch: this call's state with ``confirmed``
        applied, the states whose records the batch makes durable (no more of them than the
        state limit lets this call confirm)."""
        if self.state_limit is not None:
            confirmed = confirmed[: max(0, self.state_limit - self.confirmed_count)]
        run_progress = self.tracker.snapshot("run")
        self.run.save_progress(run_progress, run_progress["lifetime"])
        return self.run.state_with(confirmed)

    async def save_state(self) -> None:
        run_progress = self.tracker.snapshot("run")
        self.run.save_progress(run_progress, run_progress["lifetime"])
        if self.state_store is not None:
            await self.state_store.save(self.pipeline.name, self.run.state)


class Phase:
    """One source → destination pass with the confirmation watermark, limits and cancellation."""

    def __init__(self, session: Session, catalog: dict[str, Any]) -> None:
        self.s = session
        self.catalog = catalog
        self.configured = {stream["name"] for stream in catalog["streams"]}
        self.to_destination = MessageQueue(QUEUE_SIZE)  # batches, then None
        self.forwarded: deque[tuple[int, dict[str, Any]]] = deque()
        self.sequence = 0
        self.watermark = 0
        self.pending_terminal: list[tuple[int, str, dict[str, Any]]] = []
        self.started: set[str] = set()
        self.finished: set[str] = set()
        self.failed_in_destination: set[str] = set()
        self.unknown_warned: set[str] = set()
        self.soft_stop = False
        self.read_to_end = False  # the source's read ended by itself

    async def run(self, deadline: float | None) -> None:
        source_task = asyncio.create_task(self._pump_source())
        destination_task = asyncio.create_task(self._pump_destination(source_task))
        watchers = [asyncio.create_task(self._watch_abort(source_task))]
        if deadline is not None:
            watchers.append(
                asyncio.create_task(self._watch_time(source_task, destination_task, deadline))
            )
        try:
            await asyncio.gather(source_task, destination_task, return_exceptions=True)
        finally:
            for task in (source_task, destination_task, *watchers):
                task.cancel()
            await asyncio.gather(source_task, destination_task, *watchers, return_exceptions=True)

    async def _watch_abort(self, source_task: asyncio.Task[None]) -> None:
        await self.s.abort.wait()
        self.s.stop.set("aborted")
        source_task.cancel()

    async def _watch_time(
        self,
        source_task: asyncio.Task[None],
        destination_task: asyncio.Task[None],
        deadline: float,
    ) -> None:
        """Soft stop at the next state boundary when time is up; cancel all at the hard deadline."""
        s = self.s
        assert s.time_limit is not None
        await asyncio.sleep(max(0.0, deadline - time.monotonic()))
        self.soft_stop = True
        s.stop.set("time_limit")
        if s.run.engine.get("mode") == "live":
            source_task.cancel()
        await asyncio.sleep(hard_deadline(s.time_limit) - s.time_limit)
        s.log("warn", "time limit: hard deadline reached, stopping")
        source_task.cancel()
        destination_task.cancel()

    # -- source side -----------------------------------------------------------------------

    async def _pump_source(self) -> None:
        s = self.s
        try:
            reader = source_batches(
                s.source,
                s.source_config,
                self.catalog,
                s.run.state["source"],
                s.input if s.live else None,
            )
            async with aclosing(reader):
                async for batch in reader:
                    if not await self._from_source(batch):
                        break
                    s.maybe_progress()
                    await s.wait_for_reader()
                else:
                    self.read_to_end = True
                    self._check_ended()
        except asyncio.CancelledError:
            pass
        except Exception as exc:
            s.crash(exc, s.source_label)
        finally:
            await self._close_destination_input()

    async def _close_destination_input(self) -> None:
        try:
            self.to_destination.put_nowait(None)
        except asyncio.QueueFull:
            with contextlib.suppress(asyncio.CancelledError):
                await self.to_destination.put(None)

    async def _from_source(self, batch: Batch) -> bool:
        """Handle one batch from the source; False when reading should stop.

        Records and states go on to the destination together, in order, as one batch; the other
        messages are the engine's. Records are counted per run of one stream (a page, usually).
        """
        s = self.s
        label = s.source_label
        forward: Batch = []
        reading = True
        stream: Any = _NO_STREAM
        account: Any = None
        key: str | None = None
        count = 0
        for message in batch:
            if s.stop.value in STOPPING:
                reading = False
                break
            kind = message.get("type") if type(message) is dict else None
            if kind == "record":
                record: Any = message.get("record")
                # the record's envelope, checked inline: the full check only to name a fault
                if type(record) is not dict or type(record.get("data")) is not dict:
                    check_source_message(message, label)
                if record.get("stream") != stream or record.get("account") != account:
                    check_source_message(message, label)
                    if count and key is not None:
                        s.tracker.records(key, count)
                    count = 0
                    stream, account = record["stream"], record.get("account")
                    key = self._known(stream, account)
                if key is None or key in self.failed_in_destination:
                    continue
                count += 1
                forward.append(message)
                continue
            kind = check_source_message(message, label)
            if count and key is not None:
                s.tracker.records(key, count)
            count = 0
            if kind == "source_state":
                if self._source_state(message):
                    forward.append(message)
                if self.soft_stop:
                    reading = False
                    break
            else:
                self._other(kind, message)
        if count and key is not None:
            s.tracker.records(key, count)
        if forward:
            await self.to_destination.put(forward)
        return reading

    def _check_ended(self) -> None:
        """A backfill read that ended by itself gave every stream it worked on a terminal status;
        one that did not stopped early: an error, not a silent ``has_more``."""
        s = self.s
        if self.catalog.get("live") or s.stop.value in STOPPING:
            return
        expected = self.started if s.run.per_account else self.configured
        missing = sorted(expected - self.finished - self.failed_in_destination)
        if missing:
            shown = ", ".join(missing[:10]) + (
                f" and {len(missing) - 10} more" if len(missing) > 10 else ""
            )
            message = f"the source stopped without a terminal status for {shown}"
            payload = {"level": "global", "failure_type": "system_error", "message": message}
            s.error(payload, "engine")

    def _other(self, kind: Any, message: Message) -> None:
        """A source message the engine handles itself (everything but records and states)."""
        s = self.s
        if kind == "stream_status":
            self._stream_status(message["stream_status"])
        elif kind == "source_stats":
            stats = message["source_stats"]
            key = stream_key(stats["stream"], stats.get("account")) if stats.get("stream") else None
            s.tracker.source_stats(stats, key)
        elif kind == "error":
            s.error(message["error"], s.source_label)
        elif kind == "log":
            s.emit("log", message["log"], s.source_label)
        elif kind == "control":
            secrets = secret_fields(s.source.spec())
            config = {
                k: ("***" if k in secrets else v) for k, v in message["control"]["config"].items()
            }
            s.emit("control", {"config": config}, s.source_label)

    def _known(self, stream: str, account: str | None) -> str | None:
        if stream not in self.configured:
            if stream not in self.unknown_warned:
                self.unknown_warned.add(stream)
                self.s.log("warn", f"unknown stream from source: {stream}")
            return None
        return stream_key(stream, account)

    def _source_state(self, message: Message) -> bool:
        """Number a state for the confirmation watermark; False when it is not for the destination."""
        payload = message["source_state"]
        if payload.get("state_type", "stream") == "stream":
            key = self._known(payload["stream"], payload.get("account"))
            if key is None or key in self.failed_in_destination:
                return False
            if key not in self.started and not self.s.live:
                self.s.log("warn", f"state before started: {key}")
            if key in self.finished:
                self.s.log("warn", f"state after terminal status: {key}")
        self.sequence += 1
        self.forwarded.append((self.sequence, payload))
        return True

    def _stream_status(self, payload: dict[str, Any]) -> None:
        s = self.s
        key = self._known(payload["stream"], payload.get("account"))
        if key is None:
            return
        status = payload["status"]
        if status == "started":
            if key in self.started:
                s.log("warn", f"duplicate started: {key}")
            self.started.add(key)
            if s.run.per_account and payload.get("account"):
                s.run.account_stream_started(key)
            s.tracker.stream_status(key, payload)
            s.progress()
        elif status == "range_complete":
            s.run.complete_range(key, payload["range"])
            s.tracker.stream_status(key, payload)
        elif status == "reset":
            s.run.reset_stream(key, iso(s.clock()))
            s.tracker.stream_status(key, payload)
            s.log("warn", f"stream reset: {key}: {payload.get('reason')}")
        elif status in TERMINAL:
            self.finished.add(key)
            self.pending_terminal.append((self.sequence, key, payload))
            self._apply_confirmed_terminals()

    def _apply_confirmed_terminals(self) -> None:
        s = self.s
        ready = [entry for entry in self.pending_terminal if entry[0] <= self.watermark]
        if not ready:
            return
        self.pending_terminal = [e for e in self.pending_terminal if e[0] > self.watermark]
        for _, key, payload in ready:
            if key in self.failed_in_destination:
                continue
            s.run.finish_stream(key, payload["status"])
            s.tracker.terminal(key, payload["status"], payload.get("reason"))
        s.progress()

    # -- destination side ------------------------------------------------------------------

    async def _destination_input(self) -> AsyncIterator[Batch]:
        while (batch := await self.to_destination.get()) is not None:
            yield batch

    async def _pump_destination(self, source_task: asyncio.Task[None]) -> None:
        s = self.s
        try:
            options = {"state_commit": s.state_commit} if s.state_commit else {}
            writer = destination_writes(
                s.destination,
                s.destination_config,
                self.catalog,
                self._destination_input(),
                **options,
            )
            async with aclosing(writer):
                async for message in writer:
                    if self._from_destination(message) or s.stop.value == "state_limit":
                        break
                    if message.get("type") == "source_state" and s.state_commit is None:
                        await s.save_state()  # else the destination saved it with the data
                    s.maybe_progress()
        except Exception as exc:
            s.crash(exc, s.destination_label)
        finally:
            if not source_task.done():
                source_task.cancel()
            self._drain()
        self._apply_confirmed_terminals()

    def _drain(self) -> None:
        """Empty the queue so a source blocked on a full queue can see its cancellation."""
        while not self.to_destination.empty():
            self.to_destination.get_nowait()

    def _from_destination(self, message: Message) -> bool:
        """Handle one destination message; True when the destination failed as a whole."""
        s = self.s
        kind = check_destination_message(message, s.destination_label)
        if kind == "source_state":
            self._confirmed(message["source_state"])
        elif kind == "write_stats":
            s.tracker.write_stats(message["write_stats"])
        elif kind == "error":
            payload = message["error"]
            if payload["level"] == "stream" and payload.get("stream"):
                key = stream_key(payload["stream"], payload.get("account"))
                self.failed_in_destination.add(key)
                s.run.finish_stream(key, "failed")
                s.tracker.terminal(key, "failed", payload["message"])
            s.error(payload, s.destination_label)
            return bool(payload["level"] == "global")
        elif kind == "log":
            s.emit("log", message["log"], s.destination_label)
        return False

    def _confirmed(self, payload: dict[str, Any]) -> None:
        s = self.s
        while self.forwarded:
            sequence, forwarded = self.forwarded.popleft()
            if forwarded == payload:
                self.watermark = sequence
                break
        else:
            s.log("warn", "destination confirmed a state that was not sent to it")
            return
        if s.state_limit is not None and s.confirmed_count >= s.state_limit:
            return
        s.run.confirm_state(payload)
        key = (
            stream_key(payload["stream"], payload.get("account")) if payload.get("stream") else None
        )
        s.tracker.state(key)
        s.confirmed_count += 1
        s.emit("source_state", payload, s.destination_label)
        self._apply_confirmed_terminals()
        if s.state_limit is not None and s.confirmed_count >= s.state_limit:
            s.stop.set("state_limit")


async def sync(
    pipeline: Pipeline | dict[str, Any] | str,
    state: dict[str, Any] | None = None,
    *,
    sync_run_id: str | None = None,
    fresh: bool = False,
    live: bool = False,
    time_limit: float | None = None,
    state_limit: int | None = None,
    state_store: StateStore | None = None,
    input: AsyncIterator[dict[str, Any]] | None = None,
    clock: Clock | None = None,
    progress_interval: float = 1.0,
    abort: asyncio.Event | None = None,
    wait: bool = False,
) -> AsyncGenerator[Message, None]:
    """Run one call of a sync run and yield its output (see protocol.md, "Engine → client").

    Bad input (pipeline, connector type, config, stream names, state) raises ConfigError before
    anything is read or written. ``state`` defaults to what ``state_store`` holds. Setting
    ``abort`` (or closing this iterator) stops the source, flushes and ends ``aborted``.
    A store with leases (the database destinations') runs one call per pipeline at a time: a
    second one raises ``PipelineBusy`` at once, or with ``wait`` waits for the first to end.
    """
    parsed = parse_pipeline(pipeline)
    async with run_lease(state_store, parsed.name, wait=wait):
        call = _call(
            parsed,
            state,
            sync_run_id=sync_run_id,
            fresh=fresh,
            live=live,
            time_limit=time_limit,
            state_limit=state_limit,
            state_store=state_store,
            input=input,
            clock=clock,
            progress_interval=progress_interval,
            abort=abort,
        )
        async with aclosing(call):
            async for message in call:
                yield message


async def _call(
    parsed: Pipeline,
    state: dict[str, Any] | None,
    *,
    sync_run_id: str | None,
    fresh: bool,
    live: bool,
    time_limit: float | None,
    state_limit: int | None,
    state_store: StateStore | None,
    input: AsyncIterator[dict[str, Any]] | None,
    clock: Clock | None,
    progress_interval: float,
    abort: asyncio.Event | None,
) -> AsyncGenerator[Message, None]:
    """``sync`` once the pipeline is parsed and its lease held."""
    clock = clock or utc_now
    source = load_connector("source", parsed.source)
    destination = load_connector("destination", parsed.destination)
    source_config = await checked_config(source, parsed.source.config, "source")
    destination_config = await checked_config(destination, parsed.destination.config, "destination")
    if state is None and state_store is not None:
        state = await state_store.load(parsed.name)
    coerced = coerce_sync_state(state)
    failure: Exception | None = None
    try:
        discovered = check_catalog(
            await source.discover(source_config), f"source/{parsed.source.type}"
        )
        streams = select_streams(discovered, parsed.streams)
    except ConfigError:
        raise
    except Exception as exc:  # the call ends with this error (after its catalog, as every call)
        failure, discovered, streams = exc, {}, []
    run = SyncRun.begin(
        coerced,
        pipeline=parsed.name,
        selected=[stream["name"] for stream in streams],
        now=iso(clock()),
        sync_run_id=sync_run_id,
        fresh=fresh,
        live=live,
        per_account=bool(discovered.get("per_account")),
    )
    abort = abort or asyncio.Event()
    session = Session(
        parsed,
        source=source,
        destination=destination,
        source_config=source_config,
        destination_config=destination_config,
        run=run,
        streams=streams,
        live=live,
        time_limit=time_limit,
        state_limit=state_limit,
        state_store=state_store,
        input=input,
        clock=clock,
        progress_interval=progress_interval,
        abort=abort,
    )
    session.failure = failure
    driver = asyncio.create_task(session.drive())
    try:
        while (message := await session.out.get()) is not _DONE:
            session.taken()
            yield message
    finally:
        if not driver.done():
            abort.set()
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(asyncio.shield(driver), timeout=30)
        if not driver.done():
            driver.cancel()
        await asyncio.gather(driver, return_exceptions=True)


async def sync_until_complete(
    pipeline: Pipeline | dict[str, Any] | str,
    state: dict[str, Any] | None = None,
    *,
    max_attempts: int = 10,
    **options: Any,
) -> AsyncIterator[Message]:
    """Call ``sync`` with the previous ``ending_state`` until nothing is left to do.

    Stops when ``has_more`` is false, on ``error`` or ``aborted``, after ``max_attempts`` calls,
    or when a call made no progress (no confirmed state and no newly terminal stream).
    """
    for _ in range(max_attempts):
        end: dict[str, Any] | None = None
        confirmed = 0
        async for message in sync(pipeline, state, **options):
            if message["type"] == "source_state":
                confirmed += 1
            elif message["type"] == "end":
                end = message["end"]
            yield message
        if end is None:
            return
        before = len(((state or {}).get("engine") or {}).get("terminal_streams") or {})
        state = end["ending_state"]
        after = len(state["engine"].get("terminal_streams") or {})
        if not end["has_more"] or end["reason"] in ("error", "aborted"):
            return
        if confirmed == 0 and after <= before:
            return
        options.pop("sync_run_id", None)
        options.pop("fresh", None)
