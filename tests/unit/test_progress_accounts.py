"""Progress grouped by connected account: the ``accounts`` map of a ProgressPayload."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from stripe_sync.engine.progress import ProgressTracker, account_status
from stripe_sync.protocol.messages import ProgressPayload

T0 = "2026-01-01T00:00:00Z"
RANGE = {"gte": "2026-01-01T00:00:00Z", "lt": "2026-01-11T00:00:00Z"}
HALF = {"gte": "2026-01-01T00:00:00Z", "lt": "2026-01-06T00:00:00Z"}


def tracker(keys: list[str], run_base: dict[str, Any] | None = None) -> ProgressTracker:
    return ProgressTracker(
        run_started_at=T0,
        request_started_at=T0,
        stream_keys=keys,
        run_base=run_base,
        lifetime_base=None,
        stream_history={},
        terminal={},
        monotonic=lambda: 0.0,
    )


def started(progress: ProgressTracker, account: str, stream: str) -> None:
    payload = {"stream": stream, "status": "started", "account": account, "total_range": RANGE}
    progress.stream_status(f"{account}/{stream}", payload)


def test_streams_of_each_account_are_counted_and_summed_under_the_account():
    progress = tracker(["acct_a/customers", "acct_a/charges", "acct_b/customers"])
    started(progress, "acct_a", "customers")
    started(progress, "acct_a", "charges")
    progress.records("acct_a/customers", 30)
    progress.records("acct_a/charges", 12)
    progress.source_stats({"request_count": 4}, "acct_a/customers")
    progress.stream_status("acct_a/customers", {"stream": "customers", "status": "complete"})
    progress.stream_status(
        "acct_a/charges", {"stream": "charges", "status": "range_complete", "range": HALF}
    )
    started(progress, "acct_b", "customers")

    accounts = progress.snapshot()["accounts"]

    assert list(accounts) == ["acct_a", "acct_b"]
    assert accounts["acct_a"] == {
        "status": "started",
        "streams": {"complete": 1, "started": 1},
        "record_count": 42,
        "request_count": 4,
        "errors": [],
        "coverage": 0.75,  # the mean of 1.0 (complete) and 0.5 (half its range)
    }
    assert accounts["acct_b"]["coverage"] == 0.0


def test_an_account_level_error_fails_the_account_even_before_any_stream_of_it_started():
    progress = tracker(["acct_a/customers"])
    started(progress, "acct_a", "customers")
    refused = {
        "level": "account",
        "failure_type": "permission_error",
        "message": "access revoked",
        "account": "acct_gone",
    }
    progress.error(refused, None)
    transient = {"level": "transient", "failure_type": "rate_limit", "message": "429"}
    progress.error({**transient, "stream": "customers", "account": "acct_a"}, "acct_a/customers")

    accounts = progress.snapshot()["accounts"]

    assert accounts["acct_gone"]["status"] == "failed"
    assert accounts["acct_gone"]["errors"] == [refused]
    assert accounts["acct_gone"]["streams"] == {}
    assert "coverage" not in accounts["acct_gone"]
    assert accounts["acct_a"]["errors"] == [], "a retried (transient) error is not the account's"


def test_stream_errors_of_an_account_are_kept_in_order_and_bounded():
    progress = tracker(["acct_a/customers"])
    started(progress, "acct_a", "customers")
    for n in range(8):
        error = {"level": "stream", "failure_type": "system_error", "message": f"e{n}"}
        progress.error({**error, "stream": "customers", "account": "acct_a"}, "acct_a/customers")
    messages = [error["message"] for error in progress.snapshot()["accounts"]["acct_a"]["errors"]]
    assert messages == ["e3", "e4", "e5", "e6", "e7"]


def test_account_errors_carry_over_to_the_next_call_of_the_run():
    first = tracker(["acct_a/customers"])
    first.error(
        {
            "level": "account",
            "failure_type": "permission_error",
            "message": "no",
            "account": "acct_a",
        },
        None,
    )
    second = tracker(["acct_a/customers"], run_base=first.snapshot())
    account = second.snapshot()["accounts"]["acct_a"]
    assert account["status"] == "failed"
    assert account["errors"][0]["message"] == "no"


@pytest.mark.parametrize(
    ("statuses", "refused", "expected"),
    [
        ({"complete": 2, "skipped": 1}, False, "complete"),
        ({"complete": 2, "failed": 1}, False, "failed"),
        ({"failed": 1, "started": 1}, False, "started"),
        ({"complete": 1, "pending": 2}, False, "started"),
        ({"pending": 3}, False, "pending"),
        ({}, False, "pending"),
        ({"complete": 3}, True, "failed"),
        ({}, True, "failed"),
    ],
)
def test_the_status_of_an_account(statuses: dict[str, int], refused: bool, expected: str):
    assert account_status(Counter(statuses), refused) == expected


def test_a_single_account_payload_has_no_accounts_map_and_the_model_accepts_both():
    single = tracker(["customers"])
    single.stream_status("customers", {"stream": "customers", "status": "started"})
    assert "accounts" not in single.snapshot()

    many = tracker(["acct_a/customers"])
    started(many, "acct_a", "customers")
    parsed = ProgressPayload.model_validate(many.snapshot())
    assert parsed.accounts is not None
    assert parsed.accounts["acct_a"].status == "started"


def rebuilt_from_scratch(progress: ProgressTracker, scope: str) -> dict[str, Any]:
    """The snapshot the tracker gives when it keeps nothing from earlier snapshots."""
    progress.entries[scope] = {}
    progress.summaries[scope] = {}
    progress.changed_accounts[scope] = set(progress.account_keys) | set(progress.account_errors)
    return progress.snapshot(scope)


@pytest.mark.parametrize("seed", range(20))
def test_snapshots_built_from_changes_equal_snapshots_built_from_scratch(seed):
    import random

    rng = random.Random(seed)
    keys = [f"acct_{a}/{s}" for a in "xyz" for s in ("customers", "charges", "products")]
    progress = tracker(keys[:3])
    for _ in range(60):
        key = rng.choice(keys)
        account, stream = key.split("/")
        action = rng.randrange(7)
        if action == 0:
            started(progress, account, stream)
        elif action == 1:
            progress.records(key, rng.randrange(1, 100))
        elif action == 2:
            progress.state(key)
        elif action == 3:
            progress.source_stats({"request_count": rng.randrange(1, 5)}, key)
        elif action == 4:
            status = rng.choice(["complete", "failed", "skipped"])
            progress.stream_status(key, {"stream": stream, "status": status, "account": account})
        elif action == 5:
            progress.stream_status(
                key, {"stream": stream, "status": "range_complete", "range": HALF}
            )
        else:
            level = rng.choice(["account", "stream"])
            error = {"level": level, "failure_type": "system_error", "message": "x"}
            progress.error({**error, "account": account}, key if level == "stream" else None)
        if rng.random() < 0.3:
            scope = rng.choice(["run", "request"])
            assert progress.snapshot(scope) == rebuilt_from_scratch(progress, scope)
    for scope in ("run", "request"):
        assert progress.snapshot(scope) == rebuilt_from_scratch(progress, scope)
