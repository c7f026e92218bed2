"""Sync runs over the test connectors: limits, continuation, the confirmation watermark,
progress and increments."""

from __future__ import annotations

import asyncio
from collections import Counter

import orjson
from tests.support.engine import collect, make_pipeline, of_type, pinned_clock, run_sync

from stripe_sync.connectors.testing.destination import TestDestination
from stripe_sync.engine.connector_calls import read
from stripe_sync.engine.state_store import MemoryStateStore
from stripe_sync.engine.sync import sync, sync_until_complete

THREE_STREAMS = {
    "customers": {"records": 40, "page_size": 5, "page_delay_s": 0.02},
    "invoices": {"records": 30, "page_size": 5, "page_delay_s": 0.02},
    "charges": {"records": 20, "page_size": 5, "page_delay_s": 0.02, "supports_time_range": False},
}


def delivered_ids(path) -> Counter[str]:
    return Counter(orjson.loads(line)["data"]["id"] for line in path.read_bytes().splitlines())


async def test_time_limited_run_continues_to_completion_with_every_record_once(tmp_path):
    rows = tmp_path / "rows.jsonl"
    pipeline = make_pipeline(THREE_STREAMS, path=str(rows), name="cut")

    _, end = await run_sync(pipeline, time_limit=0.3)
    assert end["reason"] == "time_limit"
    assert end["has_more"] is True
    run_id = end["ending_state"]["engine"]["sync_run_id"]
    started_at = end["ending_state"]["engine"]["started_at"]

    _, end = await run_sync(pipeline, end["ending_state"], sync_run_id=run_id)
    assert end["reason"] == "complete"
    assert end["has_more"] is False
    assert end["ending_state"]["engine"]["started_at"] == started_at
    assert end["ending_state"]["engine"]["sync_run_id"] == run_id

    counts = delivered_ids(rows)
    assert len(counts) == 90
    assert set(counts.values()) == {1}, "some record was delivered more than once"
    assert end["run_progress"]["record_count"] == 90


async def test_state_limit_stops_right_after_the_nth_confirmed_state():
    pipeline = make_pipeline(THREE_STREAMS, name="state-limit")
    messages, end = await run_sync(pipeline, state_limit=3)
    assert end["reason"] == "state_limit"
    assert end["has_more"] is True
    assert len(of_type(messages, "source_state")) == 3
    assert end["ending_state"]["source"]["streams"]["customers"]["offset"] == 15


async def test_abort_ends_aborted_and_resume_loses_nothing(tmp_path):
    rows = tmp_path / "rows.jsonl"
    pipeline = make_pipeline(THREE_STREAMS, path=str(rows), name="abort")
    abort = asyncio.Event()
    store = MemoryStateStore()
    seen = []
    async for message in sync(pipeline, state_store=store, abort=abort):
        seen.append(message)
        if message["type"] == "source_state" and len(of_type(seen, "source_state")) == 2:
            abort.set()
    end = seen[-1]["end"]
    assert end["reason"] == "aborted"
    assert end["has_more"] is True
    assert await store.load("abort") == end["ending_state"]

    _, end = await run_sync(pipeline, state_store=store)
    assert end["has_more"] is False
    assert set(delivered_ids(rows)) == {
        f"{stream}_{i}" for stream, spec in THREE_STREAMS.items() for i in range(spec["records"])
    }


async def test_catalog_comes_first_and_progress_follows_every_transition():
    streams = {"customers": {"records": 6}, "coupons": {"records": 0, "skip_reason": "not enabled"}}
    messages, end = await run_sync(make_pipeline(streams, name="transitions"))
    assert messages[0]["type"] == "catalog"
    assert [s["name"] for s in messages[0]["catalog"]["streams"]] == ["customers", "coupons"]
    statuses = [
        {k: v["status"] for k, v in p["streams"].items()} for p in of_type(messages, "progress")
    ]
    assert statuses[0] == {"customers": "pending", "coupons": "pending"}
    for stream, transitions in {
        "customers": ["started", "complete"],
        "coupons": ["started", "skipped"],
    }.items():
        seen = [entry[stream] for entry in statuses]
        assert [status for status in dict.fromkeys(seen) if status != "pending"] == transitions
    assert end["run_progress"]["streams"]["coupons"]["reason"] == "not enabled"
    assert end["run_progress"]["streams"]["customers"]["coverage"] == 1.0


async def test_request_count_is_the_sum_of_source_stats_and_lifetime_adds_up():
    streams = {"customers": {"records": 12, "page_size": 5}}
    pipeline = make_pipeline(streams, name="lifetime")
    state = None
    record_counts = []
    for day in (1, 2, 3):
        clock = pinned_clock(f"2026-01-0{day}T00:00:00")
        _, end = await run_sync(pipeline, state, clock=clock)
        state = end["ending_state"]
        record_counts.append(end["request_progress"]["record_count"])
    lifetime = state["engine"]["lifetime"]
    assert record_counts == [12, 0, 0]
    assert lifetime["record_count"] == 12
    read_messages = await collect(read(make_pipeline(streams, name="lifetime-read")))
    requests = sum(stats["request_count"] for stats in of_type(read_messages, "source_stats"))
    assert requests == 3
    assert lifetime["request_count"] == requests


