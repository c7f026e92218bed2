"""The display model: the reducer, fitting rows to a terminal, plain lines, accounts grouped."""

from __future__ import annotations

import io

from stripe_sync.display.plain import PlainDisplay
from stripe_sync.display.state import DisplayState, reduce
from stripe_sync.display.view import build_view, summary_lines
from stripe_sync.engine.progress import account_summaries


def progress(statuses: dict[str, str], **extra) -> dict:
    streams = {
        name: {"status": status, "record_count": 10, "completed_ranges": [], "errors": []}
        for name, status in statuses.items()
    }
    return {"type": "progress", "progress": {"elapsed_ms": 2000, "streams": streams, **extra}}


def catalog(names) -> dict:
    return {"type": "catalog", "catalog": {"streams": [{"name": n} for n in names]}}


def test_reducer_keeps_the_latest_progress_and_recent_warnings():
    state = reduce(DisplayState(), catalog(["a", "b"]))
    first = reduce(state, progress({"a": "started", "b": "pending"}))
    assert first.stream_status("a") == "started"
    assert state.progress is None, "the reducer changed its input"
    for n in range(8):
        first = reduce(first, {"type": "log", "log": {"level": "warn", "message": f"w{n}"}})
    assert first.notes[-1] == "warn: w7"
    assert len(first.notes) == 5
    assert first.note_count == 8
    unchanged = reduce(first, {"type": "log", "log": {"level": "info", "message": "quiet"}})
    assert unchanged is first


def test_running_and_failed_streams_always_get_a_row_and_the_rest_collapse_to_fit():
    statuses = {f"s{i}": "pending" for i in range(20)}
    statuses.update({"run1": "started", "run2": "started", "bad": "failed", "done": "complete"})
    state = reduce(reduce(DisplayState(), catalog(statuses)), progress(statuses))
    view = build_view(state, max_rows=8)
    names = [row.name for row in view.rows]
    assert {"run1", "run2", "bad"} <= set(names)
    assert len(view.rows) + 1 <= 8
    assert sum(view.collapsed.values()) + len(view.rows) == len(statuses)
    assert build_view(state).collapsed == {}


def test_plain_display_prints_transitions_and_a_summary_without_escape_codes():
    out = io.StringIO()
    display = PlainDisplay(out)
    state = reduce(DisplayState(), catalog(["a"]))
    for message in (
        progress({"a": "started"}),
        progress({"a": "started"}),
        progress({"a": "complete"}),
        {
            "type": "end",
            "end": {
                "reason": "complete",
                "has_more": False,
                "run_progress": progress({"a": "complete"})["progress"],
            },
        },
    ):
        state = reduce(state, message)
        display.update(state)
    lines = out.getvalue().splitlines()
    assert lines[0] == "a: started, 10 records"
    assert lines[1] == "a: complete, 10 records"
    assert lines[2].startswith("complete:")
    assert "\x1b[" not in out.getvalue()
    assert summary_lines(build_view(state))[-1] == "streams: 1 complete"


STREAMS = ("customers", "charges", "products")


def accounts_progress(
    statuses: dict[str, dict[str, str]], errors: dict[str, list[dict]] | None = None
) -> dict:
    """A progress message of account-streams (``{account: {stream: status}}``), grouped as the
    engine groups them."""
    entries = {
        f"{account}/{stream}": {
            "status": status,
            "account": account,
            "record_count": 10,
            "request_count": 1,
            "completed_ranges": [],
            "errors": [],
        }
        for account, streams in statuses.items()
        for stream, status in streams.items()
    }
    accounts = account_summaries(entries, errors or {})
    payload = {"elapsed_ms": 2000, "record_count": 10 * len(entries), "streams": entries}
    return {"type": "progress", "progress": {**payload, "accounts": accounts}}


def per_account_catalog() -> dict:
    return {
        "type": "catalog",
        "catalog": {"streams": [{"name": n} for n in STREAMS], "per_account": True},
    }


BOOM = {"level": "stream", "failure_type": "system_error", "message": "boom", "stream": "charges"}


