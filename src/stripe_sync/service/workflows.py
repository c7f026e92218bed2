"""The pipeline workflow: one per pipeline, its input the pipeline id.

    setup → backfill (time-limited calls until nothing is left) → live (time-limited calls, forever)
    → teardown on delete

Signals: ``pause``, ``resume``, ``delete``, ``sync_now`` (start a new, incremental run) and
``webhook_event`` (a ``WebhookRef``: the id of a verified Stripe event the API stored for the next
live call). Query: ``status``.
The child of a platform pipeline (``account`` set, started set up by its parent) syncs that one
connected account and reports each change of its status to its parent (signal ``account_status``;
again when asked: ``report_status``); ``deleted`` once it forgot its own state.
All I/O happens in activities, which read configs and secrets from the pipeline store, so no
secret enters the workflow's history.

Error policy: global errors that retrying cannot fix (invalid key, invalid config, a destination
refusing its credentials) come back as an outcome and park the pipeline in ``error`` until a
``resume``; transient failures (and any unexpected exception) raise inside the activity and are
retried by Temporal with backoff; a call cancelled by pause, delete or ``sync_now`` is over however
it ended (it may fail while it aborts); a call whose retries end anyway parks the pipeline in
``error`` with the failure as its reason. The workflow itself never fails;
a failed stream is retried by a new run after a backoff (1 min doubling to 1 h) while the other
streams go live. The history is kept short by continuing as new.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import TypeVar

from temporalio import activity, workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, CancelledError, FailureError

with workflow.unsafe.imports_passed_through():
    from stripe_sync.service.activities import PipelineActivities
    from stripe_sync.service.workflow_types import (
        ACCOUNT_STATUS,
        AccountStatus,
        Carry,
        PipelineStatus,
        PipelineWorkflowInput,
        SyncOutcome,
        SyncRequest,
        WebhookRef,
        workflow_id,
    )

T = TypeVar("T")

ActivityMethod = Callable[[PipelineActivities, SyncRequest], Awaitable[T]]
"""A :class:`PipelineActivities` method: the workflows start activities by reference, so the
argument and result types are checked."""

HEARTBEAT_TIMEOUT = timedelta(seconds=10)
ACTIVITY_TIMEOUT = timedelta(hours=2)
TRANSIENT_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=2),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=5),
    non_retryable_error_types=["PipelineNotFound"],
)
STREAM_RETRY_FIRST = timedelta(minutes=1)
STREAM_RETRY_MAX = timedelta(hours=1)
EVENT_IDS_KEPT = 1000


def stream_retry_delay(failures: int) -> timedelta:
    """The wait before a new run retries failed streams: 1 min, doubling, at most 1 h."""
    return min(STREAM_RETRY_FIRST * 2 ** max(0, failures - 1), STREAM_RETRY_MAX)


def activity_name(method: ActivityMethod[T]) -> str:
    """The name an activity method is registered under (its ``activity.defn(name=...)``)."""
    return activity._Definition.must_from_callable(method).name or method.__name__


async def run_call(
    method: ActivityMethod[T],
    request: SyncRequest,
    interrupted: Callable[[], bool],
    until: datetime | None = None,
) -> T | None:
    """Run one activity; once ``interrupted()`` (or at ``until``) cancel it gracefully.

    Returns None when it was cancelled before it could answer.
    """
    handle = workflow.start_activity_method(
        method,
        request,
        start_to_close_timeout=ACTIVITY_TIMEOUT,
        heartbeat_timeout=HEARTBEAT_TIMEOUT,
        retry_policy=TRANSIENT_RETRY,
        cancellation_type=workflow.ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
    )
    timeout = None if until is None else max(0.001, (until - workflow.now()).total_seconds())
    with contextlib.suppress(TimeoutError):
        await workflow.wait_condition(lambda: handle.done() or interrupted(), timeout=timeout)
    cancelled = not handle.done()
    if cancelled:
        handle.cancel()
    try:
        result: T = await handle
        return result
    except ActivityError as err:
        # cancelled by us: however it ended (a call may fail while it aborts), it is over
        if isinstance(err.cause, CancelledError) or (cancelled and not is_pipeline_gone(err)):
            return None
        raise


def failure_reason(method: ActivityMethod[T], err: ActivityError) -> str:
    """Why a call failed for good (its retry policy gave up): the ``error`` a workflow parks in."""
    cause = err.cause
    message = cause.message if isinstance(cause, FailureError) else str(err)
    return f"system_error: {activity_name(method)} failed: {message}"


def is_pipeline_gone(err: ActivityError) -> bool:
    """The pipeline was deleted from the store behind the workflow's back."""
    return isinstance(err.cause, ApplicationError) and err.cause.type == "PipelineNotFound"


def shown_status(*, deleting: bool, error: str | None, paused: bool, stage: str) -> str:
    """What the ``status`` query answers: deleting, error or paused before the ``stage``."""
    if deleting:
        return "deleting"
    if error:
        return "error"
    return "paused" if paused else stage


def history_is_long(limit: int) -> bool:
    info = workflow.info()
    return info.is_continue_as_new_suggested() or info.get_current_history_length() > limit


