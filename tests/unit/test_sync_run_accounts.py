"""Per-account runs: keys count once started, ``has_more`` waits for the accounts to be listed,
continuation hands the source the finished account-streams and each account's incremental range."""

from __future__ import annotations

from stripe_sync.engine.catalog_selection import configure_catalog
from stripe_sync.engine.sync_run import SyncRun
from stripe_sync.protocol.state import empty_state

STREAMS = [
    {"name": "customers", "supports_time_range": True},
    {"name": "plans", "supports_time_range": False},
]


def begin(state, now="2026-01-01T00:00:00Z", per_account=True):
    return SyncRun.begin(
        state,
        pipeline="p",
        selected=["customers", "plans"],
        now=now,
        sync_run_id=None,
        fresh=False,
        live=False,
        per_account=per_account,
    )


def test_has_more_until_listed_and_every_started_key_is_terminal():
    run = begin(empty_state())
    assert run.has_more and run.progress_keys() == []
    run.account_stream_started("acct_a/customers")
    run.accounts_listed()
    assert run.has_more
    run.finish_stream("acct_a/customers", "complete")
    assert not run.has_more
    assert run.pending_streams() == ["customers", "plans"]


def test_continuation_skips_terminal_keys_and_next_run_is_incremental_per_account():
    run = begin(empty_state())
    run.account_stream_started("acct_a/customers")
    run.account_stream_started("acct_b/customers")
    run.finish_stream("acct_a/customers", "complete")
    catalog = configure_catalog(STREAMS, run)
    assert catalog["terminal_streams"] == {"acct_a/customers": "complete"}
    assert run.has_more  # acct_b still running, accounts not listed to the end

    run.finish_stream("acct_b/customers", "failed")
    run.accounts_listed()
    assert not run.has_more
    later = begin(run.state, now="2026-01-02T00:00:00Z")
    assert later.is_new and later.terminal == {} and later.has_more
    entry = configure_catalog(STREAMS, later)["streams"][0]
    assert entry["time_range"] == {"lt": "2026-01-02T00:00:00Z"}
    assert entry["account_time_ranges"] == {
        "acct_a": {"gte": "2026-01-01T00:00:00Z", "lt": "2026-01-02T00:00:00Z"}
    }


def test_single_account_runs_are_unchanged():
    run = begin(empty_state(), per_account=False)
    assert "accounts" not in run.engine
    run.finish_stream("customers", "complete")
    run.finish_stream("plans", "skipped")
    assert not run.has_more
    assert "terminal_streams" not in configure_catalog(STREAMS, run)
