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
            "seen_ids": ["evt_b", "evt_a"],
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
