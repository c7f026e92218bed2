"""The live lane of the display: events/s, lag, last event, rejected webhooks; calls in a row."""

from __future__ import annotations

import io

from rich.console import Console

from stripe_sync.display.live import render
from stripe_sync.display.plain import PlainDisplay
from stripe_sync.display.state import DisplayState, reduce
from stripe_sync.display.view import build_view

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
