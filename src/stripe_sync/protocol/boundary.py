"""Checks of what a connector hands the engine, at the boundary (exec and in-process alike).

The catalog, statuses, states, errors, stats, logs and a destination's messages are validated
fully against their models (there are few of them); a record only by its envelope (``stream`` a
string, ``data`` an object, ``account`` a string when present), so the per-record cost stays a few
type checks. A violation raises :class:`ProtocolError` naming the connector, the message type and
the field: ``source/exec: invalid stream_status: stream_status.status: Input should be …``.
"""

from __future__ import annotations

from typing import Any

from stripe_sync.protocol.messages import (
    Catalog,
    Control,
    ErrorPayload,
    Log,
    Model,
    ProtocolError,
    SourceState,
    SourceStats,
    StreamStatus,
    WriteStats,
    validate_payload,
)

SOURCE_MODELS: dict[str, type[Model]] = {
    "source_state": SourceState,
    "stream_status": StreamStatus,
    "error": ErrorPayload,
    "source_stats": SourceStats,
    "log": Log,
    "control": Control,
}
DESTINATION_MODELS: dict[str, type[Model]] = {
    "source_state": SourceState,
    "write_stats": WriteStats,
    "error": ErrorPayload,
    "log": Log,
}


def check_catalog(catalog: Any, connector: str) -> dict[str, Any]:
    """The ``catalog`` a source discovered, checked whole; returned unchanged."""
    _check(Catalog, catalog, "catalog", connector)
    checked: dict[str, Any] = catalog
    return checked


def check_source_message(message: Any, connector: str) -> str:
    """Check one message from a source; return its type."""
    return _check_message(message, SOURCE_MODELS, connector, records=True)


def check_destination_message(message: Any, connector: str) -> str:
    """Check one message from a destination; return its type."""
    return _check_message(message, DESTINATION_MODELS, connector, records=False)


def _check_message(
    message: Any, models: dict[str, type[Model]], connector: str, *, records: bool
) -> str:
    if type(message) is not dict:
        raise ProtocolError(
            f"{connector}: a message must be an object, got {type(message).__name__}"
        )
    kind = message.get("type")
    if records and kind == "record":
        _check_record(message.get("record"), connector)
        return "record"
    model = models.get(kind) if isinstance(kind, str) else None
    if model is None or not isinstance(kind, str):
        raise ProtocolError(f"{connector}: unknown message type: {kind!r}")
    if kind not in message:
        raise ProtocolError(f"{connector}: invalid {kind}: missing payload field '{kind}'")
    _check(model, message[kind], kind, connector)
    return kind


def _check_record(record: Any, connector: str) -> None:
    if type(record) is not dict:
        _bad_record(connector, "record", "an object", record)
    if type(record.get("stream")) is not str:
        _bad_record(connector, "record.stream", "a string", record.get("stream"))
    if type(record.get("data")) is not dict:
        _bad_record(connector, "record.data", "an object", record.get("data"))
    account = record.get("account")
    if account is not None and type(account) is not str:
        _bad_record(connector, "record.account", "a string", account)


def _bad_record(connector: str, field: str, expected: str, value: Any) -> None:
    got = "nothing" if value is None else type(value).__name__
    raise ProtocolError(f"{connector}: invalid record: {field}: expected {expected}, got {got}")


def _check(model: type[Model], payload: Any, kind: str, connector: str) -> None:
    try:
        validate_payload(model, payload, kind)
    except ProtocolError as exc:
        raise ProtocolError(f"{connector}: invalid {kind}: {exc}") from None
