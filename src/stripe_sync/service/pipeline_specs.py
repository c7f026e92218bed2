"""What a user may store as a pipeline, and what the API shows of it.

- :func:`validate_spec` checks a spec the way a sync would (connector types, configs against
  their specs, stream names) before it is stored, so a stored pipeline can always be run. An
  external connector (an ``exec`` command or ``module:Class`` type the operator allowed,
  ``connector_policy``) is never loaded here: only its listing is checked; the worker that sets
  the pipeline up validates its config and streams (a bad one parks the pipeline in ``error``).
- :func:`redact` replaces every config value the connector's spec marks ``"secret": true`` with
  :data:`REDACTED` (every value of an external connector, whose spec is not asked here); the API
  never returns anything else.
- :func:`apply_patch` merges a PATCH into a stored spec. Config keys merge one by one (``null``
  removes a key); a secret sent back as :data:`REDACTED` keeps the stored value, so a client may
  PATCH what it read. Changing a side's ``type`` replaces its config. A pipeline cannot switch
  between one account and a platform's accounts (``platform.is_platform``): its workflow differs.

A spec is the engine's ``Pipeline`` plus the service's own fields (:class:`ServicePipeline`).
"""

from __future__ import annotations

import asyncio
import copy
import functools
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from stripe_sync.engine.catalog_selection import select_streams
from stripe_sync.engine.pipeline import ConnectorRef, Pipeline, parse_pipeline
from stripe_sync.engine.registry import Role, load_connector, secret_fields, validate_config
from stripe_sync.protocol.errors import ConfigError
from stripe_sync.service.connector_policy import ConnectorPolicy
from stripe_sync.service.platform import (
    DEFAULT_MAX_PARALLEL_ACCOUNTS,
    SERVICE_FIELDS,
    engine_spec,
    is_platform,
)

REDACTED = "********"
SIDES: tuple[Role, Role] = ("source", "destination")
TOP_LEVEL = ("name", "streams", "backfill_limit", *SERVICE_FIELDS)


class ServiceFields(BaseModel):
    """The service's own fields of a pipeline spec."""

    model_config = ConfigDict(extra="forbid")

    max_parallel_accounts: int | None = Field(
        default=None,
        ge=1,
        description="a platform pipeline (Stripe `accounts` other than self): how many accounts "
        f"backfill at once; all of them share the account's request budget (default "
        f"{DEFAULT_MAX_PARALLEL_ACCOUNTS})",
    )


class ServicePipeline(Pipeline, ServiceFields):
    """A pipeline as the service takes it: the engine's ``Pipeline`` and the service's fields."""


@functools.cache
def _secrets(role: Role, connector_type: str) -> frozenset[str] | None:
    """The secret config keys of an installed connector; None (all) for any other."""
    ref = ConnectorRef(type=connector_type)
    if not ConnectorPolicy.installed(role, ref):
        return None
    return frozenset(secret_fields(load_connector(role, ref).spec() or {}))


async def validate_spec(spec: dict[str, Any], connectors: ConnectorPolicy) -> dict[str, Any]:
    """The normalised spec; ConfigError naming the field when it could not run, or when a
    connector is neither installed nor allowed by ``connectors``.

    The checks run in a thread with an event loop of its own: a connector that reads a file or
    works hard in ``spec`` or ``discover`` never holds the caller's loop (the API's)."""
    return await asyncio.to_thread(asyncio.run, _validated(spec, connectors))


async def _validated(spec: dict[str, Any], connectors: ConnectorPolicy) -> dict[str, Any]:
    try:
        service = ServiceFields.model_validate({k: spec[k] for k in SERVICE_FIELDS if k in spec})
    except ValidationError as exc:
        first = exc.errors()[0]
        raise ConfigError(f"invalid pipeline: {first['loc'][0]}: {first['msg']}") from None
    pipeline = parse_pipeline(engine_spec(spec))
    connectors.check_pipeline(pipeline)
    for role in SIDES:
        ref = getattr(pipeline, role)
        if not connectors.installed(role, ref):
            if REDACTED in (ref.config or {}).values():
                raise ConfigError(f"invalid {role} config: give each value, not {REDACTED}")
            continue
        connector = load_connector(role, ref)
        if any(ref.config.get(name) == REDACTED for name in secret_fields(connector.spec() or {})):
            raise ConfigError(f"invalid {role} config: give the secret itself, not {REDACTED}")
        config = validate_config(connector, ref.config, role)
        if role == "source":
            select_streams(await connector.discover(config), pipeline.streams)
    return {**pipeline.model_dump(exclude_none=True), **service.model_dump(exclude_none=True)}


def redact(spec: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``spec`` with every secret config value replaced by :data:`REDACTED`."""
    shown = copy.deepcopy(spec)
    for role in SIDES:
        ref = shown.get(role) or {}
        config = ref.get("config") or {}
        secrets = _secrets(role, ref["type"])
        for name in set(config) if secrets is None else secrets & set(config):
            config[name] = REDACTED
    return shown


def apply_patch(stored: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """The spec after ``patch`` (not validated; see the module docstring for the rules)."""
    unknown = set(patch) - {*TOP_LEVEL, *SIDES}
    if unknown:
        raise ConfigError(f"invalid patch: unknown field {sorted(unknown)[0]}")
    merged = copy.deepcopy(stored)
    for key in TOP_LEVEL:
        if key in patch:
            if patch[key] is None:
                merged.pop(key, None)
            else:
                merged[key] = patch[key]
    for role in SIDES:
        if role not in patch:
            continue
        change = patch[role]
        if not isinstance(change, dict):
            raise ConfigError(f"invalid patch: {role} must be an object")
        current = merged[role]
        if change.get("type", current["type"]) != current["type"]:
            merged[role] = copy.deepcopy(change)
            continue
        config_change = change.get("config") or {}
        if not isinstance(config_change, dict):
            raise ConfigError(f"invalid patch: {role}.config must be an object")
        config = dict(current.get("config") or {})
        for name, value in config_change.items():
            if value is None:
                config.pop(name, None)
            elif value != REDACTED:
                config[name] = value
        merged[role] = {**current, **{k: v for k, v in change.items() if k != "config"}}
        merged[role]["config"] = config
    if is_platform(merged) != is_platform(stored):
        raise ConfigError(
            "invalid patch: source.config.accounts: a pipeline cannot switch between one account "
            "and a platform's accounts; create a new pipeline"
        )
    return merged
