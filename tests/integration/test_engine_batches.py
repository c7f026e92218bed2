"""The engine moves batches of messages: same results as one message at a time, the confirmation
watermark and the time limit hold inside a batch, and records are counted per batch."""

from __future__ import annotations

from tests.support.batches import (
    SCRIPTED_SOURCE,
    UNBATCHED_DESTINATION,
    UNBATCHED_SOURCE,
    record,
    state,
    status,
)
from tests.support.engine import comparable, make_pipeline, of_type, pinned_clock, run_sync

from stripe_sync.connectors.testing.destination import TestDestination

STREAMS = {
    "customers": {"records": 230, "page_size": 20},
    "invoices": {"records": 95, "page_size": 10, "supports_time_range": False},
    "empty": {"records": 0},
}


async def test_batched_and_one_at_a_time_connectors_give_the_same_run():
    runs = {}
    for label, source, destination in [
        ("batched", "test", "test"),
        ("unbatched", UNBATCHED_SOURCE, UNBATCHED_DESTINATION),
        ("mixed", UNBATCHED_SOURCE, "test"),
    ]:
        pipeline = make_pipeline(STREAMS, name=label, destination={"batch_size": 7})
        pipeline["source"]["type"] = source
        pipeline["destination"]["type"] = destination
        TestDestination.stores.pop(label, None)
        messages, end = await run_sync(pipeline, clock=pinned_clock())
        assert end["reason"] == "complete"
        assert end["run_progress"]["record_count"] == 325
        assert end["run_progress"]["streams"]["customers"]["record_count"] == 230
        runs[label] = (comparable(messages), TestDestination.stores[label])
    assert runs["batched"] == runs["unbatched"] == runs["mixed"]


def scripted(script: list, streams: tuple[str, ...] = ("a", "b"), **destination) -> dict:
    return {
        "name": "scripted",
        "source": {"type": SCRIPTED_SOURCE, "config": {"streams": list(streams), "script": script}},
        "destination": {"type": "test", "config": {"name": "scripted", **destination}},
    }


async def test_a_terminal_status_inside_a_batch_waits_for_the_states_before_it():
    script = [
        [status("a", "started"), status("b", "started")],
        [record("a", 1), record("b", 1), record("a", 2), state("a", 2), state("b", 1)],
        [record("a", 3), state("a", 3), status("a", "complete"), record("b", 2)],
        [state("b", 2), status("b", "complete")],
    ]
    TestDestination.stores.pop("scripted", None)
    messages, end = await run_sync(scripted(script, commit_delay_s=0.05))
    assert end["reason"] == "complete" and end["has_more"] is False
    confirmed = of_type(messages, "source_state")
    assert [(s["stream"], s["data"]["after"]) for s in confirmed] == [
        ("a", 2),
        ("b", 1),
        ("a", 3),
        ("b", 2),
    ]
    assert end["ending_state"]["engine"]["terminal_streams"] == {"a": "complete", "b": "complete"}
    streams = end["run_progress"]["streams"]
    assert (streams["a"]["record_count"], streams["b"]["record_count"]) == (3, 2)
    assert len(TestDestination.stores["scripted"]) == 5
    # a progress message never shows a stream complete before its last state was confirmed
    seen_states = 0
    for message in messages:
        if message["type"] == "source_state":
            seen_states += 1
        elif message["type"] == "progress" and message["progress"]["streams"]["a"]["status"] == (
            "complete"
        ):
            assert seen_states >= 3


async def test_the_time_limit_stops_after_the_first_state_of_a_late_batch():
    script = [
        [status("a", "started")],
        {"sleep": 0.4},
        [record("a", 1), state("a", 1), record("a", 2), state("a", 2), status("a", "complete")],
    ]
    TestDestination.stores.pop("scripted", None)
    messages, end = await run_sync(scripted(script, streams=("a",)), time_limit=0.1)
    assert end["reason"] == "time_limit" and end["has_more"] is True
    assert [s["data"]["after"] for s in of_type(messages, "source_state")] == [1]
    assert end["ending_state"]["source"]["streams"]["a"] == {"after": 1}
    assert end["run_progress"]["record_count"] == 1
    assert set(TestDestination.stores["scripted"]) == {("a", "a_1")}


async def test_records_of_an_unknown_stream_in_a_batch_are_dropped_with_one_warning():
    script = [
        [status("a", "started")],
        [record("a", 1), record("zz", 1), record("zz", 2), record("a", 2), state("a", 2)],
        [status("a", "complete")],
    ]
    TestDestination.stores.pop("scripted", None)
    messages, end = await run_sync(scripted(script, streams=("a",)))
    assert end["reason"] == "complete"
    warnings = [m["message"] for m in of_type(messages, "log") if "unknown stream" in m["message"]]
    assert warnings == ["unknown stream from source: zz"]
    assert end["run_progress"]["record_count"] == 2
    assert set(TestDestination.stores["scripted"]) == {("a", "a_1"), ("a", "a_2")}
