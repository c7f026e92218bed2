"""Backfill segment maths: reconciling saved state with a run's range, and splitting."""

from __future__ import annotations

import itertools

from hypothesis import given
from hypothesis import strategies as st

from stripe_sync.protocol.ranges import format_time
from stripe_sync.sources.stripe.segments import Segment, backfill_state, plan_split, reconcile


def bounds(segments):
    return sorted((s.gte, s.lt, s.cursor) for s in segments)


def test_without_saved_state_the_whole_range_is_one_segment():
    assert bounds(reconcile(None, 100, 200)) == [(100, 200, None)]
    assert reconcile(None, 200, 200) == []


def test_continuing_the_same_range_keeps_unfinished_segments_and_their_cursors():
    saved = backfill_state((100, 200), [Segment(100, 150), Segment(150, 200, "cus_9")])
    assert bounds(reconcile(saved, 100, 200)) == [(100, 150, None), (150, 200, "cus_9")]


def test_a_later_run_adds_only_the_part_never_covered():
    saved = backfill_state((100, 200), [])
    assert bounds(reconcile(saved, 100, 300)) == [(200, 300, None)]
    assert bounds(reconcile(saved, 200, 300)) == [(200, 300, None)]


def test_failed_stream_keeps_its_remaining_work_and_adds_the_new_range():
    saved = backfill_state((100, 200), [Segment(120, 160, "ch_1")])
    assert bounds(reconcile(saved, 100, 300)) == [(120, 160, "ch_1"), (200, 300, None)]


def test_nothing_outside_the_injected_range_is_fetched():
    saved = backfill_state((0, 1000), [Segment(0, 400), Segment(400, 1000, "x")])
    got = bounds(reconcile(saved, 300, 700))
    assert got == [(300, 400, None), (400, 700, None)]


def test_state_uses_protocol_times():
    state = backfill_state((0, 60), [Segment(0, 60, "c")])
    assert state == {
        "range": {"gte": format_time(0), "lt": format_time(60)},
        "remaining": [{"gte": "1970-01-01T00:00:00Z", "lt": "1970-01-01T00:01:00Z", "cursor": "c"}],
    }


def test_sparse_remainders_are_not_split():
    segment = Segment(0, 1000, "c", fetched=100)
    # 100 objects over [100, 1000): about 11 more expected below 100: not worth a second request
    assert plan_split(segment, 100, idle=8) is None


def test_no_split_without_idle_workers_or_room_below():
    dense = Segment(0, 1000, "c", fetched=100)
    assert plan_split(dense, 999, idle=0) is None
    assert plan_split(Segment(999, 1000, "c", fetched=100), 999, idle=8) is None


@given(
    gte=st.integers(0, 10_000),
    width=st.integers(1, 100_000),
    covered=st.integers(1, 1000),
    fetched=st.integers(100, 100_000),
    idle=st.integers(0, 30),
)
def test_split_pieces_and_the_kept_part_cover_the_remainder_exactly(
    gte, width, covered, fetched, idle
):
    lt = gte + width + covered
    t = lt - covered
    segment = Segment(gte, lt, "cursor", fetched=fetched)
    plan = plan_split(segment, t, idle)
    if plan is None:
        return
    keep_from, pieces = plan
    assert gte < keep_from <= t
    assert len(pieces) <= idle
    seconds = sorted(second for p in pieces for second in (p.gte, p.lt))
    assert seconds[0] == gte
    assert seconds[-1] == keep_from
    ordered = sorted(pieces, key=lambda p: p.gte)
    for before, after in itertools.pairwise(ordered):
        assert before.lt == after.gte
    assert all(p.cursor is None and p.gte < p.lt for p in pieces)
