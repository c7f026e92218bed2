"""What a client needs to compose a pipeline: the connector types, their configs and streams.

- ``GET /connectors``: the built-in source and destination types, each with its ``spec()`` (the
  config's JSON Schema; secret properties carry ``"secret": true``). The dashboard builds its
  create form from these.
- ``POST /connectors/discover`` with a source ``{type, config, command?}``: the streams that
  source offers, as its ``discover`` lists them but without their record schemas (name,
  ``supports_time_range`` and the connector's ``metadata``, e.g. the Stripe events that change a
  stream). The config is validated first: a 400 names the field that is wrong. Installed
  source types only: an ``exec`` command or ``module:Class`` type never runs in the API process
  (``connector_policy``), so it gets a 400 whether the operator allowed it or not.

The routes carry no auth of their own: the service app includes them behind its bearer token.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel

from stripe_sync.engine.pipeline import ConnectorRef
from stripe_sync.engine.registry import Role, connector_types, load_connector, validate_config
from stripe_sync.protocol.errors import ConfigError
from stripe_sync.service.connector_policy import ConnectorPolicy


class ConnectorType(BaseModel):
    type: str
    spec: dict[str, Any]


class ConnectorList(BaseModel):
    sources: list[ConnectorType]
    destinations: list[ConnectorType]


class StreamList(BaseModel):
    streams: list[dict[str, Any]]


def _described(role: Role) -> list[ConnectorType]:
    return [
        ConnectorType(type=name, spec=load_connector(role, ConnectorRef(type=name)).spec() or {})
        for name in connector_types(role)
    ]


def connectors_router(connectors: ConnectorPolicy) -> APIRouter:
    router = APIRouter()

    @router.get("/connectors")
    async def list_connectors() -> ConnectorList:
        return ConnectorList(sources=_described("source"), destinations=_described("destination"))

    @router.post("/connectors/discover")
    async def discover_streams(source: ConnectorRef) -> StreamList:
        """The streams of a source config (record schemas left out)."""
        if source.type == "exec" and not source.command:
            raise ConfigError("invalid source: an exec connector needs 'command'")
        connectors.check("source", source)
        if not connectors.installed("source", source):
            raise ConfigError(
                f"source type '{source.type}' runs on workers only: create the pipeline, its "
                "streams show in its progress"
            )
        connector = load_connector("source", source)
        config = validate_config(connector, source.config, "source")
        catalog = await connector.discover(config)
        streams = [
            {key: value for key, value in stream.items() if key != "json_schema"}
            for stream in catalog.get("streams", [])
        ]
        return StreamList(streams=streams)

    return router
