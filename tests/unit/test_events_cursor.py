"""The events cursor in ``source.global``: its saved form and what it remembers."""

from __future__ import annotations

from stripe_sync.sources.stripe.events import EventsCursor


def test_the_cursor_round_trips_through_the_global_state():
    cursor = EventsCursor(
        1000, {"evt_b": 995, "evt_a": 1002}, "2026-01-01T00:00:00Z", ["customers"]
    )
    saved = cursor.to_state()
    assert saved == {
        "events": {
            "cursor_created": 1000,
            "seen": {"evt_b": 995, "evt_a": 1002},
            "run_started_at": "2026-01-01T00:00:00Z",
            "streams": ["customers"],
        }
    }
    again = EventsCursor.from_state(saved)
    assert again is not None
    assert (again.created, set(again.seen), again.run, again.streams) == (
        1000,
        {"evt_a", "evt_b"},
        "2026-01-01T00:00:00Z",
        ["customers"],
    )


def test_no_cursor_in_an_empty_or_foreign_global_state():
    assert EventsCursor.from_state({}) is None
    assert EventsCursor.from_state({"events": {"cursor_created": "soon"}}) is None
    assert EventsCursor.from_state(None) is None


def test_advancing_forgets_ids_the_next_poll_cannot_see_and_never_goes_back():
    seen = {"old": 1000, "older": 1099, "edge": 1100, "new": 1101}
    cursor = EventsCursor(1000, seen)
    cursor.advance(1100)
    assert cursor.seen is seen and set(seen) == {"edge", "new"}
    cursor.advance(900)
    assert cursor.created == 1100


def test_a_backlogs_position_round_trips_and_is_dropped_when_absent():
    cursor = EventsCursor(1000, {}, None, ["customers"], after=("evt_x", 990))
    saved = cursor.to_state()
    assert saved["events"]["after"] == {"id": "evt_x", "created": 990}
    again = EventsCursor.from_state(saved)
    assert again is not None and again.after == ("evt_x", 990)
    del saved["events"]["after"]
    again = EventsCursor.from_state(saved)
    assert again is not None and again.after is None


def test_seen_events_keep_their_times_so_a_later_cursor_forgets_only_older_ones():
    cursor = EventsCursor(1000, {"evt_old": 1000, "evt_new": 1050}, None, ["customers"])
    again = EventsCursor.from_state(cursor.to_state())
    assert again is not None
    again.advance(1020)
    assert set(again.seen) == {"evt_new"}


def test_the_earlier_form_of_seen_ids_is_read():
    saved = {"events": {"cursor_created": 1000, "seen_ids": ["evt_a"], "streams": []}}
    cursor = EventsCursor.from_state(saved)
    assert cursor is not None and cursor.seen == {"evt_a": 1000}
