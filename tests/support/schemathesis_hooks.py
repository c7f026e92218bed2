"""Schemathesis hooks for the engine API fuzz test (loaded through SCHEMATHESIS_HOOKS)."""

from __future__ import annotations

import json
from typing import Any

import schemathesis


@schemathesis.serializer("application/x-ndjson")
def to_ndjson(ctx: Any, value: Any) -> bytes:
    """A generated list of objects becomes one line each; anything else one JSON line."""
    items = value if isinstance(value, list) else [value]
    return b"".join(json.dumps(item).encode() + b"\n" for item in items)
