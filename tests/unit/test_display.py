"""The display model: the reducer, fitting rows to a terminal, plain lines."""

from __future__ import annotations

import io

from stripe_sync.display.plain import PlainDisplay
from stripe_sync.display.state import DisplayState, reduce
from stripe_sync.display.view import build_view, summary_lines


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
