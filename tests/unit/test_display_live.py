"""The rich live view: the live lane (events/s, lag, last event, rejected webhooks), calls in a
row, and connected accounts grouped."""

from __future__ import annotations

import io

from rich.console import Console

from stripe_sync.display.live import render
from stripe_sync.display.plain import PlainDisplay
from stripe_sync.display.state import DisplayState, reduce
from stripe_sync.display.view import build_view
from stripe_sync.engine.progress import account_summaries

LIVE = {
    "events_per_second": 2.5,
    "event_count": 40,
    "lag_seconds": 1.25,
    "cursor": "2026-11-27T13:00:00Z",
    "webhooks_rejected": 3,
}


def live_state(live: dict | None = LIVE) -> DisplayState:
    state = reduce(DisplayState(), {"type": "catalog", "catalog": {"streams": [{"name": "a"}]}})
    entry = {"status": "complete", "record_count": 5, "completed_ranges": [], "errors": []}
    payload = {"elapsed_ms": 16_000, "streams": {"a": entry}}
    if live is not None:
        payload["live"] = live
    return reduce(state, {"type": "progress", "progress": payload})


def test_the_view_has_a_live_line_only_in_live_mode():
    assert build_view(live_state(None)).live is None
    live = build_view(live_state()).live
    assert live is not None
    assert live.line() == (
        "live: 2.50 events/s (40 applied)  lag 1.2s  last event 2026-11-27T13:00:00Z"
        "  webhooks rejected 3"
    )


def test_the_rich_view_shows_the_live_line():
    console = Console(file=io.StringIO(), width=120, record=True)
    console.print(render(live_state(), height=30))
    assert "live: 2.50 events/s" in console.export_text()


def test_plain_lines_repeat_the_live_line_with_the_summary():
    out = io.StringIO()
    clock = iter([0.0, 11.0]).__next__
    display = PlainDisplay(out, clock=clock)
    display.update(live_state())
    assert "live: 2.50 events/s (40 applied)" in out.getvalue()


def test_a_new_call_clears_the_previous_end():
    state = reduce(
        live_state(), {"type": "end", "end": {"reason": "time_limit", "has_more": False}}
    )
    assert state.finished
    again = reduce(state, {"type": "catalog", "catalog": {"streams": [{"name": "a"}]}})
    assert not again.finished and again.progress == state.progress


def test_the_rich_view_groups_account_streams_under_their_account():
    entry = {"record_count": 5, "request_count": 1, "completed_ranges": [], "errors": []}
    streams = {
        f"acct_{n}/{stream}": {**entry, "status": "complete", "account": f"acct_{n}"}
        for n in range(30)
        for stream in ("customers", "charges")
    }
    streams["acct_0/charges"] = {**entry, "status": "started", "account": "acct_0"}
    refused = {"level": "account", "failure_type": "permission_error", "message": "revoked"}
    errors = {"acct_gone": [{**refused, "account": "acct_gone"}]}
    progress = {"elapsed_ms": 1000, "streams": streams}
    progress["accounts"] = account_summaries(streams, errors)
    state = reduce(DisplayState(), {"type": "progress", "progress": progress})
    console = Console(file=io.StringIO(), width=120, record=True)
    console.print(render(state, height=20))
    lines = console.export_text().splitlines()

    rows = {line.split()[0]: line.split()[1:4] for line in lines if line.strip()}
    assert rows["acct_gone"] == ["failed", "0/0", "0"]
    assert rows["acct_0"] == ["started", "1/2", "10"]
    assert rows["charges"][:2] == ["started", "5"], "the running stream sits under its account"
    assert "acct_gone: account permission_error: revoked" in lines
    assert not any("acct_0/charges" in line for line in lines)
    shown = [name for name in rows if name.startswith("acct_") and not name.endswith(":")]
    assert lines[-1] == f"+ accounts: {31 - len(shown)} complete"
    assert len(shown) > 2 and len(lines) <= 20