@workflow.defn
class PipelineWorkflow:
    def __init__(self) -> None:
        self.pipeline_id = ""
        self.history_limit = 0
        self.carry = Carry()
        self.deleting = False
        self.sync_requested = False
        self.account: str | None = None
        self.reported: tuple[str, str | None] | None = None

    @workflow.run
    async def run(self, input: PipelineWorkflowInput) -> None:
        self.pipeline_id = input.pipeline_id
        self.history_limit = input.history_limit
        self.carry = input.carry or Carry()
        self.account = input.account
        try:
            while not self.deleting:
                await self.report(self.status())
                if history_is_long(self.history_limit):
                    workflow.continue_as_new(
                        PipelineWorkflowInput(
                            self.pipeline_id, self.carry, self.history_limit, self.account
                        )
                    )
                if self.parked:
                    await workflow.wait_condition(lambda: self.deleting or not self.parked)
                elif not self.carry.set_up:
                    await self.setup()
                elif self.carry.backfill_pending or self.take_sync_request():
                    await self.backfill()
                else:
                    await self.live()
            await self.run_activity(PipelineActivities.teardown, interruptible=False)
            await self.report(PipelineStatus("deleted"))
        except ActivityError as err:
            if is_pipeline_gone(err):
                return  # nothing left to run
            raise

    # -- steps -----------------------------------------------------------------------------

    async def setup(self) -> None:
        outcome = await self.run_activity(PipelineActivities.setup)
        if outcome is not None and not self.park_on_error(outcome):
            self.carry.set_up = True

    async def backfill(self) -> None:
        self.carry.backfill_pending = True
        outcome = await self.run_activity(PipelineActivities.backfill)
        if outcome is None or self.park_on_error(outcome) or outcome.has_more:
            return
        self.carry.backfill_pending = False
        if outcome.failed_streams:
            self.carry.stream_failures += 1
            retry_at = workflow.now() + stream_retry_delay(self.carry.stream_failures)
            self.carry.stream_retry_at = retry_at.isoformat()
        else:
            self.carry.stream_failures = 0
            self.carry.stream_retry_at = None

    async def live(self) -> None:
        event_ids, self.carry.event_ids = self.carry.event_ids, []
        retry_at = self.carry.stream_retry_at
        outcome = await self.run_activity(
            PipelineActivities.live,
            event_ids=event_ids,
            until=datetime.fromisoformat(retry_at) if retry_at else None,
        )
        if outcome is None or outcome.reason == "aborted":
            self.carry.event_ids = event_ids + self.carry.event_ids  # upserts are idempotent
        if outcome is not None and not self.park_on_error(outcome) and outcome.has_more:
            self.carry.backfill_pending = True  # a stream was reset and must be backfilled again

    def take_sync_request(self) -> bool:
        """True when a new run is due: asked for (``sync_now``) or failed streams to retry."""
        retry_at = self.carry.stream_retry_at
        due = retry_at is not None and workflow.now() >= datetime.fromisoformat(retry_at)
        requested, self.sync_requested = self.sync_requested, False
        return requested or due

    def park_on_error(self, outcome: SyncOutcome) -> bool:
        if outcome.permanent_error:
            self.carry.error = f"{outcome.failure_type}: {outcome.message}"
        return outcome.permanent_error

    async def run_activity(
        self,
        method: ActivityMethod[SyncOutcome],
        *,
        event_ids: list[str] | None = None,
        until: datetime | None = None,
        interruptible: bool = True,
    ) -> SyncOutcome | None:
        """Run one activity; pause, delete, ``sync_now`` (or ``until``) cancel it gracefully."""

        def interrupted() -> bool:
            if not interruptible:
                return False
            live = method is PipelineActivities.live
            return self.deleting or self.carry.paused or (live and self.sync_requested)

        request = SyncRequest(self.pipeline_id, event_ids or [], self.account)
        try:
            return await run_call(method, request, interrupted, until)
        except ActivityError as err:
            if is_pipeline_gone(err):
                raise
            self.carry.error = failure_reason(method, err)  # parked, never failed
            return None

    async def report(self, status: PipelineStatus) -> None:
        """Tell the platform pipeline (of a child) when this account's status changed."""
        if self.account is None or (status.status, status.reason) == self.reported:
            return
        self.reported = (status.status, status.reason)
        parent = workflow.get_external_workflow_handle(workflow_id(self.pipeline_id))
        # by name: PlatformWorkflow imports this module, so it cannot be referenced from here
        with contextlib.suppress(FailureError):  # the platform pipeline is gone
            await parent.signal(
                ACCOUNT_STATUS, AccountStatus(self.account, status.status, status.reason)
            )

    # -- state -----------------------------------------------------------------------------

    @property
    def parked(self) -> bool:
        return self.carry.paused or self.carry.error is not None

    # -- signals and query -----------------------------------------------------------------

    @workflow.signal
    def pause(self) -> None:
        self.carry.paused = True

    @workflow.signal
    def resume(self) -> None:
        self.carry.paused = False
        self.carry.error = None

    @workflow.signal
    def delete(self) -> None:
        self.deleting = True

    @workflow.signal
    def sync_now(self) -> None:
        self.sync_requested = True

    @workflow.signal
    async def report_status(self) -> None:
        self.reported = None
        await self.report(self.status())

    @workflow.signal
    def webhook_event(self, ref: WebhookRef) -> None:
        if ref.event_id in self.carry.seen_event_ids:
            return
        self.carry.seen_event_ids = [*self.carry.seen_event_ids, ref.event_id][-EVENT_IDS_KEPT:]
        self.carry.event_ids.append(ref.event_id)

    @workflow.query
    def status(self) -> PipelineStatus:
        carry = self.carry
        stage = "backfilling" if carry.backfill_pending else "live"
        status = shown_status(
            deleting=self.deleting,
            error=carry.error,
            paused=carry.paused,
            stage=stage if carry.set_up else "setup",
        )
        return PipelineStatus(
            status=status,
            reason=carry.error,
            backfill_complete=carry.set_up and not carry.backfill_pending,
            stream_failures=carry.stream_failures,
            stream_retry_at=carry.stream_retry_at,
            pending_events=len(carry.event_ids),
        )
