"""The workflows' activities: setup, backfill, live and teardown of one pipeline (or of one
connected account of a platform pipeline), and the listing of a platform pipeline's accounts.

Each reads the pipeline (configs and secrets) from the pipeline store by id and calls the engine;
a request naming an ``account`` runs that account's pipeline (``platform.account_pipeline``) and
keeps its progress, runs and state under ``<pipeline id>/<account>``.
Backfill and live are time-limited ``sync`` calls that keep their state in the destination's
``_sync_state`` store (the pipeline store for destinations without one), so a retry after a crash
(on any worker) resumes where the last confirmed state left off. While a call runs, the activity heartbeats a small progress summary and saves the
latest progress to the store (the API and its SSE stream read it from there); each call is also
recorded as a run; a call that starts while an earlier one of the same pipeline never ended
marks that one ``lost`` (its worker died; Temporal gave up on it and retried). A live call's
figures are its own (``call_progress``), not its run's. Cancellation (pause, delete, worker shutdown) aborts the call gracefully: the
destination flushes, the state is saved, the call ends ``aborted``.

Every Stripe request of an activity waits for a slot of its Stripe account's budget, shared by
all the calls of all workers (``account_budget``): the activity sets the source's request gate for
its own task (Temporal runs each activity in a task of its own; tasks it starts inherit the gate).

Outcomes: global errors that retrying cannot fix are returned (the workflow parks the pipeline);
other global errors, and any unexpected exception (:func:`classified`: a ``system_error`` named by
its type), are recorded as the call's error and raise a retryable ``ApplicationError`` so
Temporal retries with backoff.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError

from stripe_sync.engine import connector_calls
from stripe_sync.engine.pipeline import Pipeline
from stripe_sync.engine.registry import destination_state_store
from stripe_sync.engine.state_store import StateStore
from stripe_sync.engine.sync import sync
from stripe_sync.protocol.errors import SyncError
from stripe_sync.service.account_budget import AccountBudgets
from stripe_sync.service.call_progress import call_figures
from stripe_sync.service.connector_policy import ConnectorPolicy
from stripe_sync.service.platform import max_parallel_accounts, state_name
from stripe_sync.service.store import (
    PipelineNotFound,
    PipelineStore,
    StoredPipeline,
    StoredStateStore,
    new_id,
    utc_timestamp,
)
from stripe_sync.service.workflow_types import (
    BACKFILL,
    LIST_ACCOUNTS,
    LIVE,
    PERMANENT_FAILURES,
    SETUP,
    TEARDOWN,
    AccountListing,
    SyncOutcome,
    SyncRequest,
)
from stripe_sync.sources.stripe.accounts import list_connected_accounts
from stripe_sync.sources.stripe.request_gate import REQUEST_GATE

logger = logging.getLogger(__name__)

HEARTBEAT_EVERY_S = 2.0
PROGRESS_SAVE_EVERY_S = 1.0


@dataclass(frozen=True)
class ActivitySettings:
    """How long each call may run; ``worker`` names this process in run summaries;
    ``connectors``: the exec commands and dotted types this worker may run."""

    backfill_time_limit: float = 300.0
    live_time_limit: float = 60.0
    progress_interval: float = 1.0
    worker: str = f"{socket.gethostname()}:{os.getpid()}"
    connectors: ConnectorPolicy = field(default_factory=ConnectorPolicy)


class RunRecorder:
    """Keeps the latest progress of one call and writes it (throttled) and the run to the store."""

    def __init__(self, store: PipelineStore, request: SyncRequest, mode: str, worker: str) -> None:
        self.store = store
        self.key = state_name(request.pipeline_id, request.account)
        self.run: dict[str, Any] = {
            "id": new_id("run"),
            "mode": mode,
            "worker": worker,
            "attempt": activity.info().attempt,
            "started_at": utc_timestamp(),
            "event_count": 0,
        }
        if request.account is not None:
            self.run["account"] = request.account
        self.catalog: list[str] = []
        self.latest: dict[str, Any] | None = None
        self.call_start: dict[str, Any] | None = None
        self.end: dict[str, Any] | None = None
        self.error: dict[str, Any] | None = None
        self.saved_at = 0.0

    async def begin(self) -> None:
        lost = await self.store.end_lost_runs(self.key, self.run["started_at"])
        if lost:
            logger.info("pipeline %s: calls %s ended lost", self.key, ", ".join(lost))
        await self.store.save_run(self.key, self.run["id"], self.run)

    def figures(self, progress: dict[str, Any]) -> dict[str, Any]:
        """What to show of a progress payload: the run's, or a live call's own."""
        if self.run["mode"] != "live":
            return progress
        if self.call_start is None:
            self.call_start = progress
        return call_figures(progress, self.call_start)

    async def message(self, message: dict[str, Any]) -> None:
        kind = message["type"]
        if kind == "catalog":
            self.catalog = [stream["name"] for stream in message["catalog"]["streams"]]
        elif kind == "progress":
            self.latest = self.figures(message["progress"])
        elif kind == "error" and message["error"]["level"] == "global":
            self.error = {k: message["error"].get(k) for k in ("failure_type", "message", "hint")}
        elif kind == "end":
            end = message["end"]
            self.end = {"reason": end["reason"], "has_more": end["has_more"]}
            scope = "request_progress" if self.run["mode"] == "live" else "run_progress"
            self.latest = end.get(scope) or self.latest
            self.run["sync_run_id"] = end["ending_state"]["engine"].get("sync_run_id")
        if (
            kind in ("progress", "end")
            and time.monotonic() - self.saved_at >= PROGRESS_SAVE_EVERY_S
        ):
            await self.save_progress()

    async def save_progress(self) -> None:
        self.saved_at = time.monotonic()
        document = {
            "mode": self.run["mode"],
            "run_id": self.run["id"],
            "catalog": self.catalog,
            "progress": self.latest,
            "end": self.end,
            "error": self.error,
        }
        await self.store.save_progress(self.key, document)

    def summary(self) -> dict[str, Any]:
        """What a heartbeat carries: counts only."""
        progress = self.latest or {}
        streams = progress.get("streams") or {}
        statuses: dict[str, int] = {}
        for entry in streams.values():
            statuses[entry["status"]] = statuses.get(entry["status"], 0) + 1
        return {"record_count": progress.get("record_count", 0), "streams": statuses}

    def failed_streams(self) -> list[str]:
        streams = (self.latest or {}).get("streams") or {}
        return sorted(name for name, entry in streams.items() if entry.get("status") == "failed")

    async def finish(self, outcome: SyncOutcome) -> None:
        self.run.update(
            ended_at=utc_timestamp(),
            reason=outcome.reason,
            has_more=outcome.has_more,
            record_count=outcome.record_count,
            request_count=(self.latest or {}).get("request_count", 0),
            failed_streams=outcome.failed_streams,
            error=self.error,
        )
        await self.save_progress()
        await self.store.save_run(self.key, self.run["id"], self.run)


class PipelineActivities:
    """The activities, bound to one store and one set of settings (register the methods)."""

    def __init__(self, store: PipelineStore, settings: ActivitySettings | None = None) -> None:
        self.store = store
        self.settings = settings or ActivitySettings()
        self.budgets = AccountBudgets(store)

    def all(self) -> list[Any]:
        return [self.setup, self.list_accounts, self.backfill, self.live, self.teardown]

    async def _stored(self, pipeline_id: str) -> StoredPipeline:
        try:
            return await self.store.get(pipeline_id)
        except PipelineNotFound:
            raise ApplicationError(
                f"pipeline {pipeline_id} is not in the store", type="PipelineNotFound"
            ) from None

    async def _pipeline(self, request: SyncRequest) -> Pipeline:
        pipeline = (await self._stored(request.pipeline_id)).engine_pipeline(request.account)
        self._share_budget(pipeline.source.type, pipeline.source.config)
        return pipeline

    def _share_budget(self, source_type: str, config: dict[str, Any]) -> None:
        """Make this activity's Stripe requests wait for their account's shared budget."""
        budget = self.budgets.gate_for({"type": source_type, "config": config})
        REQUEST_GATE.set(budget.acquire if budget is not None else None)

    async def _refused(self, pipeline_id: str, step: str, exc: SyncError) -> None:
        """Record why ``step`` failed as the pipeline's latest progress; raise when retryable."""
        error = {"failure_type": exc.failure_type, "message": str(exc)}
        document: dict[str, Any] = {"mode": step, "catalog": [], "progress": None, "end": None}
        await self.store.save_progress(pipeline_id, {**document, "error": error})
        if exc.failure_type not in PERMANENT_FAILURES:
            raise ApplicationError(f"{step}: {exc.failure_type}: {exc}") from None

    @activity.defn(name=SETUP)
    async def setup(self, request: SyncRequest) -> SyncOutcome:
        """Validate the configs and set up both connectors (tables, schema)."""
        async with _beating():
            return await self._setup(request)

    async def _setup(self, request: SyncRequest) -> SyncOutcome:
        pipeline = await self._pipeline(request)
        try:
            await self.settings.connectors.prepare(pipeline)
            await connector_calls.setup(pipeline, "source")
            await connector_calls.setup(pipeline, "destination")
        except Exception as raised:
            exc = classified(raised)
            await self._refused(request.pipeline_id, "setup", exc)
            return _failed(exc.failure_type, str(exc))
        return SyncOutcome("complete", has_more=False)

    @activity.defn(name=LIST_ACCOUNTS)
    async def list_accounts(self, request: SyncRequest) -> AccountListing:
        """The connected accounts of a platform pipeline (listed, or its configured list)."""
        stored = await self._stored(request.pipeline_id)
        self._share_budget(stored.spec["source"]["type"], stored.spec["source"]["config"])
        try:
            accounts = await list_connected_accounts(stored.spec["source"]["config"])
        except Exception as raised:
            exc = classified(raised)
            await self._refused(request.pipeline_id, LIST_ACCOUNTS, exc)
            return AccountListing(failure_type=exc.failure_type, message=str(exc))
        return AccountListing(accounts, max_parallel_accounts(stored.spec))

    @activity.defn(name=BACKFILL)
    async def backfill(self, request: SyncRequest) -> SyncOutcome:
        """One backfill call (continues the stored run, or starts a new incremental one)."""
        return await self._sync(request, live=False, time_limit=self.settings.backfill_time_limit)

    @activity.defn(name=LIVE)
    async def live(self, request: SyncRequest) -> SyncOutcome:
        """One live call: changes (and the given webhook events) until the time limit."""
        return await self._sync(request, live=True, time_limit=self.settings.live_time_limit)

    @activity.defn(name=TEARDOWN)
    async def teardown(self, request: SyncRequest) -> SyncOutcome:
        """Remove the pipeline's state and the tables no other pipeline uses, then forget the
        pipeline. An account of a platform pipeline removes its own state only: its parent
        drops the tables."""
        async with _beating():
            return await self._teardown(request)

    async def _teardown(self, request: SyncRequest) -> SyncOutcome:
        if request.account is not None:
            try:
                pipeline = await self._pipeline(request)
                await connector_calls.teardown(pipeline, "destination", keep_tables=True)
            except (ApplicationError, SyncError) as refused:  # its state then keeps the tables
                logger.warning(
                    "pipeline %s: account %s: state kept: %s",
                    request.pipeline_id,
                    request.account,
                    refused,
                )
            await self.store.forget_account(request.pipeline_id, request.account)
            return SyncOutcome("complete", has_more=False)
        try:
            pipeline = await self._pipeline(request)
        except ApplicationError:
            return SyncOutcome("complete", has_more=False)
        try:
            await self.settings.connectors.prepare(pipeline)
            await connector_calls.teardown(pipeline, "destination")
        except Exception as raised:
            exc = classified(raised)
            if exc.failure_type not in PERMANENT_FAILURES:
                raise ApplicationError(f"teardown: {exc.failure_type}: {exc}") from None
            logger.warning("pipeline %s: teardown skipped: %s", request.pipeline_id, exc)
        await self.store.delete(request.pipeline_id)
        return SyncOutcome("complete", has_more=False)

    async def _sync(self, request: SyncRequest, *, live: bool, time_limit: float) -> SyncOutcome:
        pipeline = await self._pipeline(request)
        recorder = RunRecorder(
            self.store, request, "live" if live else "backfill", self.settings.worker
        )
        events = await self.store.events(request.pipeline_id, request.event_ids) if live else []
        recorder.run["event_count"] = len(events)
        await recorder.begin()
        started = time.monotonic()
        try:
            await self.settings.connectors.prepare(pipeline)
            state_store = destination_state_store(pipeline) or StoredStateStore(self.store)
        except Exception as raised:
            exc = classified(raised)
            return await _finish(recorder, _failed(exc.failure_type, str(exc)))
        abort = asyncio.Event()
        calls = sync(
            pipeline,
            sync_run_id=None,
            live=live,
            time_limit=time_limit,
            state_store=state_store,
            input=_events(events) if events else None,
            progress_interval=self.settings.progress_interval,
            abort=abort,
            wait=True,  # a cancelled attempt of this pipeline may still be saving its state
        )
        consumer = asyncio.create_task(_consume(calls, recorder))
        beat = asyncio.create_task(_heartbeat(recorder))
        try:
            try:
                await asyncio.shield(consumer)
                if live:  # a source with nothing to follow returns early: keep the cadence
                    await asyncio.sleep(max(0.0, time_limit - (time.monotonic() - started)))
            except asyncio.CancelledError:
                abort.set()
                await consumer
        except Exception as raised:
            exc = classified(raised)
            return await _finish(recorder, _failed(exc.failure_type, str(exc)))
        finally:
            beat.cancel()
            await _close(state_store)
        outcome = _outcome(recorder)
        if outcome.reason not in ("aborted", "error"):  # delivered; else they are sent again
            await self.store.drop_events(request.pipeline_id, request.event_ids)
        return await _finish(recorder, outcome)


