"""What the API shows for a pipeline whose workflow ended while the pipeline still exists.

Pipeline workflows never fail by design (errors park them in ``error``), but an operator may
terminate one, or a bug may fail it; its ``status`` query would then replay the last state it had
(``live``, ``paused``) while nothing runs. :func:`ended_status` tells it apart: ``error``, with
why the workflow ended as the reason, until a command (resume, sync, pause) starts it again.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio.api.enums.v1 import EventType
from temporalio.client import (
    WorkflowExecutionStatus,
    WorkflowHandle,
    WorkflowHistoryEventFilterType,
)
from temporalio.service import RPCError

from stripe_sync.service.workflow_types import PipelineStatus

RPC_TIMEOUT = timedelta(seconds=3)
STILL_THERE = (
    WorkflowExecutionStatus.RUNNING,
    WorkflowExecutionStatus.COMPLETED,  # a deleted pipeline's, or one that found its pipeline gone
    WorkflowExecutionStatus.CONTINUED_AS_NEW,
)


async def ended_status(handle: WorkflowHandle[object, object]) -> PipelineStatus | None:
    """``error`` with the reason when the workflow failed, was terminated or timed out; None
    while it runs (or when Temporal does not say)."""
    try:
        described = await handle.describe(rpc_timeout=RPC_TIMEOUT)
    except RPCError:
        return None
    if described.status is None or described.status in STILL_THERE:
        return None
    how = described.status.name.lower().replace("_", " ")
    return PipelineStatus("error", reason=f"system_error: the workflow {how}: {await _why(handle)}")


async def _why(handle: WorkflowHandle[object, object]) -> str:
    try:
        async for event in handle.fetch_history_events(
            event_filter_type=WorkflowHistoryEventFilterType.CLOSE_EVENT, rpc_timeout=RPC_TIMEOUT
        ):
            if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED:
                return event.workflow_execution_failed_event_attributes.failure.message
            if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED:
                return event.workflow_execution_terminated_event_attributes.reason or "no reason"
    except RPCError:
        pass
    return "no reason recorded"
