"""Range maths: time parsing and formatting, merging ranges and measuring coverage."""

from __future__ import annotations

import random
import re
from itertools import pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stripe_sync.protocol.ranges import (
    Range,
    coverage,
    format_time,
    make_range,
    merge_ranges,
    parse_time,
    range_bounds,
)

BASE = parse_time("2024-04-17T00:00:00Z")
SPAN = 40  # the brute-force domain is [BASE, BASE + SPAN)
BEFORE = BASE - 1  # stands for "from the beginning" when counting seconds
CANONICAL = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


def r(gte: int | None, lt: int) -> Range:
    """A range in seconds relative to BASE; ``gte=None`` is open."""
    return make_range(None if gte is None else BASE + gte, BASE + lt)


# ---- times -------------------------------------------------------------------------------------


def test_parse_time_reads_utc_offsets_and_naive_times_alike() -> None:
    assert parse_time("2024-04-17T00:00:00Z") == 1713312000
    assert parse_time("2024-04-17T02:00:00+02:00") == 1713312000
    assert parse_time("2024-04-17T00:00:00") == 1713312000
    assert parse_time("2024-04-17T00:00:00.900Z") == 1713312000


def test_parse_time_refuses_garbage() -> None:
    with pytest.raises(ValueError):
        parse_time("next tuesday")


def test_format_time_is_second_precision_utc() -> None:
    assert format_time(1713312000) == "2024-04-17T00:00:00Z"
    assert format_time(1713312000.75) == "2024-04-17T00:00:00Z"
    assert format_time(0) == "1970-01-01T00:00:00Z"


@given(st.integers(min_value=0, max_value=parse_time("9999-12-31T23:59:59Z")))
def test_format_then_parse_is_the_identity(seconds: int) -> None:
    text = format_time(seconds)
    assert CANONICAL.match(text)
    assert parse_time(text) == seconds


def test_make_range_and_range_bounds_round_trip() -> None:
    assert make_range(1713312000, 1713398400) == {
        "gte": "2024-04-17T00:00:00Z",
        "lt": "2024-04-18T00:00:00Z",
    }
    assert make_range(None, 1713398400) == {"lt": "2024-04-18T00:00:00Z"}
    assert range_bounds({"gte": "2024-04-17T00:00:00Z", "lt": "2024-04-18T00:00:00Z"}) == (
        1713312000,
        1713398400,
    )
    assert range_bounds({"lt": "2024-04-18T00:00:00Z"}) == (None, 1713398400)


# ---- merging -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ranges", "merged"),
    [
        pytest.param([], [], id="nothing"),
        pytest.param([r(0, 10), r(5, 20)], [r(0, 20)], id="overlapping"),
        pytest.param([r(10, 20), r(0, 10)], [r(0, 20)], id="adjacent, unsorted"),
        pytest.param([r(0, 10), r(11, 20)], [r(0, 10), r(11, 20)], id="one second apart"),
        pytest.param([r(0, 30), r(5, 10)], [r(0, 30)], id="contained"),
        pytest.param([r(5, 5), r(9, 3)], [], id="empty and inverted vanish"),
        pytest.param([r(0, 10), r(10, 10), r(10, 20)], [r(0, 20)], id="empty between"),
        pytest.param([r(5, 10), r(None, 6)], [r(None, 10)], id="open start absorbs overlap"),
        pytest.param([r(None, 5), r(5, 9)], [r(None, 9)], id="open start absorbs adjacent"),
        pytest.param([r(None, 5), r(None, 3)], [r(None, 5)], id="two open starts"),
        pytest.param([r(None, 3), r(7, 9)], [r(None, 3), r(7, 9)], id="open start apart"),
    ],
)
def test_merge_ranges(ranges: list[Range], merged: list[Range]) -> None:
    assert merge_ranges(ranges) == merged


def test_merge_ranges_normalises_time_formats() -> None:
    merged = merge_ranges(
        [
            {"gte": "2024-04-17T02:00:00+02:00", "lt": "2024-04-17T12:00:00Z"},
            {"gte": "2024-04-17T12:00:00Z", "lt": "2024-04-18T00:00:00Z"},
        ]
    )
    assert merged == [{"gte": "2024-04-17T00:00:00Z", "lt": "2024-04-18T00:00:00Z"}]


offsets = st.integers(min_value=0, max_value=SPAN)
ranges_strategy = st.builds(r, st.none() | offsets, offsets)


def seconds(ranges: list[Range]) -> set[int]:
    """Every second the ranges cover; an open start counts from BEFORE."""
    covered: set[int] = set()
    for value in ranges:
        gte, lt = range_bounds(value)
        covered.update(range(BEFORE if gte is None else gte, lt))
    return covered


@given(st.lists(ranges_strategy, max_size=8))
def test_merged_ranges_are_sorted_disjoint_non_adjacent_and_cover_the_same_seconds(
    ranges: list[Range],
) -> None:
    merged = merge_ranges(ranges)
    bounds = [range_bounds(value) for value in merged]
    for gte, lt in bounds:
        assert gte is None or gte < lt  # no empty range survives
    for (_, previous_lt), (gte, _) in pairwise(bounds):
        assert gte is not None  # only the first range may be open
        assert gte > previous_lt  # sorted, disjoint and not even touching
    for value in merged:
        assert all(CANONICAL.match(text) for text in value.values())
    assert seconds(merged) == seconds(ranges)


@given(st.lists(ranges_strategy, max_size=8), st.randoms(use_true_random=False))
def test_merging_ignores_order_and_is_idempotent(ranges: list[Range], rng: random.Random) -> None:
    merged = merge_ranges(ranges)
    shuffled = list(ranges)
    rng.shuffle(shuffled)
    assert merge_ranges(shuffled) == merged
    assert merge_ranges(merged) == merged


# ---- coverage ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("completed", "expected"),
    [
        pytest.param([], 0.0, id="nothing done"),
        pytest.param([r(0, 100)], 1.0, id="all done"),
        pytest.param([r(0, 25)], 0.25, id="a quarter"),
        pytest.param([r(0, 25), r(10, 50)], 0.5, id="overlaps count once"),
        pytest.param([r(None, 10), r(90, 200)], 0.2, id="ends outside the total are clipped"),
        pytest.param([r(200, 300)], 0.0, id="entirely outside"),
    ],
)
def test_coverage_of_a_total_range(completed: list[Range], expected: float) -> None:
    assert coverage(completed, r(0, 100)) == pytest.approx(expected)


def test_coverage_of_an_open_total_is_all_or_nothing() -> None:
    total = r(None, 100)
    assert coverage([r(None, 100)], total) == 1.0
    assert coverage([r(None, 150)], total) == 1.0
    assert coverage([r(None, 99)], total) == 0.0
    assert coverage([r(0, 100)], total) == 0.0  # the beginning is unknown, so not measurable


def test_coverage_of_an_empty_total_is_complete() -> None:
    assert coverage([], r(10, 10)) == 1.0


@given(st.lists(ranges_strategy, max_size=8), offsets, offsets)
def test_coverage_is_covered_seconds_over_total_seconds(
    completed: list[Range], low: int, high: int
) -> None:
    if low == high:
        high = low + 1
    low, high = sorted((low, high))
    total = r(low, high)
    total_seconds = set(range(BASE + low, BASE + high))
    fraction = coverage(completed, total)
    assert 0.0 <= fraction <= 1.0
    assert fraction == pytest.approx(len(seconds(completed) & total_seconds) / len(total_seconds))
