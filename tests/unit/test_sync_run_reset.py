"""``stream_status: reset``: the engine forgets the stream's backfill so it is backfilled again."""

from __future__ import annotations

from stripe_sync.engine.sync_run import SyncRun
from stripe_sync.protocol.state import coerce_sync_state


def finished_run(live: bool) -> SyncRun:
    state = coerce_sync_state(None)
    run = SyncRun.begin(
        state,
        pipeline="p",
        selected=["customers", "charges"],
        now="2026-01-01T00:00:00Z",
        sync_run_id=None,
        fresh=False,
        live=False,
    )
    for name in ("customers", "charges"):
        run.finish_stream(name, "complete")
        state["source"]["streams"][name] = {
            "range": {"lt": "2026-01-01T00:00:00Z"},
            "remaining": [],
        }
    state["source"]["global"] = {"events": {"cursor_created": 1}}
    run.engine["mode"] = "live" if live else "backfill"
    return run


def test_a_reset_during_a_backfill_makes_the_stream_pending_in_the_same_run():
    run = finished_run(live=False)
    started_at = run.started_at
    run.reset_stream("customers", "2026-02-01T00:00:00Z")
    assert run.started_at == started_at
    assert run.pending_streams() == ["customers"]
    assert "customers" not in run.engine["streams"]
    assert "customers" not in run.state["source"]["streams"]
    assert run.time_range("customers") == {"lt": started_at}
    assert run.state["source"]["global"] == {"events": {"cursor_created": 1}}


def test_a_reset_in_live_mode_starts_a_new_run_up_to_now():
    run = finished_run(live=True)
    previous = run.engine["sync_run_id"]
    run.reset_stream("customers", "2026-02-01T00:00:00Z")
    assert run.engine["sync_run_id"] != previous
    assert run.started_at == "2026-02-01T00:00:00Z"
    assert run.pending_streams() == ["customers", "charges"]
    assert run.time_range("customers") == {"lt": "2026-02-01T00:00:00Z"}
    assert run.time_range("charges") == {
        "gte": "2026-01-01T00:00:00Z",
        "lt": "2026-02-01T00:00:00Z",
    }
    assert "charges" in run.state["source"]["streams"]
    run.reset_stream("charges", "2026-02-01T00:00:01Z")  # not terminal in the new run
    assert run.started_at == "2026-02-01T00:00:00Z"
    assert "charges" not in run.state["source"]["streams"]
