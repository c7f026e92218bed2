"""The exit code of a finished call: the worst outcome wins (2 > 1 > 5 > 4 > 3 > 0)."""

from __future__ import annotations

import pytest

from stripe_sync.cli.outcome import exit_code_for_end

FAILED = {"streams": {"customers": {"status": "failed"}, "invoices": {"status": "complete"}}}


def end(reason: str, *, has_more: bool = False, **extra: object) -> dict:
    return {"reason": reason, "has_more": has_more, "run_progress": {"streams": {}}, **extra}


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        pytest.param(end("complete"), 0, id="done"),
        pytest.param(end("time_limit", has_more=True), 3, id="limit"),
        pytest.param(end("state_limit", has_more=True), 3, id="state limit"),
        pytest.param(end("aborted", has_more=True), 4, id="aborted"),
        pytest.param(end("aborted", has_more=True, failed_streams=["customers"]), 5, id="failed"),
        pytest.param(
            {**end("time_limit", has_more=True), "run_progress": FAILED}, 5, id="failed by progress"
        ),
        pytest.param(end("complete", failed_streams=["a"]), 5, id="complete with a failed stream"),
        pytest.param(end("error", error={"failure_type": "auth_error"}), 5, id="error"),
        pytest.param(end("error"), 5, id="error without details"),
        pytest.param(
            end("error", error={"failure_type": "system_error", "internal": True}), 1, id="internal"
        ),
        pytest.param(
            end("error", failed_streams=["a"], error={"failure_type": "config_error"}),
            2,
            id="config error",
        ),
    ],
)
def test_the_worst_outcome_picks_the_exit_code(payload: dict, code: int) -> None:
    assert exit_code_for_end(payload) == code
