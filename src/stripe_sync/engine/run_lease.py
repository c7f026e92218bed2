"""One run per pipeline at a time: the lease a state store may hold for a pipeline's run.

A state store that can (the SQLite and Postgres destinations' ``_sync_state`` stores) offers
``lease(pipeline, wait)``, an async context manager that ``sync`` holds from before it loads the
state until it saved the last one. A second run of the same pipeline fails at once with
``PipelineBusy`` (one line), or with ``wait`` polls until the lease is free. A lease ends with
the process that holds it, kill -9 included, so it never outlives its run.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from stripe_sync.protocol.errors import SyncError

WAIT_POLL_S = 0.5
"""How often a waiting run tries the lease again."""


class PipelineBusy(SyncError):
    """Another run of the pipeline holds its lease."""

    failure_type = "transient_error"


def busy_message(pipeline: str, holder: str) -> str:
    return (
        f"pipeline {pipeline!r} is already running ({holder}); "
        "wait for it to end, or pass --wait to queue behind it"
    )


@asynccontextmanager
async def run_lease(store: Any, pipeline: str, *, wait: bool = False) -> AsyncIterator[None]:
    """Hold ``store``'s lease of ``pipeline`` (nothing when the store has no leases)."""
    lease = getattr(store, "lease", None)
    if lease is None:
        yield
        return
    async with lease(pipeline, wait=wait):
        yield
