"""Configuration of the database destinations, and choosing a destination from a URL.

``sqlite:///relative.db`` / ``sqlite:////absolute.db`` select SQLite; ``postgresql://…`` (and
``postgres://…``) select Postgres. ``destination_for_url`` maps a URL to the connector reference
``{"type": ..., "config": {...}}`` the CLI puts into a pipeline.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from stripe_sync.destinations.layout import check_identifier
from stripe_sync.protocol.errors import ConfigError

DeleteMode = Literal["soft", "hard"]

SQLITE_PREFIX = "sqlite:///"
POSTGRES_PREFIXES = ("postgresql://", "postgres://")


class DestinationConfig(BaseModel):
    """What both database destinations accept (``schema`` only matters to Postgres)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    url: str = Field(
        description="sqlite:///relative.db, sqlite:////absolute.db or postgresql://user:pass@host/db",
        json_schema_extra={"secret": True},
    )
    schema_: str = Field(
        default="stripe", alias="schema", description="Postgres schema that holds the tables"
    )
    batch_size: int = Field(
        default=1000, ge=1, le=100_000, description="records per stream written in one transaction"
    )
    delete_mode: DeleteMode = Field(
        default="soft",
        description="soft: deleted objects keep their row with _deleted = true; hard: rows are removed",
    )

    @field_validator("url")
    @classmethod
    def _known_scheme(cls, url: str) -> str:
        destination_type(url)
        return url

    @field_validator("schema_")
    @classmethod
    def _plain_schema_name(cls, schema: str) -> str:
        return check_identifier(schema, "schema")


def destination_type(url: str) -> str:
    """``"sqlite"`` or ``"postgres"`` for a destination URL; anything else is a ConfigError."""
    if url.startswith(SQLITE_PREFIX) and len(url) > len(SQLITE_PREFIX):
        return "sqlite"
    if url.startswith(POSTGRES_PREFIXES):
        return "postgres"
    scheme = url.split(":", 1)[0] if ":" in url else url
    raise ConfigError(
        f"unsupported destination URL scheme '{scheme}': use sqlite:///FILE or postgresql://..."
    )


def destination_for_url(url: str, **options: Any) -> dict[str, Any]:
    """The connector reference for a URL, e.g. ``{"type": "sqlite", "config": {"url": ...}}``.

    ``options`` (``schema``, ``batch_size``, ``delete_mode``) are added to the config when given.
    """
    config = {"url": url, **{key: value for key, value in options.items() if value is not None}}
    return {"type": destination_type(url), "config": config}


def sqlite_path(url: str) -> str:
    """The file path in a ``sqlite:///`` URL (``sqlite:////abs`` gives ``/abs``)."""
    if destination_type(url) != "sqlite":
        raise ConfigError(f"not a SQLite URL: {url.split(':', 1)[0]}://…")
    return url[len(SQLITE_PREFIX) :]


def parse_config(config: dict[str, Any]) -> DestinationConfig:
    """Validate a config dict (normally already validated by the engine against ``spec``)."""
    try:
        return DestinationConfig.model_validate(config)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or "config"
        raise ConfigError(f"invalid destination config: {field}: {first['msg']}") from None
