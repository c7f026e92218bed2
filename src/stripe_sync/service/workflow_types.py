"""The dataclasses that cross the Temporal boundary: workflow inputs, activity inputs and outputs,
the status query's answer, and the names of workflows and activities. None of them holds a config
or a secret: activities read those from the pipeline store by pipeline id (and account). Plain
standard-library code, safe inside the workflow sandbox.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from stripe_sync.service.admission import Admission

TASK_QUEUE = "stripe-sync"

# Activity names (the workflows start the methods of ``PipelineActivities``, registered under these).
SETUP = "setup_pipeline"
BACKFILL = "backfill_pipeline"
LIVE = "live_pipeline"
TEARDOWN = "teardown_pipeline"
LIST_ACCOUNTS = "list_accounts"

# Signals between a platform pipeline's workflow and its children (besides the pipeline's own).
ACCOUNT_STATUS = "account_status"
"""child → parent: the child's status changed."""

PERMANENT_FAILURES = frozenset({"auth_error", "config_error", "permission_error"})
"""Global errors that retrying cannot fix: the pipeline waits in ``error`` until a user acts."""


def workflow_id(pipeline_id: str) -> str:
    return f"pipeline-{pipeline_id}"


def account_workflow_id(pipeline_id: str, account: str) -> str:
    """The workflow of one connected account of a platform pipeline."""
    return f"{workflow_id(pipeline_id)}/{account}"


@dataclass
class WebhookRef:
    """A verified webhook event, by reference: its body waits in the pipeline store
    (``webhook_events``), so Temporal's history never holds event data."""

    event_id: str
    account: str | None = None
    """The connected account a Connect event is for (a platform pipeline forwards by it)."""


@dataclass
class Carry:
    """What a workflow hands to its next run when it continues as new."""

    set_up: bool = False
    backfill_pending: bool = True
    paused: bool = False
    error: str | None = None
    stream_failures: int = 0
    stream_retry_at: str | None = None
    event_ids: list[str] = field(default_factory=list)
    """Webhook events waiting for the next live call (their bodies are in the store)."""
    seen_event_ids: list[str] = field(default_factory=list)


@dataclass
class PipelineWorkflowInput:
    pipeline_id: str
    carry: Carry | None = None
    history_limit: int = 2000
    """Continue as new once the history holds more events than this."""
    account: str | None = None
    """Set for the child of a platform pipeline: the one connected account it syncs."""


@dataclass
class AccountStatus:
    """What a child reports to its platform pipeline (signal ``account_status``)."""

    account: str
    status: str
    reason: str | None = None


@dataclass
class PlatformCarry:
    """What a platform pipeline's workflow hands to its next run when it continues as new."""

    set_up: bool = False
    paused: bool = False
    error: str | None = None
    admission: Admission = field(default_factory=Admission)
    max_parallel: int = 1
    """How many children may backfill at once (the pipeline's ``max_parallel_accounts``)."""
    accounts: dict[str, AccountStatus] = field(default_factory=dict)
    """The status each child reported last."""
    listed_at: str | None = None
    """When the accounts were last listed (ISO time); None: never."""


@dataclass
class PlatformWorkflowInput:
    pipeline_id: str
    carry: PlatformCarry | None = None
    history_limit: int = 2000
    list_every_s: float = 600.0
    """List the connected accounts again this often (seconds), to start children for new ones."""


@dataclass
class SyncRequest:
    """One activity call for a pipeline; ``event_ids`` name verified webhook events (in the store)
    for a live call; ``account`` names the connected account of a platform pipeline's child."""

    pipeline_id: str
    event_ids: list[str] = field(default_factory=list)
    account: str | None = None


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
class AccountListing:
    """The connected accounts a platform pipeline covers, and how many may backfill at once;
    ``failure_type`` and ``message`` when they could not be listed for good."""

    accounts: list[str] = field(default_factory=list)
    max_parallel: int = 1
    failure_type: str | None = None
    message: str | None = None


@dataclass
class PipelineStatus:
    """The answer of the workflow's ``status`` query."""

    status: str
    reason: str | None = None
    backfill_complete: bool = False
    stream_failures: int = 0
    stream_retry_at: str | None = None
    pending_events: int = 0
    accounts: list[AccountStatus] | None = None
    """A platform pipeline's accounts, in list order: ``waiting`` until admitted, then the
    status its child last reported."""
