"""A worker process's Temporal worker: the pipeline and platform pipeline workflows and their
activities on one task queue."""

from __future__ import annotations

from datetime import timedelta

from temporalio.client import Client
from temporalio.worker import Worker

from stripe_sync.service.activities import ActivitySettings, PipelineActivities
from stripe_sync.service.platform_workflow import PlatformWorkflow
from stripe_sync.service.store import PipelineStore
from stripe_sync.service.workflow_types import TASK_QUEUE
from stripe_sync.service.workflows import PipelineWorkflow

HEARTBEAT_THROTTLE = timedelta(seconds=2)
"""Heartbeats reach the server at least this often, so a pause cancels a running call quickly."""


def build_worker(
    client: Client,
    store: PipelineStore,
    settings: ActivitySettings | None = None,
    task_queue: str = TASK_QUEUE,
) -> Worker:
    """A worker running the workflows and activities; ``await worker.run()`` to serve."""
    activities = PipelineActivities(store, settings)
    return Worker(
        client,
        task_queue=task_queue,
        workflows=[PipelineWorkflow, PlatformWorkflow],
        activities=activities.all(),
        max_heartbeat_throttle_interval=HEARTBEAT_THROTTLE,
        default_heartbeat_throttle_interval=HEARTBEAT_THROTTLE,
        # on shutdown, cancel the calls at once: they abort, flush and save their state, and
        # the workflow hands them to another worker without waiting for a heartbeat timeout
        graceful_shutdown_timeout=timedelta(0),
    )
