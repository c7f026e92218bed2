"""Pipeline workflows never fail: a call that fails while pause, delete or `sync_now` cancels it is
simply over, and a call whose retries end anyway parks the pipeline in `error` with the reason.

The workflow runs on the session's real Temporal dev server with stand-in activities (the
activity names of the service), so a failure can be placed exactly where a real one (a
destination whose tables were dropped) lands only by chance.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import timedelta

import pytest
from temporalio import activity
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle
from temporalio.exceptions import ApplicationError
from temporalio.worker import Worker

from stripe_sync.service.workflow_end import ended_status
from stripe_sync.service.workflow_types import (
    BACKFILL,
    LIVE,
    SETUP,
    TEARDOWN,
    PipelineStatus,
    PipelineWorkflowInput,
    SyncOutcome,
    SyncRequest,
)
from stripe_sync.service.workflows import PipelineWorkflow

DROPPED = 'Postgres: relation "dropped._sync_state" does not exist'


class StandIns:
    """The service's activities; ``live`` runs until cancelled and fails while it aborts (or, with
    ``give_up``, fails for good at once)."""

    def __init__(self, give_up: bool = False) -> None:
        self.give_up = give_up
        self.calls: list[str] = []

    def all(self) -> list[Callable[..., object]]:
        @activity.defn(name=SETUP)
        async def setup(request: SyncRequest) -> SyncOutcome:
            self.calls.append(SETUP)
            return SyncOutcome("complete", has_more=False)

        @activity.defn(name=BACKFILL)
        async def backfill(request: SyncRequest) -> SyncOutcome:
            self.calls.append(BACKFILL)
            return SyncOutcome("complete", has_more=False)

        @activity.defn(name=LIVE)
        async def live(request: SyncRequest) -> SyncOutcome:
            self.calls.append(LIVE)
            if self.give_up:
                raise ApplicationError(DROPPED, non_retryable=True)
            try:
                while True:
                    activity.heartbeat()
                    await asyncio.sleep(0.2)
            except asyncio.CancelledError:
                raise ApplicationError(DROPPED) from None  # failing while it aborts

        @activity.defn(name=TEARDOWN)
        async def teardown(request: SyncRequest) -> SyncOutcome:
            self.calls.append(TEARDOWN)
            return SyncOutcome("complete", has_more=False)

        return [setup, backfill, live, teardown]


@pytest.fixture
async def run(temporal_address: str) -> AsyncIterator[Callable[[StandIns], object]]:
    client = await Client.connect(temporal_address)
    workers: list[Worker] = []

    async def start(stand_ins: StandIns) -> WorkflowHandle[PipelineWorkflow, None]:
        queue = f"failures-{uuid.uuid4().hex[:8]}"
        worker = Worker(
            client,
            task_queue=queue,
            workflows=[PipelineWorkflow],
            activities=stand_ins.all(),
            max_heartbeat_throttle_interval=timedelta(seconds=0.5),
            default_heartbeat_throttle_interval=timedelta(seconds=0.5),
        )
        workers.append(worker)
        asyncio.get_running_loop().create_task(worker.run())
        return await client.start_workflow(
            PipelineWorkflow.run,
            PipelineWorkflowInput(f"pl_{uuid.uuid4().hex[:8]}"),
            id=f"pipeline-failures-{uuid.uuid4().hex[:8]}",
            task_queue=queue,
        )

    yield start
    for worker in workers:
        await worker.shutdown()


async def status_of(handle: WorkflowHandle[PipelineWorkflow, None]) -> PipelineStatus:
    status: PipelineStatus = await handle.query(PipelineWorkflow.status)
    return status


async def until(condition: Callable[[], object], what: str, seconds: float = 30) -> None:
    for _ in range(int(seconds / 0.1)):
        result = condition()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"no {what} in {seconds} s")


async def running(handle: WorkflowHandle[PipelineWorkflow, None]) -> bool:
    return (await handle.describe()).status == WorkflowExecutionStatus.RUNNING


async def test_a_call_failing_while_pause_or_sync_now_cancel_it_ends_the_call_only(run):
    stand_ins = StandIns()
    handle = await run(stand_ins)

    async def live_calls(count: int) -> bool:
        return (await status_of(handle)).status == "live" and stand_ins.calls.count(LIVE) >= count

    await until(lambda: live_calls(1), "live call")
    await asyncio.sleep(0.5)  # the call heartbeats: it runs
    await handle.signal(PipelineWorkflow.pause)
    await until(lambda: _status_is(handle, "paused"), "pause")
    await asyncio.sleep(1)
    assert await running(handle)
    assert (await status_of(handle)).reason is None

    await handle.signal(PipelineWorkflow.resume)
    await until(lambda: live_calls(2), "live call after resume")
    await asyncio.sleep(0.5)
    await handle.signal(PipelineWorkflow.sync_now)  # interrupts the live call: it fails aborting
    await until(lambda: stand_ins.calls.count(BACKFILL) >= 2, "the new run")
    await until(lambda: live_calls(3), "live call after the new run")
    assert await running(handle)
    assert await ended_status(handle) is None
    await handle.signal(PipelineWorkflow.delete)
    await handle.result()
    assert stand_ins.calls[-1] == TEARDOWN


async def test_a_call_whose_retries_end_parks_the_pipeline_with_the_reason(run):
    handle = await run(StandIns(give_up=True))
    await until(lambda: _status_is(handle, "error"), "error")
    status = await status_of(handle)
    assert status.reason == f"system_error: {LIVE} failed: {DROPPED}"
    assert await running(handle)


async def test_an_ended_workflow_shows_error_with_why(run):
    handle = await run(StandIns())
    await until(lambda: _status_is(handle, "live"), "live")
    await handle.terminate(reason="an operator stopped it")
    await until(lambda: _not_running(handle), "the end")
    ended = await ended_status(handle)
    assert ended is not None
    assert ended.status == "error"
    assert ended.reason == "system_error: the workflow terminated: an operator stopped it"


async def _status_is(handle: WorkflowHandle[PipelineWorkflow, None], status: str) -> bool:
    return (await status_of(handle)).status == status


async def _not_running(handle: WorkflowHandle[PipelineWorkflow, None]) -> bool:
    return not await running(handle)
