"""Protocol models: every message of protocol.md round-trips through the models and the codec;
malformed messages are refused with a message naming the field; unknown fields survive."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from stripe_sync.protocol.errors import SyncError
from stripe_sync.protocol.messages import (
    PAYLOAD_MODELS,
    ConfiguredCatalog,
    ProtocolError,
    SyncState,
    dump_payload,
    envelope,
    parse_message,
    validate_payload,
)
from stripe_sync.protocol.ndjson import decode_line, encode

CUSTOMERS_STREAM: dict[str, Any] = {
    "name": "customers",
    "json_schema": {
        "type": "object",
        "properties": {"id": {"type": "string"}, "created": {"type": "integer"}},
    },
    "primary_key": [["id"], ["_account_id"]],
    "supports_time_range": True,
    "metadata": {"endpoint": "/v1/customers", "expandable": ["default_source"]},
}
EVENTS_STREAM: dict[str, Any] = {
    "name": "events",
    "json_schema": {"type": "object"},
    "primary_key": [["id"]],
    "supports_time_range": False,
}
ERROR: dict[str, Any] = {
    "level": "stream",
    "failure_type": "permission_error",
    "message": "The provided key does not have access to issuing cards",
    "stream": "issuing_cards",
    "account": "acct_1OaB2cD3eF4gH5iJ",
    "http_status": 403,
    "request_id": "req_8kT3xPq0aZ",
    "retry_after_s": 1.5,
    "hint": "grant the restricted key 'issuing_cards: read'",
    "stack_trace": 'Traceback (most recent call last):\n  File "client.py", line 88',
}
ERROR_COUNTS: list[dict[str, Any]] = [
    {"level": "stream", "failure_type": "permission_error", "stream": "issuing_cards", "count": 3}
]
LIFETIME: dict[str, Any] = {"record_count": 120500, "request_count": 1402, "elapsed_ms": 3600000}
PROGRESS: dict[str, Any] = {
    "started_at": "2024-04-17T00:00:00Z",
    "elapsed_ms": 61250,
    "record_count": 25000,
    "state_count": 250,
    "request_count": 260,
    "retry_count": 4,
    "rate_limited_count": 2,
    "records_per_second": 408.2,
    "window_records_per_second": 512.0,
    "requests_per_second": 4.2,
    "budget_rps": 25.0,
    "writes": {"inserted": 24000, "updated": 900, "unchanged": 80, "deleted": 20},
    "lifetime": LIFETIME,
    "live": {"events_per_second": 3.5, "lag_seconds": 1.2, "cursor": "evt_1PqR2sT3uV"},
    "streams": {
        "acct_1OaB2cD3eF4gH5iJ/customers": {
            "status": "started",
            "account": "acct_1OaB2cD3eF4gH5iJ",
            "record_count": 25000,
            "state_count": 250,
            "request_count": 250,
            "total_range": {"gte": "2019-01-01T00:00:00Z", "lt": "2024-04-17T00:00:00Z"},
            "completed_ranges": [
                {"gte": "2019-01-01T00:00:00Z", "lt": "2021-06-01T00:00:00Z"},
                {"gte": "2023-01-01T00:00:00Z", "lt": "2024-04-17T00:00:00Z"},
            ],
            "coverage": 0.712,
            "eta_seconds": 24.5,
            "errors": [],
        },
        "acct_1OaB2cD3eF4gH5iJ/issuing_cards": {
            "status": "skipped",
            "reason": "issuing is not enabled for this account",
            "account": "acct_1OaB2cD3eF4gH5iJ",
            "record_count": 0,
            "state_count": 0,
            "request_count": 1,
            "completed_ranges": [],
            "errors": [ERROR],
        },
        "acct_1OaB2cD3eF4gH5iJ/invoices": {
            "status": "pending",
            "record_count": 0,
            "state_count": 0,
            "request_count": 0,
            "completed_ranges": [],
            "errors": [],
        },
    },
    "errors": [ERROR],
    "error_counts": ERROR_COUNTS,
    "eta_seconds": 30.0,
}
SYNC_STATE: dict[str, Any] = {
    "source": {
        "streams": {
            "acct_1OaB2cD3eF4gH5iJ/customers": {
                "remaining": [{"gte": "2021-06-01T00:00:00Z", "lt": "2023-01-01T00:00:00Z"}],
                "cursor": "cus_PqR2sT3uV",
            }
        },
        "global": {"events_cursor": "evt_1PqR2sT3uV", "events_created_gte": 1713312000},
    },
    "engine": {
        "pipeline": "default",
        "sync_run_id": "run_2024-04-17T00-00-00Z",
        "started_at": "2024-04-17T00:00:00Z",
        "mode": "backfill",
        "terminal_streams": {
            "acct_1OaB2cD3eF4gH5iJ/issuing_cards": "skipped",
            "acct_1OaB2cD3eF4gH5iJ/charges": "complete",
            "acct_1OaB2cD3eF4gH5iJ/refunds": "failed",
        },
        "streams": {
            "acct_1OaB2cD3eF4gH5iJ/customers": {
                "completed_ranges": [{"gte": "2019-01-01T00:00:00Z", "lt": "2021-06-01T00:00:00Z"}]
            },
            "acct_1OaB2cD3eF4gH5iJ/charges": {
                "completed_ranges": [{"lt": "2024-04-17T00:00:00Z"}],
                "last_completed_run_started_at": "2024-04-17T00:00:00Z",
            },
        },
        "run_progress": PROGRESS,
        "lifetime": LIFETIME,
    },
}

# type -> realistic payloads; every field given, so a round trip must give back exactly this.
EXAMPLES: dict[str, list[dict[str, Any]]] = {
    "catalog": [{"streams": [CUSTOMERS_STREAM, EVENTS_STREAM]}],
    "spec": [
        {
            "config": {
                "type": "object",
                "required": ["api_key"],
                "properties": {
                    "api_key": {"type": "string", "secret": True},
                    "start": {"type": "string", "format": "date-time"},
                    "accounts": {"type": "array", "items": {"type": "string"}, "default": []},
                },
            }
        }
    ],
    "connection_status": [
        {"status": "succeeded"},
        {"status": "failed", "message": "Invalid API Key provided: sk_test_****1234"},
    ],
    "record": [
        {
            "stream": "customers",
            "data": {
                "id": "cus_PqR2sT3uV",
                "object": "customer",
                "created": 1713312000,
                "email": "zoë@example.com",
                "description": None,
                "metadata": {"plan": "pro"},
                "_account_id": "acct_1OaB2cD3eF4gH5iJ",
            },
            "emitted_at": "2024-04-17T00:00:05Z",
            "version": 1713312004999,
            "account": "acct_1OaB2cD3eF4gH5iJ",
        },
        {
            "stream": "customers",
            "data": {"id": "cus_PqR2sT3uV", "_account_id": "acct_1OaB2cD3eF4gH5iJ"},
            "emitted_at": "2024-04-17T00:10:00Z",
            "version": 1713312600000,
            "deleted": True,
            "account": "acct_1OaB2cD3eF4gH5iJ",
        },
        {"stream": "events", "data": {"id": "evt_1"}, "emitted_at": "2024-04-17T00:00:05Z"},
    ],
    "source_state": [
        {
            "state_type": "stream",
            "stream": "customers",
            "data": {"remaining": [{"lt": "2024-04-17T00:00:00Z"}], "cursor": None},
            "account": "acct_1OaB2cD3eF4gH5iJ",
        },
        {"state_type": "global", "data": {"events_cursor": "evt_1PqR2sT3uV"}},
    ],
    "stream_status": [
        {
            "stream": "customers",
            "status": "started",
            "total_range": {"gte": "2019-01-01T00:00:00Z", "lt": "2024-04-17T00:00:00Z"},
            "account": "acct_1OaB2cD3eF4gH5iJ",
        },
        {"stream": "events", "status": "started"},
        {
            "stream": "customers",
            "status": "range_complete",
            "range": {"gte": "2023-01-01T00:00:00Z", "lt": "2024-04-17T00:00:00Z"},
        },
        {
            "stream": "customers",
            "status": "range_complete",
            "range": {"lt": "2019-01-01T00:00:00Z"},
        },
        {"stream": "customers", "status": "complete"},
        {
            "stream": "issuing_cards",
            "status": "skipped",
            "reason": "issuing is not enabled for this account",
        },
        {"stream": "refunds", "status": "failed", "reason": "stream error: 500 from /v1/refunds"},
        {"stream": "customers", "status": "reset", "reason": "the events window was missed"},
    ],
    "error": [
        ERROR,
        {
            "level": "global",
            "failure_type": "auth_error",
            "message": "Invalid API Key provided",
            "http_status": 401,
        },
        {"level": "transient", "failure_type": "rate_limit", "message": "429 Too Many Requests"},
        {"level": "account", "failure_type": "config_error", "message": "account not connected"},
        {"level": "global", "failure_type": "transient_error", "message": "connection lost"},
        {"level": "global", "failure_type": "system_error", "message": "connector crashed"},
    ],
    "source_stats": [
        {
            "stream": "customers",
            "account": "acct_1OaB2cD3eF4gH5iJ",
            "request_count": 12,
            "retry_count": 1,
            "rate_limited_count": 1,
            "event_count": 40,
            "webhooks_rejected": 2,
            "budget_rps": 25.0,
            "live_lag_s": 0.8,
            "last_event_at": "2024-04-17T00:09:59Z",
        }
    ],
    "write_stats": [
        {"stream": "customers", "inserted": 95, "updated": 3, "unchanged": 1, "deleted": 1}
    ],
    "log": [
        {"level": "debug", "message": "GET /v1/customers 200"},
        {"level": "info", "message": "backfill started"},
        {
            "level": "warn",
            "message": "duplicate started: customers",
            "data": {"stream": "customers"},
        },
        {"level": "error", "message": "stream error: refunds: boom", "data": ["a", 1, None]},
    ],
    "control": [{"config": {"api_key": "sk_test_123", "webhook_secret": "whsec_rotated"}}],
    "progress": [PROGRESS],
    "end": [
        {
            "reason": reason,
            "has_more": reason != "complete",
            "ending_state": SYNC_STATE,
            "request_progress": PROGRESS,
            "run_progress": PROGRESS,
        }
        for reason in ("complete", "time_limit", "state_limit", "aborted", "error")
    ],
}
CASES = [
    pytest.param(kind, payload, id=f"{kind}-{number}")
    for kind, payloads in EXAMPLES.items()
    for number, payload in enumerate(payloads)
]


def test_there_is_an_example_of_every_message_type() -> None:
    assert set(EXAMPLES) == set(PAYLOAD_MODELS)


def test_every_stream_status_has_an_example() -> None:
    statuses = {payload["status"] for payload in EXAMPLES["stream_status"]}
    assert statuses == {"started", "range_complete", "complete", "skipped", "failed", "reset"}


@pytest.mark.parametrize(("kind", "payload"), CASES)
def test_round_trip_through_models_and_codec(kind: str, payload: dict[str, Any]) -> None:
    message = {"type": kind, kind: copy.deepcopy(payload)}
    parsed_kind, model = parse_message(message)
    assert parsed_kind == kind
    assert isinstance(model, PAYLOAD_MODELS[kind])
    assert dump_payload(model) == payload

    line = encode(envelope(kind, model))
    decoded = decode_line(line, 1)
    assert decoded == message
    again_kind, again = parse_message(decoded)
    assert (again_kind, again) == (kind, model)
    assert message == {"type": kind, kind: payload}  # parsing does not touch its input


def test_configured_catalog_round_trips() -> None:
    configured = {
        "streams": [
            {
                **CUSTOMERS_STREAM,
                "time_range": {"gte": "2024-01-01T00:00:00Z", "lt": "2024-04-17T00:00:00Z"},
                "backfill_limit": 1000,
                "options": {"expand": ["data.default_source"]},
            },
            {**EVENTS_STREAM, "time_range": {"lt": "2024-04-17T00:00:00Z"}},
        ],
        "live": True,
    }
    model = validate_payload(ConfiguredCatalog, configured, "catalog")
    assert decode_line(encode(dump_payload(model)), 1) == configured


def test_sync_state_round_trips() -> None:
    model = SyncState.model_validate(SYNC_STATE)
    assert decode_line(encode(dump_payload(model)), 1) == SYNC_STATE


def test_envelope_takes_plain_payloads_too() -> None:
    log = {"level": "info", "message": "hello"}
    assert envelope("log", log) == {"type": "log", "log": log}


def test_engine_annotations_on_the_envelope_are_accepted() -> None:
    message = {
        "type": "log",
        "log": {"level": "info", "message": "hello"},
        "_emitted_by": "source/stripe",
        "_ts": "2024-04-17T00:00:05Z",
    }
    assert parse_message(message) == parse_message({"type": "log", "log": message["log"]})


def test_absent_optionals_are_left_out_and_defaults_filled_in() -> None:
    _, model = parse_message({"type": "write_stats", "write_stats": {"stream": "customers"}})
    assert dump_payload(model) == {
        "stream": "customers",
        "inserted": 0,
        "updated": 0,
        "unchanged": 0,
        "deleted": 0,
    }
    _, state = parse_message({"type": "source_state", "source_state": {"stream": "customers"}})
    assert dump_payload(state) == {"state_type": "stream", "stream": "customers"}


def test_unknown_fields_are_kept_at_every_level() -> None:
    message = {
        "type": "progress",
        "progress": {
            **PROGRESS,
            "phase": "backfill",
            "writes": {**PROGRESS["writes"], "skipped": 7},
            "streams": {
                "customers": {
                    "status": "started",
                    "record_count": 1,
                    "state_count": 0,
                    "request_count": 1,
                    "completed_ranges": [{"lt": "2024-04-17T00:00:00Z", "precision": "s"}],
                    "errors": [],
                    "pages": 12,
                }
            },
        },
        "_ts": "2024-04-17T00:00:05Z",
    }
    _, model = parse_message(message)
    decoded = decode_line(encode(envelope("progress", model)), 1)
    assert decoded == {"type": "progress", "progress": message["progress"]}


def test_unknown_fields_on_a_record_and_a_catalog_stream_are_kept() -> None:
    record = {
        "stream": "customers",
        "data": {"id": "c"},
        "emitted_at": "2024-04-17T00:00:05Z",
        "sequence": 7,
    }
    _, model = parse_message({"type": "record", "record": record})
    assert dump_payload(model) == record

    catalog = {"streams": [{**EVENTS_STREAM, "cursor_field": ["created"]}]}
    _, model = parse_message({"type": "catalog", "catalog": catalog})
    assert dump_payload(model) == catalog


def _record(**changes: Any) -> dict[str, Any]:
    return {
        "type": "record",
        "record": {
            "stream": "customers",
            "data": {"id": "c"},
            "emitted_at": "2024-04-17T00:00:05Z",
            **changes,
        },
    }


def _status(**payload: Any) -> dict[str, Any]:
    return {"type": "stream_status", "stream_status": {"stream": "customers", **payload}}


def _progress(**changes: Any) -> dict[str, Any]:
    return {"type": "progress", "progress": {**PROGRESS, **changes}}


MALFORMED = [
    pytest.param(["record"], "a message must be a JSON object, got list", id="not an object"),
    pytest.param({"record": {}}, "unknown message type: None", id="no type"),
    pytest.param({"type": "recrod", "recrod": {}}, "unknown message type: 'recrod'", id="typo"),
    pytest.param({"type": 3}, "unknown message type: 3", id="type not a string"),
    pytest.param({"type": "record"}, "record: missing payload field 'record'", id="no payload"),
    pytest.param({"type": "record", "record": "x"}, "record: ", id="payload not an object"),
    pytest.param(_record(data=["c"]), "record.data: ", id="record data a list"),
    pytest.param(_record(stream=None), "record.stream: ", id="record stream null"),
    pytest.param(_record(version="latest"), "record.version: ", id="record version"),
    pytest.param(_record(deleted="maybe"), "record.deleted: ", id="record deleted"),
    pytest.param(
        {"type": "record", "record": {"stream": "c", "data": {}}},
        "record.emitted_at: Field required",
        id="record without emitted_at",
    ),
    pytest.param(
        {"type": "source_state", "source_state": {"data": {}}},
        "source_state.stream: ",
        id="stream state without stream",
    ),
    pytest.param(
        {"type": "source_state", "source_state": {"state_type": "account", "data": {}}},
        "source_state.state_type: ",
        id="unknown state type",
    ),
    pytest.param(_status(status="done"), "stream_status.status: ", id="unknown status"),
    pytest.param(_status(status="range_complete"), "stream_status.range: ", id="no range"),
    pytest.param(
        _status(status="range_complete", range={"gte": "2024-01-01T00:00:00Z"}),
        "stream_status.range.lt: Field required",
        id="range without lt",
    ),
    pytest.param(
        _status(status="range_complete", range={"lt": "next tuesday"}),
        "stream_status.range.lt: ",
        id="range with a bad time",
    ),
    pytest.param(
        _status(status="started", total_range={"gte": "2024-13-01T00:00:00Z", "lt": "x"}),
        "stream_status.total_range.gte: ",
        id="total_range with a bad time",
    ),
    pytest.param(_status(status="skipped"), "stream_status.reason: ", id="skipped, no reason"),
    pytest.param(_status(status="failed", reason=""), "stream_status.reason: ", id="failed"),
    pytest.param(_status(status="reset"), "stream_status.reason: ", id="reset, no reason"),
    pytest.param(
        {"type": "error", "error": {**ERROR, "level": "fatal"}}, "error.level: ", id="level"
    ),
    pytest.param(
        {"type": "error", "error": {**ERROR, "failure_type": "oops"}},
        "error.failure_type: ",
        id="failure type",
    ),
    pytest.param(
        {"type": "error", "error": {**ERROR, "http_status": "forbidden"}},
        "error.http_status: ",
        id="http status",
    ),
    pytest.param(
        {"type": "catalog", "catalog": {"streams": [{**EVENTS_STREAM, "primary_key": ["id"]}]}},
        "catalog.streams.0.primary_key.0: ",
        id="primary key not a list of key paths",
    ),
    pytest.param(
        {"type": "connection_status", "connection_status": {"status": "ok"}},
        "connection_status.status: ",
        id="connection status",
    ),
    pytest.param(
        {"type": "write_stats", "write_stats": {"stream": "c", "inserted": "many"}},
        "write_stats.inserted: ",
        id="write stats count",
    ),
    pytest.param(
        {"type": "log", "log": {"level": "fatal", "message": "x"}}, "log.level: ", id="log level"
    ),
    pytest.param({"type": "control", "control": {"config": "x"}}, "control.config: ", id="control"),
    pytest.param({"type": "spec", "spec": {}}, "spec.config: Field required", id="spec"),
    pytest.param(
        _progress(streams={"refunds": {"status": "started", "coverage": 1.5}}),
        "progress.streams.refunds.coverage: ",
        id="coverage above one",
    ),
    pytest.param(_progress(live={"lag_seconds": "late"}), "progress.live.lag_seconds: ", id="lag"),
    pytest.param(
        {"type": "progress", "progress": {"elapsed_ms": 1}},
        "progress.started_at: Field required",
        id="progress without started_at",
    ),
    pytest.param(
        {
            "type": "end",
            "end": {
                **EXAMPLES["end"][0],
                "ending_state": {"engine": {"terminal_streams": {"customers": "done"}}},
            },
        },
        "end.ending_state.engine.terminal_streams.customers: ",
        id="end with a bad ending state",
    ),
    pytest.param(
        {"type": "end", "end": {**EXAMPLES["end"][0], "reason": "finished"}},
        "end.reason: ",
        id="end reason",
    ),
]


@pytest.mark.parametrize(("message", "names"), MALFORMED)
def test_malformed_messages_are_refused_naming_the_field(message: Any, names: str) -> None:
    with pytest.raises(ProtocolError) as caught:
        parse_message(message)
    text = str(caught.value)
    assert text.startswith(names)
    assert "\n" not in text
    assert isinstance(caught.value, SyncError)
    assert caught.value.failure_type == "system_error"


def test_validate_payload_names_the_field_under_the_given_prefix() -> None:
    bad = {"streams": [{**EVENTS_STREAM, "backfill_limit": 0}]}
    with pytest.raises(ProtocolError, match=r"^configured catalog\.streams\.0\.backfill_limit: "):
        validate_payload(ConfiguredCatalog, bad, "configured catalog")
