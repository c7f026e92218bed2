"""A platform pipeline's progress folds its accounts' documents into one multi-account payload."""

from __future__ import annotations

from typing import Any

from stripe_sync.service.platform_progress import combined_document


def document(mode: str, records: int, status: str, **extra: Any) -> dict[str, Any]:
    progress = {
        "started_at": extra.pop("started_at", "2026-11-27T10:00:00Z"),
        "elapsed_ms": extra.pop("elapsed_ms", 1000),
        "record_count": records,
        "state_count": 2,
        "request_count": 3,
        "retry_count": 0,
        "rate_limited_count": 0,
        "records_per_second": 10.0,
        "window_records_per_second": 5.0,
        "requests_per_second": 1.5,
        "budget_rps": 25.0,
        "writes": {"inserted": records, "updated": 1, "unchanged": 0, "deleted": 0},
        "lifetime": {"record_count": records, "request_count": 3, "elapsed_ms": 1000},
        "streams": {
            "customers": {"status": status, "record_count": records, "request_count": 3},
        },
        "errors": extra.pop("errors", []),
    }
    return {"mode": mode, "catalog": ["customers"], "progress": progress, "end": None, **extra}


def test_accounts_fold_into_one_payload_keyed_by_account():
    refusal = {"level": "global", "failure_type": "permission_error", "message": "revoked"}
    combined = combined_document(
        {
            "acct_a": document("live", 100, "complete", elapsed_ms=4000),
            "acct_b": document("backfill", 40, "started", started_at="2026-11-27T09:00:00Z"),
            "acct_c": document("backfill", 0, "failed", errors=[refusal]),
        }
    )
    assert combined is not None
    assert combined["mode"] == "backfill"  # acct_b is still backfilling
    assert combined["catalog"] == ["customers"]
    progress = combined["progress"]
    assert progress["record_count"] == 140 and progress["request_count"] == 9
    assert progress["writes"] == {"inserted": 140, "updated": 3, "unchanged": 0, "deleted": 0}
    assert progress["lifetime"]["record_count"] == 140
    assert progress["records_per_second"] == 30.0 and progress["budget_rps"] == 75.0
    assert progress["started_at"] == "2026-11-27T09:00:00Z" and progress["elapsed_ms"] == 4000
    assert progress["streams"]["acct_b/customers"]["account"] == "acct_b"
    assert {a: s["status"] for a, s in progress["accounts"].items()} == {
        "acct_a": "complete",
        "acct_b": "started",
        "acct_c": "failed",
    }
    # a child's global error is its account's
    assert progress["errors"] == [{**refusal, "level": "account", "account": "acct_c"}]
    assert progress["accounts"]["acct_c"]["errors"][0]["level"] == "account"


def test_live_once_no_account_backfills_and_nothing_before_any_reported():
    parked = document("backfill", 0, "failed", error={"failure_type": "permission_error"})
    live = combined_document({"acct_a": document("live", 1, "complete"), "acct_b": parked})
    assert live is not None and live["mode"] == "live"
    assert combined_document({}) is None
