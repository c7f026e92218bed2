"""A pipeline: a named source → destination pair with an optional stream selection."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from stripe_sync.protocol.errors import ConfigError


class ConnectorRef(BaseModel):
    """Which connector to use and its config; ``exec`` connectors also name their command."""

    model_config = ConfigDict(extra="forbid")

    type: str = Field(min_length=1)
    config: dict[str, Any] = {}
    command: str | None = None


class Pipeline(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(default="default", min_length=1)
    source: ConnectorRef
    destination: ConnectorRef
    streams: list[str] | None = None
    backfill_limit: int | None = Field(default=None, ge=1, description="newest N per stream")


def parse_pipeline(value: Pipeline | dict[str, Any] | str) -> Pipeline:
    """Accept a model, a dict, a JSON text or a path to a JSON file; raise ConfigError if invalid."""
    if isinstance(value, Pipeline):
        return value
    data: Any = value
    if isinstance(value, str):
        text = value.strip()
        if not text.startswith("{"):
            try:
                text = Path(value).read_text()
            except OSError as exc:
                raise ConfigError(f"cannot read pipeline file {value}: {exc.strerror}") from None
        try:
            data = orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            raise ConfigError(f"pipeline is not valid JSON: {exc}") from None
    try:
        pipeline = Pipeline.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or "pipeline"
        raise ConfigError(f"invalid pipeline: {field}: {first['msg']}") from None
    for side in (pipeline.source, pipeline.destination):
        if side.type != "exec":
            continue
        try:
            argv = shlex.split(side.command or "")
        except ValueError as exc:
            raise ConfigError(f"invalid pipeline: exec command: {exc}") from None
        if not argv:
            raise ConfigError("invalid pipeline: an exec connector needs 'command'")
    return pipeline
