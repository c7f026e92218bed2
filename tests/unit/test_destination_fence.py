"""The state fence: a state leaves only after the records before it are durable, in order."""

from __future__ import annotations

from typing import Any

from stripe_sync.destinations.fence import StateFence


def stream_state(stream: str, n: int) -> dict[str, Any]:
    return {"type": "source_state", "source_state": {"stream": stream, "data": n}}


def global_state(n: int) -> dict[str, Any]:
    return {"type": "source_state", "source_state": {"state_type": "global", "data": n}}


def test_a_state_with_nothing_pending_leaves_at_once() -> None:
    fence = StateFence()
    fence.hold(stream_state("a", 1), received={"a": 3}, durable={"a": 3})
    assert fence.release({"a": 3}, set()) == [stream_state("a", 1)]


def test_a_stream_state_waits_for_its_own_stream_only() -> None:
    fence = StateFence()
    fence.hold(stream_state("a", 1), received={"a": 5, "b": 2}, durable={})
    assert fence.release({"b": 2}, set()) == []
    assert fence.release({"a": 5}, set()) == [stream_state("a", 1)]


def test_a_global_state_waits_for_every_stream() -> None:
    fence = StateFence()
    fence.hold(global_state(1), received={"a": 5, "b": 2}, durable={})
    assert fence.release({"a": 5}, set()) == []
    assert fence.release({"a": 5, "b": 2}, set()) == [global_state(1)]


def test_states_leave_in_arrival_order() -> None:
    fence = StateFence()
    fence.hold(stream_state("a", 1), received={"a": 5, "b": 0}, durable={})
    fence.hold(stream_state("b", 1), received={"a": 5, "b": 0}, durable={})  # nothing to wait for
    assert fence.release({}, set()) == []  # b's state is behind a's
    assert fence.release({"a": 5}, set()) == [stream_state("a", 1), stream_state("b", 1)]


def test_states_behind_a_failed_stream_are_dropped_not_blocking() -> None:
    fence = StateFence()
    fence.hold(stream_state("a", 1), received={"a": 5, "b": 1}, durable={})
    fence.hold(global_state(1), received={"a": 5, "b": 1}, durable={})
    fence.hold(stream_state("b", 1), received={"a": 5, "b": 1}, durable={})
    assert fence.release({"b": 1}, failed={"a"}) == [stream_state("b", 1)]
    assert len(fence) == 0


def test_releasable_tells_what_a_commit_will_confirm_and_leaves_it_pending() -> None:
    fence = StateFence()
    fence.hold(stream_state("a", 1), received={"a": 5}, durable={})
    fence.hold(stream_state("b", 2), received={"a": 5, "b": 3}, durable={})
    fence.hold(stream_state("a", 3), received={"a": 9, "b": 3}, durable={})
    assert fence.releasable({"a": 5}, {"b"}) == [stream_state("a", 1)]
    assert fence.releasable({"a": 9}, set()) == [stream_state("a", 1)]
    assert len(fence) == 3
    assert fence.release({"a": 9}, {"b"}) == [stream_state("a", 1), stream_state("a", 3)]
    assert len(fence) == 0


def test_covered_includes_states_held_back_by_a_waiting_global_state() -> None:
    fence = StateFence()
    fence.hold(global_state(1), received={"a": 5, "b": 2}, durable={})
    fence.hold(stream_state("a", 2), received={"a": 9, "b": 2}, durable={})
    fence.hold(stream_state("b", 3), received={"a": 9, "b": 4}, durable={})
    durable = {"a": 9}
    assert fence.releasable(durable, set()) == []  # the global state waits for b
    assert fence.covered(durable, set()) == [stream_state("a", 2)]
    assert fence.covered({"a": 9, "b": 4}, set()) == [
        global_state(1),
        stream_state("a", 2),
        stream_state("b", 3),
    ]
