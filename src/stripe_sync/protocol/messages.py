"""Typed models of every protocol message and payload, for checking boundaries.

The engine's hot path moves plain dict envelopes; these models validate what crosses a boundary
(connector output through :mod:`stripe_sync.protocol.boundary`, HTTP bodies, files, tests) and
document the contract. Every
model keeps fields it does not know (``extra="allow"``) so newer peers can add optional fields.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from stripe_sync.protocol.errors import SyncError
from stripe_sync.protocol.ranges import parse_time

KeyPath = list[str]


class ProtocolError(SyncError):
    """A message that does not follow the protocol (unknown type, malformed payload)."""

    failure_type = "system_error"


class Model(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)


class TimeRange(Model):
    gte: str | None = None
    lt: str

    @field_validator("gte", "lt")
    @classmethod
    def _is_a_time(cls, value: str | None) -> str | None:
        if value is not None:
            parse_time(value)  # range maths parses these later; refuse what it cannot read
        return value


class Stream(Model):
    name: str
    json_schema: dict[str, Any]
    primary_key: list[KeyPath]
    supports_time_range: bool
    metadata: dict[str, Any] | None = None


class ConfiguredStream(Stream):
    time_range: TimeRange | None = None
    backfill_limit: int | None = Field(default=None, ge=1)
    options: dict[str, Any] | None = None


class Catalog(Model):
    streams: list[Stream]


class ConfiguredCatalog(Model):
    streams: list[ConfiguredStream]
    live: bool = False


class ConnectorSpec(Model):
    config: dict[str, Any]


class ConnectionStatus(Model):
    status: Literal["succeeded", "failed"]
    message: str | None = None


class Record(Model):
    stream: str
    data: dict[str, Any]
    emitted_at: str
    version: int | None = None
    deleted: bool | None = None
    account: str | None = None


class SourceState(Model):
    state_type: Literal["stream", "global"] = "stream"
    # validate_default: the checks below run when the field is absent, so errors name the field.
    stream: str | None = Field(default=None, validate_default=True)
    data: Any = None
    account: str | None = None

    @field_validator("stream")
    @classmethod
    def _stream_state_names_its_stream(cls, value: str | None, info: ValidationInfo) -> str | None:
        if info.data.get("state_type") == "stream" and not value:
            raise ValueError("a stream state needs 'stream'")
        return value


StatusName = Literal["started", "range_complete", "complete", "skipped", "failed", "reset"]


class StreamStatus(Model):
    stream: str
    status: StatusName
    total_range: TimeRange | None = None
    range: TimeRange | None = Field(default=None, validate_default=True)
    reason: str | None = Field(default=None, validate_default=True)
    account: str | None = None

    @field_validator("range")
    @classmethod
    def _range_complete_carries_range(
        cls, value: TimeRange | None, info: ValidationInfo
    ) -> TimeRange | None:
        if info.data.get("status") == "range_complete" and value is None:
            raise ValueError("'range_complete' needs 'range'")
        return value

    @field_validator("reason")
    @classmethod
    def _status_carries_reason(cls, value: str | None, info: ValidationInfo) -> str | None:
        status = info.data.get("status")
        if status in ("skipped", "failed", "reset") and not value:
            raise ValueError(f"'{status}' needs 'reason'")
        return value


ErrorLevel = Literal["global", "account", "stream", "transient"]
FailureType = Literal[
    "auth_error",
    "permission_error",
    "config_error",
    "rate_limit",
    "transient_error",
    "system_error",
]


class ErrorPayload(Model):
    level: ErrorLevel
    failure_type: FailureType
    message: str
    stream: str | None = None
    account: str | None = None
    http_status: int | None = None
    request_id: str | None = None
    retry_after_s: float | None = None
    hint: str | None = None
    stack_trace: str | None = None


class SourceStats(Model):
    stream: str | None = None
    account: str | None = None
    request_count: int = 0
    retry_count: int = 0
    rate_limited_count: int = 0
    event_count: int = 0
    webhooks_rejected: int = 0
    budget_rps: float | None = None
    live_lag_s: float | None = None
    last_event_at: str | None = None


class WriteStats(Model):
    stream: str
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0


class Log(Model):
    level: Literal["debug", "info", "warn", "error"]
    message: str
    data: Any = None


class Control(Model):
    config: dict[str, Any]


class Writes(Model):
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0


class Lifetime(Model):
    record_count: int = 0
    request_count: int = 0
    elapsed_ms: int = 0


class LiveProgress(Model):
    events_per_second: float = 0.0
    lag_seconds: float | None = None
    cursor: str | None = None


class StreamProgress(Model):
    status: Literal["pending", "started", "complete", "skipped", "failed"]
    reason: str | None = None
    account: str | None = None
    record_count: int = 0
    state_count: int = 0
    request_count: int = 0
    total_range: TimeRange | None = None
    completed_ranges: list[TimeRange] = []
    coverage: float | None = Field(default=None, ge=0, le=1)
    eta_seconds: float | None = None
    errors: list[ErrorPayload] = []


class AccountProgress(Model):
    """One connected account's share of a run: its streams grouped (``ProgressPayload.accounts``)."""

    status: Literal["pending", "started", "complete", "failed"]
    streams: dict[str, int] = {}
    record_count: int = 0
    request_count: int = 0
    errors: list[ErrorPayload] = []
    coverage: float | None = Field(default=None, ge=0, le=1)