@contextlib.asynccontextmanager
async def _beating() -> AsyncIterator[None]:
    """Heartbeat while a call without progress of its own runs (exec connectors start slowly)."""

    async def beat() -> None:
        while True:
            activity.heartbeat()
            await asyncio.sleep(HEARTBEAT_EVERY_S)

    task = asyncio.create_task(beat())
    try:
        yield
    finally:
        task.cancel()


async def _consume(calls: AsyncGenerator[dict[str, Any], None], recorder: RunRecorder) -> None:
    async with aclosing(calls) as messages:
        async for message in messages:
            await recorder.message(message)


async def _heartbeat(recorder: RunRecorder) -> None:
    while True:
        activity.heartbeat(recorder.summary())
        await asyncio.sleep(HEARTBEAT_EVERY_S)


async def _events(events: list[dict[str, Any]]) -> AsyncIterator[dict[str, Any]]:
    for event in events:
        yield event


async def _close(store: StateStore | None) -> None:
    close = getattr(store, "close", None)
    if close is not None:
        with contextlib.suppress(Exception):
            await close()


def classified(exc: Exception) -> SyncError:
    """``exc`` with a failure type: an unexpected exception is a ``system_error`` (retried)
    named by its type and the first line of its message."""
    if isinstance(exc, SyncError):
        return exc
    lines = str(exc).strip().splitlines()
    return SyncError(f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__)


