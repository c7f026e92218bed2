"""The Stripe catalog at run time: the committed ``catalog.json``, or one generated from a given spec.

``load_catalog()`` reads the catalog shipped in the package (compact JSON, a few milliseconds, cached);
``load_catalog(spec_path)`` derives one from another Stripe OpenAPI spec in memory, for users who set
the source's ``spec_path``. The model types are re-exported here so callers import from one place.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import orjson

from stripe_sync.sources.stripe.catalog_generator import (
    DEFAULT_CATALOG_PATH,
    generate_catalog,
    read_spec,
)
from stripe_sync.sources.stripe.catalog_model import (
    PRIMARY_KEY,
    CursorKind,
    EventRoute,
    Exclusion,
    ExclusionReason,
    FanOut,
    StreamDef,
    StripeCatalog,
    TimeFilter,
    TimeFormat,
)

__all__ = [
    "PRIMARY_KEY",
    "CursorKind",
    "EventRoute",
    "Exclusion",
    "ExclusionReason",
    "FanOut",
    "StreamDef",
    "StripeCatalog",
    "TimeFilter",
    "TimeFormat",
    "load_catalog",
]


def load_catalog(spec_path: str | Path | None = None) -> StripeCatalog:
    """The packaged catalog, or the catalog derived from the spec at ``spec_path``.

    An unreadable or invalid spec raises :class:`stripe_sync.protocol.errors.ConfigError`.
    """
    if spec_path is None:
        return _packaged_catalog()
    return generate_catalog(read_spec(spec_path))


@cache
def _packaged_catalog() -> StripeCatalog:
    return StripeCatalog.from_document(orjson.loads(DEFAULT_CATALOG_PATH.read_bytes()))