class ProgressPayload(Model):
    pipeline: str | None = None
    sync_run_id: str | None = None
    started_at: str
    elapsed_ms: int
    record_count: int = 0
    state_count: int = 0
    request_count: int = 0
    retry_count: int = 0
    rate_limited_count: int = 0
    records_per_second: float = 0.0
    window_records_per_second: float = 0.0
    requests_per_second: float = 0.0
    budget_rps: float | None = None
    writes: Writes = Writes()
    lifetime: Lifetime = Lifetime()
    live: LiveProgress | None = None
    streams: dict[str, StreamProgress] = {}
    accounts: dict[str, AccountProgress] | None = None
    errors: list[ErrorPayload] = []
    error_counts: list[dict[str, Any]] = []
    eta_seconds: float | None = None


class SourceSection(Model):
    streams: dict[str, Any] = {}
    global_: dict[str, Any] = Field(default={}, alias="global")


class StreamRunState(Model):
    completed_ranges: list[TimeRange] = []
    last_completed_run_started_at: str | None = None


class EngineSection(Model):
    pipeline: str | None = None
    sync_run_id: str | None = None
    started_at: str | None = None
    mode: Literal["backfill", "live"] = "backfill"
    terminal_streams: dict[str, Literal["complete", "skipped", "failed"]] = {}
    streams: dict[str, StreamRunState] = {}
    run_progress: ProgressPayload | None = None
    lifetime: Lifetime = Lifetime()


class SyncState(Model):
    source: SourceSection = SourceSection()
    engine: EngineSection = EngineSection()


class End(Model):
    reason: Literal["complete", "time_limit", "state_limit", "aborted", "error"]
    has_more: bool
    ending_state: SyncState
    request_progress: ProgressPayload
    run_progress: ProgressPayload


PAYLOAD_MODELS: dict[str, type[Model]] = {
    "catalog": Catalog,
    "spec": ConnectorSpec,
    "connection_status": ConnectionStatus,
    "record": Record,
    "source_state": SourceState,
    "stream_status": StreamStatus,
    "error": ErrorPayload,
    "source_stats": SourceStats,
    "write_stats": WriteStats,
    "log": Log,
    "control": Control,
    "progress": ProgressPayload,
    "end": End,
}
"""Every message type, mapped to the model of its payload."""


def _describe(exc: ValidationError, prefix: str) -> str:
    first = exc.errors()[0]
    location = ".".join(str(part) for part in (prefix, *first["loc"]))
    return f"{location}: {first['msg']}"


def parse_message(message: Any) -> tuple[str, Model]:
    """Check one envelope and return ``(type, payload model)``; raise :class:`ProtocolError`."""
    if not isinstance(message, dict):
        raise ProtocolError(f"a message must be a JSON object, got {type(message).__name__}")
    kind = message.get("type")
    if not isinstance(kind, str) or kind not in PAYLOAD_MODELS:
        raise ProtocolError(f"unknown message type: {kind!r}")
    if kind not in message:
        raise ProtocolError(f"{kind}: missing payload field '{kind}'")
    try:
        return kind, PAYLOAD_MODELS[kind].model_validate(message[kind])
    except ValidationError as exc:
        raise ProtocolError(_describe(exc, kind)) from None


def dump_payload(payload: Model) -> dict[str, Any]:
    """Turn a payload model back into plain JSON-ready data (absent optionals left out)."""
    return payload.model_dump(mode="json", by_alias=True, exclude_none=True)


def envelope(kind: str, payload: Model | dict[str, Any]) -> dict[str, Any]:
    """Wrap a payload in its envelope ``{"type": kind, kind: payload}``."""
    data = dump_payload(payload) if isinstance(payload, Model) else payload
    return {"type": kind, kind: data}


def validate_payload(model: type[Model], data: Any, what: str) -> Model:
    """Validate ``data`` against ``model``, raising :class:`ProtocolError` naming the field."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ProtocolError(_describe(exc, what)) from None