def _failed(failure_type: str, message: str) -> SyncOutcome:
    return SyncOutcome("error", has_more=True, failure_type=failure_type, message=message)


def _outcome(recorder: RunRecorder) -> SyncOutcome:
    end = recorder.end or {"reason": "error", "has_more": True}
    error = recorder.error or {}
    return SyncOutcome(
        reason=end["reason"],
        has_more=end["has_more"],
        failed_streams=recorder.failed_streams(),
        failure_type=error.get("failure_type") if end["reason"] == "error" else None,
        message=error.get("message") if end["reason"] == "error" else None,
        record_count=int((recorder.latest or {}).get("record_count", 0)),
    )


async def _finish(recorder: RunRecorder, outcome: SyncOutcome) -> SyncOutcome:
    """Record the call; a global error that retrying may fix raises so Temporal retries."""
    if outcome.reason == "error" and recorder.error is None:
        recorder.error = {"failure_type": outcome.failure_type, "message": outcome.message}
    await recorder.finish(outcome)
    logger.info(
        "pipeline %s: %s call ended %s (%d records)",
        recorder.key,
        recorder.run["mode"],
        outcome.reason,
        outcome.record_count,
    )
    if outcome.reason == "error" and not outcome.permanent_error:
        raise ApplicationError(f"{outcome.failure_type}: {outcome.message}")
    return outcome
