"""Seeded histories: exact counts inside the window, newest first, denser lately, clustered."""

from __future__ import annotations

from collections import Counter

from stripe_sync.fake_stripe.timeline import MAX_CLUSTER, YEAR_SECONDS, seed_timeline

NOW = 1767225600
START = NOW - 5 * YEAR_SECONDS


def test_count_bounds_and_order():
    timeline = seed_timeline(1, 20_000, START, NOW)
    created = [-key for key in timeline]
    assert len(created) == 20_000
    assert all(START <= second <= NOW for second in created)
    assert created == sorted(created, reverse=True)


def test_recent_years_are_denser_and_some_seconds_are_crowded():
    created = [-key for key in seed_timeline(2, 50_000, START, NOW)]
    last_year = sum(1 for second in created if second >= NOW - YEAR_SECONDS)
    first_year = sum(1 for second in created if second < START + YEAR_SECONDS)
    assert last_year > 4 * first_year
    crowds = Counter(created)
    assert 20 <= max(crowds.values()) <= MAX_CLUSTER
    assert sum(1 for size in crowds.values() if size > 1) > 100


def test_same_seed_same_history_and_extra_seconds_are_added():
    assert seed_timeline(3, 1000, START, NOW) == seed_timeline(3, 1000, START, NOW)
    assert seed_timeline(3, 1000, START, NOW) != seed_timeline(4, 1000, START, NOW)
    crowded = seed_timeline(3, 10, START, NOW, [(NOW - 60, 500)])
    assert len(crowded) == 510
    assert Counter(-key for key in crowded)[NOW - 60] >= 500
