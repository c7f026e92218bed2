"""The dataclasses that cross the Temporal boundary: workflow input, activity inputs and outputs,
the status query's answer. None of them holds a config or a secret: activities read those from the
pipeline store by pipeline id. Plain standard-library code, safe inside the workflow sandbox.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

TASK_QUEUE = "stripe-sync"

# Activity names (the workflow refers to activities by name, so it never imports engine code).
SETUP = "setup_pipeline"
BACKFILL = "backfill_pipeline"
LIVE = "live_pipeline"
TEARDOWN = "teardown_pipeline"

PERMANENT_FAILURES = frozenset({"auth_error", "config_error", "permission_error"})
"""Global errors that retrying cannot fix: the pipeline waits in ``error`` until a user acts."""


def workflow_id(pipeline_id: str) -> str:
    return f"pipeline-{pipeline_id}"


@dataclass
class Carry:
    """What a workflow hands to its next run when it continues as new."""

    set_up: bool = False
    backfill_pending: bool = True
    paused: bool = False
    error: str | None = None
    stream_failures: int = 0
    stream_retry_at: str | None = None
    events: list[dict[str, Any]] = field(default_factory=list)
    seen_event_ids: list[str] = field(default_factory=list)


@dataclass
class PipelineWorkflowInput:
    pipeline_id: str
    carry: Carry | None = None
    history_limit: int = 2000
    """Continue as new once the history holds more events than this."""


@dataclass
class SyncRequest:
    """One activity call for a pipeline; ``events`` are verified webhook events for a live call."""

    pipeline_id: str
    events: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class SyncOutcome:
    """How a sync call ended (the destination's ``_sync_state`` holds the state itself)."""

    reason: str
    has_more: bool
    failed_streams: list[str] = field(default_factory=list)
    failure_type: str | None = None
    message: str | None = None
    record_count: int = 0

    @property
    def permanent_error(self) -> bool:
        return self.reason == "error" and self.failure_type in PERMANENT_FAILURES


@dataclass
class PipelineStatus:
    """The answer of the workflow's ``status`` query."""

    status: str
    reason: str | None = None
    backfill_complete: bool = False
    stream_failures: int = 0
    stream_retry_at: str | None = None
    pending_events: int = 0
