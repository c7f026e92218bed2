"""The pure parts of the service: the failed-stream backoff, outcomes, the display model."""

from __future__ import annotations

import itertools
from datetime import timedelta

from stripe_sync.service.progress_view import display_model
from stripe_sync.service.workflow_types import SyncOutcome
from stripe_sync.service.workflows import shown_status, stream_retry_delay


def test_failed_streams_are_retried_after_one_minute_doubling_to_one_hour():
    delays = [stream_retry_delay(failures) for failures in range(1, 10)]
    assert delays[:4] == [timedelta(minutes=m) for m in (1, 2, 4, 8)]
    assert delays[-1] == timedelta(hours=1)
    assert all(a <= b for a, b in itertools.pairwise(delays))


def test_deleting_error_and_paused_show_before_the_stage():
    shown = [
        shown_status(deleting=d, error=e, paused=p, stage="live")
        for d, e, p in [(True, "x", True), (False, "x", True), (False, None, True)]
    ]
    assert shown == ["deleting", "error", "paused"]
    assert shown_status(deleting=False, error=None, paused=False, stage="live") == "live"


def test_only_global_errors_retrying_cannot_fix_are_permanent():
    for failure_type in ("auth_error", "config_error", "permission_error"):
        assert SyncOutcome("error", True, failure_type=failure_type).permanent_error
    assert not SyncOutcome("error", True, failure_type="transient_error").permanent_error
    assert not SyncOutcome("error", True, failure_type="system_error").permanent_error
    assert not SyncOutcome("complete", False, failed_streams=["prices"]).permanent_error


def test_the_display_model_of_a_stored_progress_document():
    assert display_model(None) is None
    progress = {
        "pipeline": "pl_1",
        "sync_run_id": "r1",
        "elapsed_ms": 2000,
        "record_count": 10,
        "streams": {
            "customers": {"status": "complete", "record_count": 10},
            "prices": {"status": "failed", "record_count": 0, "reason": "403"},
        },
    }
    document = {
        "mode": "backfill",
        "catalog": ["customers", "prices", "products"],
        "progress": progress,
        "end": {"reason": "complete", "has_more": False},
        "error": None,
    }
    view = display_model(document)
    assert view is not None
    assert [(row["name"], row["status"]) for row in view["rows"]] == [
        ("prices", "failed"),
        ("customers", "complete"),
        ("products", "pending"),
    ]
    assert (view["pipeline"], view["record_count"], view["outcome"]) == (
        "pl_1",
        10,
        "finished with errors",
    )
    assert view["mode"] == "backfill"
