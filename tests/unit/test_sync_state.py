"""SyncState coercion: missing sections read as empty; an unreadable state is a config_error
naming the field, never a traceback and never a silent restart."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from stripe_sync.protocol.errors import ConfigError
from stripe_sync.protocol.state import coerce_sync_state, empty_state

EMPTY: dict[str, Any] = {"source": {"streams": {}, "global": {}}, "engine": {}}

SAVED: dict[str, Any] = {
    "source": {
        "streams": {"customers": {"remaining": [{"lt": "2024-04-17T00:00:00Z"}], "cursor": None}},
        "global": {"events_cursor": "evt_1"},
    },
    "engine": {
        "pipeline": "default",
        "sync_run_id": "run_1",
        "started_at": "2024-04-17T00:00:00Z",
        "mode": "live",
        "terminal_streams": {"charges": "complete", "issuing_cards": "skipped"},
        "streams": {
            "charges": {
                "completed_ranges": [{"lt": "2024-04-17T00:00:00Z"}],
                "last_completed_run_started_at": "2024-04-17T00:00:00Z",
            }
        },
        "run_progress": {"started_at": "2024-04-17T00:00:00Z", "elapsed_ms": 1200},
        "lifetime": {"record_count": 10, "request_count": 2, "elapsed_ms": 1200},
    },
}


@pytest.mark.parametrize("value", [None, {}], ids=["none", "empty object"])
def test_nothing_reads_as_an_empty_state(value: Any) -> None:
    assert coerce_sync_state(value) == EMPTY


def test_empty_state_is_fresh_each_time() -> None:
    first = empty_state()
    first["source"]["streams"]["customers"] = {"cursor": "x"}
    assert empty_state() == EMPTY


def test_a_saved_state_comes_back_unchanged() -> None:
    assert coerce_sync_state(copy.deepcopy(SAVED)) == SAVED


@pytest.mark.parametrize(
    ("partial", "expected"),
    [
        pytest.param(
            {"source": {"streams": {"customers": {"cursor": "cus_9"}}}},
            {"source": {"streams": {"customers": {"cursor": "cus_9"}}, "global": {}}, "engine": {}},
            id="only source streams",
        ),
        pytest.param(
            {"source": {"global": {"events_cursor": "evt_1"}}},
            {"source": {"streams": {}, "global": {"events_cursor": "evt_1"}}, "engine": {}},
            id="only source global",
        ),
        pytest.param(
            {"engine": {"sync_run_id": "run_1"}},
            {"source": {"streams": {}, "global": {}}, "engine": {"sync_run_id": "run_1"}},
            id="only engine",
        ),
        pytest.param(
            {"source": {}, "engine": {}, "annotations": {"written_by": "v2"}},
            {**EMPTY, "annotations": {"written_by": "v2"}},
            id="unknown top-level section kept",
        ),
    ],
)
def test_missing_sections_read_as_empty(partial: dict[str, Any], expected: dict[str, Any]) -> None:
    assert coerce_sync_state(partial) == expected


def test_the_result_is_a_copy() -> None:
    given = copy.deepcopy(SAVED)
    state = coerce_sync_state(given)
    state["source"]["streams"]["customers"]["cursor"] = "changed"
    state["engine"]["terminal_streams"]["refunds"] = "failed"
    assert given == SAVED


@pytest.mark.parametrize(
    ("value", "names"),
    [
        pytest.param("{}", "state must be a JSON object, got str", id="a string"),
        pytest.param([SAVED], "state must be a JSON object, got list", id="a list"),
        pytest.param({"source": []}, "source: ", id="source a list"),
        pytest.param({"source": None}, "source: ", id="source null"),
        pytest.param({"source": {"streams": ["customers"]}}, "source.streams: ", id="streams"),
        pytest.param({"source": {"global": "evt_1"}}, "source.global: ", id="global"),
        pytest.param({"engine": "x"}, "engine: ", id="engine a string"),
        pytest.param({"engine": {"mode": "turbo"}}, "engine.mode: ", id="mode"),
        pytest.param({"engine": {"sync_run_id": 7}}, "engine.sync_run_id: ", id="run id"),
        pytest.param(
            {"engine": {"terminal_streams": {"customers": "done"}}},
            "engine.terminal_streams.customers: ",
            id="terminal status",
        ),
        pytest.param(
            {"engine": {"streams": {"customers": {"completed_ranges": [{"gte": "2024-01-01"}]}}}},
            "engine.streams.customers.completed_ranges.0.lt: Field required",
            id="range without lt",
        ),
        pytest.param(
            {"engine": {"streams": {"customers": {"completed_ranges": [{"lt": "soon"}]}}}},
            "engine.streams.customers.completed_ranges.0.lt: ",
            id="range with a bad time",
        ),
        pytest.param(
            {"engine": {"streams": {"customers": {"completed_ranges": {"lt": "x"}}}}},
            "engine.streams.customers.completed_ranges: ",
            id="ranges not a list",
        ),
        pytest.param(
            {"engine": {"lifetime": {"record_count": "many"}}},
            "engine.lifetime.record_count: ",
            id="lifetime count",
        ),
        pytest.param(
            {"engine": {"run_progress": {"elapsed_ms": 5}}},
            "engine.run_progress.started_at: Field required",
            id="run progress",
        ),
    ],
)
def test_an_unreadable_state_is_a_config_error_naming_the_field(value: Any, names: str) -> None:
    with pytest.raises(ConfigError) as caught:
        coerce_sync_state(value)
    text = str(caught.value)
    if not names.startswith("state must"):
        names = f"state is not a valid sync state: {names}"
    assert text.startswith(names)
    assert "\n" not in text
    assert caught.value.failure_type == "config_error"


def test_the_error_names_where_the_state_came_from() -> None:
    with pytest.raises(
        ConfigError, match=r"^--state state\.json is not a valid sync state: engine\.mode"
    ):
        coerce_sync_state({"engine": {"mode": "turbo"}}, where="--state state.json")