def fifty_accounts() -> dict:
    statuses = {f"acct_{n:02d}": dict.fromkeys(STREAMS, "complete") for n in range(48)}
    statuses["acct_bad"] = {"customers": "complete", "charges": "failed", "products": "complete"}
    statuses["acct_busy"] = {"customers": "started", "charges": "complete", "products": "pending"}
    return accounts_progress(statuses, {"acct_bad": [{**BOOM, "account": "acct_bad"}]})


def test_fifty_accounts_show_as_account_rows_with_their_busy_streams_under_them():
    state = reduce(reduce(DisplayState(), per_account_catalog()), fifty_accounts())
    view = build_view(state, max_rows=10)

    assert view.rows == (), "account-streams get no flat rows"
    assert [account.account for account in view.accounts[:2]] == ["acct_bad", "acct_busy"]
    bad, busy = view.accounts[:2]
    assert (bad.status, bad.streams_done, bad.streams_total) == ("failed", 2, 3)
    assert [(row.name, row.status) for row in bad.streams] == [("charges", "failed")]
    assert bad.failure is not None and bad.failure["message"] == "boom"
    assert (busy.status, busy.streams_done, busy.record_count) == ("started", 1, 30)
    assert [(row.name, row.status) for row in busy.streams] == [("customers", "started")]
    lines = sum(account.height for account in view.accounts) + 1  # + the collapsed count
    assert lines <= 10
    assert view.collapsed_accounts == {"complete": 50 - len(view.accounts)}
    assert view.account_counts == {"complete": 48, "failed": 1, "started": 1}
    assert len(build_view(state).accounts) == 50


def test_an_account_lists_its_least_covered_busy_streams_and_counts_the_rest():
    names = [f"stream_{n}" for n in range(7)]
    progress = accounts_progress({"acct_wide": dict.fromkeys(names, "started")})
    for n, name in enumerate(names):  # stream_0 is done but unconfirmed, stream_6 just began
        progress["progress"]["streams"][f"acct_wide/{name}"]["coverage"] = 1 - n / 6
    progress["progress"]["streams"]["acct_wide/stream_3"]["status"] = "failed"
    view = build_view(reduce(DisplayState(), progress), max_rows=20)

    (wide,) = view.accounts
    assert [row.name for row in wide.streams] == ["stream_3", "stream_6", "stream_5", "stream_4"]
    assert wide.more_streams == 3 and wide.height == 1 + 4 + 1


def test_the_summary_counts_accounts_and_names_the_last_error_of_each_failed_account():
    end = {"reason": "complete", "has_more": False, "run_progress": fifty_accounts()["progress"]}
    state = reduce(reduce(DisplayState(), per_account_catalog()), {"type": "end", "end": end})
    lines = summary_lines(build_view(state))
    assert "streams: 147 complete, 1 failed, 1 pending, 1 started" in lines
    assert "accounts: 48 complete, 1 failed, 1 started" in lines
    assert lines[-1] == "acct_bad: stream system_error: boom"


def test_plain_display_prints_account_transitions_and_failed_account_streams_only():
    out = io.StringIO()
    display = PlainDisplay(out)
    state = reduce(DisplayState(), per_account_catalog())
    for statuses in (
        {"acct_a": {"customers": "started"}, "acct_b": {"customers": "started"}},
        {
            "acct_a": {"customers": "complete", "charges": "started"},
            "acct_b": {"customers": "failed"},
        },
        {"acct_a": {"customers": "complete", "charges": "complete", "products": "complete"}},
    ):
        state = reduce(state, accounts_progress(statuses))
        display.update(state)
    assert out.getvalue().splitlines() == [
        "acct_a: started, 0 of 3 streams done, 10 records",
        "acct_b: started, 0 of 3 streams done, 10 records",
        "acct_b/customers: failed, 10 records",
        "acct_b: failed, 0 of 3 streams done, 10 records",
        "acct_a: complete, 3 of 3 streams done, 30 records",
    ]


def test_a_per_account_catalog_shows_no_stream_rows_before_accounts_report():
    state = reduce(DisplayState(), per_account_catalog())
    view = build_view(state)
    assert (view.rows, view.accounts, view.stream_counts) == ((), (), {})