async def test_second_run_after_completion_is_incremental():
    streams = {"customers": {"records": 5}}
    pipeline = make_pipeline(streams, name="incremental")
    _, first = await run_sync(pipeline, clock=pinned_clock("2026-01-01T00:00:00"))
    assert first["has_more"] is False
    second_messages, second = await run_sync(
        pipeline, first["ending_state"], clock=pinned_clock("2026-01-02T00:00:00")
    )
    first_id = first["ending_state"]["engine"]["sync_run_id"]
    assert second["ending_state"]["engine"]["sync_run_id"] != first_id
    window = second_messages[0]["catalog"]["streams"][0]["time_range"]
    assert window == {"gte": "2026-01-01T00:00:00Z", "lt": "2026-01-02T00:00:00Z"}
    assert second["request_progress"]["record_count"] == 0

    _, fresh = await run_sync(
        pipeline, second["ending_state"], fresh=True, clock=pinned_clock("2026-01-03T00:00:00")
    )
    assert fresh["request_progress"]["record_count"] == 5


async def test_terminal_status_waits_for_the_destination_to_confirm_its_states():
    streams = {"customers": {"records": 10, "page_size": 5}}
    pipeline = make_pipeline(streams, name="watermark", destination={"fail_after_records": 7})
    messages, end = await run_sync(pipeline)
    assert end["reason"] == "error"
    assert "customers" not in end["ending_state"]["engine"].get("terminal_streams", {})
    assert end["ending_state"]["source"]["streams"]["customers"]["offset"] == 5
    assert end["has_more"] is True
    assert any("global error" in log["message"] for log in of_type(messages, "log"))


async def test_stream_failure_in_the_destination_fails_only_that_stream():
    streams = {"customers": {"records": 10}, "invoices": {"records": 10}}
    pipeline = make_pipeline(streams, name="stream-fail", destination={"fail_stream": "invoices"})
    _, end = await run_sync(pipeline)
    terminal = end["ending_state"]["engine"]["terminal_streams"]
    assert terminal == {"customers": "complete", "invoices": "failed"}
    assert "invoices" not in end["ending_state"]["source"]["streams"]
    assert end["run_progress"]["streams"]["invoices"]["errors"][0]["level"] == "stream"
    rows = TestDestination.stores["stream-fail"]
    assert {key[0] for key in rows} == {"customers"}


async def test_source_stream_error_fails_the_stream_and_next_run_retries_it():
    streams = {"customers": {"records": 10, "page_size": 5, "fail_after_pages": 1}}
    pipeline = make_pipeline(streams, name="retry")
    _, end = await run_sync(pipeline)
    assert end["ending_state"]["engine"]["terminal_streams"] == {"customers": "failed"}
    assert end["has_more"] is False
    assert end["ending_state"]["source"]["streams"]["customers"]["offset"] == 5


async def test_engine_warns_about_protocol_violations():
    scenario = [
        {"type": "source_state", "source_state": {"stream": "customers", "data": {"n": 1}}},
        {"type": "stream_status", "stream_status": {"stream": "customers", "status": "started"}},
        {"type": "stream_status", "stream_status": {"stream": "customers", "status": "started"}},
        {
            "type": "record",
            "record": {
                "stream": "ghosts",
                "data": {"id": "g"},
                "emitted_at": "2026-01-01T00:00:00Z",
            },
        },
        {"type": "stream_status", "stream_status": {"stream": "customers", "status": "complete"}},
        {"type": "source_state", "source_state": {"stream": "customers", "data": {"n": 2}}},
    ]
    pipeline = {
        "source": {"type": "test", "config": {"scenario": scenario, "catalog": ["customers"]}},
        "destination": {"type": "test", "config": {"name": "warnings"}},
    }
    messages, _ = await run_sync(pipeline)
    warnings = {log["message"] for log in of_type(messages, "log") if log["level"] == "warn"}
    assert warnings == {
        "state before started: customers",
        "duplicate started: customers",
        "unknown stream from source: ghosts",
        "state after terminal status: customers",
    }


async def test_sync_until_complete_loops_over_time_limited_calls(tmp_path):
    rows = tmp_path / "rows.jsonl"
    pipeline = make_pipeline(THREE_STREAMS, path=str(rows), name="loop")
    messages = await collect(sync_until_complete(pipeline, time_limit=0.25, max_attempts=20))
    ends = of_type(messages, "end")
    assert len(ends) > 1
    assert ends[-1]["has_more"] is False
    assert sum(delivered_ids(rows).values()) == 90


async def test_sync_until_complete_stops_when_an_attempt_makes_no_progress():
    scenario = [
        {"type": "stream_status", "stream_status": {"stream": "customers", "status": "started"}},
        {"sleep": 0.5},
        # the call stops at this state (time is up), but it is not one the destination confirms
        {"type": "source_state", "source_state": {"stream": "ghosts", "data": {}}},
        {"sleep": 60},
    ]
    pipeline = {
        "source": {"type": "test", "config": {"scenario": scenario, "catalog": ["customers"]}},
        "destination": {"type": "test", "config": {"name": "stuck"}},
    }
    messages = await collect(sync_until_complete(pipeline, max_attempts=5, time_limit=0.2))
    ends = of_type(messages, "end")
    assert len(ends) == 1
    assert ends[-1]["reason"] == "time_limit"
    assert ends[-1]["has_more"] is True
