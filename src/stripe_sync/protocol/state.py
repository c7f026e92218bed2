"""SyncState coercion: the round-tripped state of a pipeline, read leniently but never guessed.

Missing sections read as empty; anything that is present but cannot be understood is a
``config_error`` naming the field, never a silent restart.
"""

from __future__ import annotations

import copy
from typing import Any

from pydantic import ValidationError

from stripe_sync.protocol.errors import ConfigError
from stripe_sync.protocol.messages import SyncState


def empty_state() -> dict[str, Any]:
    """A SyncState with every section present and empty."""
    return {"source": {"streams": {}, "global": {}}, "engine": {}}


def coerce_sync_state(value: Any, *, where: str = "state") -> dict[str, Any]:
    """Return a normalised copy of ``value`` (``None`` reads as empty); raise ConfigError if unreadable."""
    if value is None:
        return empty_state()
    if not isinstance(value, dict):
        raise ConfigError(f"{where} must be a JSON object, got {type(value).__name__}")
    try:
        SyncState.model_validate(value)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first["loc"])
        raise ConfigError(f"{where} is not a valid sync state: {field}: {first['msg']}") from None
    state = copy.deepcopy(value)
    source = state.setdefault("source", {})
    source.setdefault("streams", {})
    source.setdefault("global", {})
    state.setdefault("engine", {})
    return state
