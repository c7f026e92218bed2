"""Finds connectors by type and validates their configs before any I/O.

Built-in connectors are registered as entry points (groups ``stripe_sync.sources`` and
``stripe_sync.destinations``); any other type may be a dotted path ``package.module:Class``;
``exec`` wraps an external command speaking the connector CLI.
"""

from __future__ import annotations

import importlib
from functools import cache
from importlib.metadata import entry_points
from typing import Any, Literal

from pydantic import BaseModel, SecretBytes, SecretStr, ValidationError

from stripe_sync.engine.pipeline import ConnectorRef, Pipeline
from stripe_sync.engine.state_store import StateStore
from stripe_sync.protocol.errors import ConfigError

Role = Literal["source", "destination"]


@cache
def _registered(role: Role) -> dict[str, Any]:
    return {ep.name: ep for ep in entry_points(group=f"stripe_sync.{role}s")}


def connector_types(role: Role) -> list[str]:
    """The built-in connector types for a role."""
    return sorted(_registered(role))


def load_connector(role: Role, ref: ConnectorRef) -> Any:
    """Return a connector instance for ``ref``; unknown types are a ConfigError."""
    if ref.type == "exec":
        from stripe_sync.engine.exec_connector import ExecDestination, ExecSource

        assert ref.command is not None
        return ExecSource(ref.command) if role == "source" else ExecDestination(ref.command)
    entry = _registered(role).get(ref.type)
    if entry is not None:
        return entry.load()()
    if ":" in ref.type:
        module_name, _, attribute = ref.type.partition(":")
        try:
            connector = getattr(importlib.import_module(module_name), attribute)()
        except (ImportError, AttributeError, ValueError, TypeError) as exc:
            raise ConfigError(f"cannot load {role} {ref.type}: {exc}") from None
        if not callable(getattr(connector, "spec", None)):
            raise ConfigError(f"cannot load {role} {ref.type}: it is not a connector")
        return connector
    known = ", ".join([*connector_types(role), "exec"])
    raise ConfigError(f"unknown {role} type '{ref.type}' (known: {known})")


async def checked_config(connector: Any, config: dict[str, Any], what: str) -> dict[str, Any]:
    """``validate_config`` for async callers: an exec connector's spec is fetched first without
    blocking the event loop (``validate_config`` then finds it cached)."""
    load_spec = getattr(connector, "load_spec", None)
    if load_spec is not None:
        await load_spec()
    return validate_config(connector, config, what)


def validate_config(connector: Any, config: dict[str, Any], what: str) -> dict[str, Any]:
    """Validate ``config`` against the connector's spec, apply defaults, return a plain dict.

    Connectors written here declare a pydantic ``config_model``; others are checked against the
    JSON Schema from their ``spec()`` with the ``jsonschema`` library.
    """
    model: type[BaseModel] | None = getattr(connector, "config_model", None)
    if model is not None:
        try:
            validated = model.model_validate(config).model_dump(mode="python", by_alias=True)
        except ValidationError as exc:
            first = exc.errors()[0]
            field = ".".join(str(part) for part in first["loc"]) or "config"
            raise ConfigError(f"invalid {what} config: {field}: {first['msg']}") from None
        revealed: dict[str, Any] = _plain(validated)
        return revealed
    import jsonschema  # only external connectors need it: not imported at start-up

    spec = connector.spec() or {}
    schema = spec.get("config") or {}
    merged = _with_defaults(schema, config)
    error = jsonschema.exceptions.best_match(
        jsonschema.Draft202012Validator(schema).iter_errors(merged)
    )
    if error is not None:
        path = [str(part) for part in error.absolute_path]
        field = ".".join(path) or "config"
        # jsonschema's message quotes the value: never for a secret
        message = (
            f"fails the schema's {error.validator!r} rule"
            if path and path[0] in secret_fields(spec)
            else error.message
        )
        raise ConfigError(f"invalid {what} config: {field}: {message}")
    return merged


def _plain(value: Any) -> Any:
    """Model output as plain JSON-ready data, secrets in clear (the connector needs them)."""
    if isinstance(value, SecretStr | SecretBytes):
        return value.get_secret_value()
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value


def _with_defaults(schema: dict[str, Any], config: dict[str, Any]) -> dict[str, Any]:
    merged = dict(config)
    for name, prop in (schema.get("properties") or {}).items():
        if name not in merged and isinstance(prop, dict) and "default" in prop:
            merged[name] = prop["default"]
    return merged


def secret_fields(spec: dict[str, Any]) -> set[str]:
    """Names of top-level config properties marked ``"secret": true`` in a spec."""
    properties = (spec.get("config") or {}).get("properties") or {}
    return {
        name for name, prop in properties.items() if isinstance(prop, dict) and prop.get("secret")
    }


def destination_state_store(pipeline: Pipeline) -> StateStore | None:
    """The destination's own ``_sync_state`` store, when it has one."""
    return state_store_for(pipeline.destination)


def state_store_for(destination_ref: ConnectorRef) -> StateStore | None:
    """The ``_sync_state`` store of the destination ``destination_ref`` names, when it has one."""
    destination = load_connector("destination", destination_ref)
    make_store = getattr(destination, "state_store", None)
    if make_store is None:
        return None
    store: StateStore = make_store(
        validate_config(destination, destination_ref.config, "destination")
    )
    return store
