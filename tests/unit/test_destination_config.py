"""Choosing a destination from a URL, and validating its config before any I/O."""

from __future__ import annotations

import pytest

from stripe_sync.destinations.config import (
    DestinationConfig,
    destination_for_url,
    parse_config,
    sqlite_path,
)
from stripe_sync.destinations.postgres import PostgresDestination
from stripe_sync.destinations.sqlite import SqliteDestination
from stripe_sync.engine.pipeline import ConnectorRef
from stripe_sync.engine.registry import load_connector, validate_config
from stripe_sync.protocol.errors import ConfigError


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        ("sqlite:///stripe.db", "sqlite"),
        ("sqlite:////var/data/stripe.db", "sqlite"),
        ("postgresql://u:p@db:5432/app", "postgres"),
        ("postgres://u@db/app", "postgres"),
    ],
)
def test_urls_select_the_destination(url: str, kind: str) -> None:
    assert destination_for_url(url) == {"type": kind, "config": {"url": url}}


def test_options_join_the_config() -> None:
    ref = destination_for_url("postgres://db/app", schema="billing", batch_size=None)
    assert ref["config"] == {"url": "postgres://db/app", "schema": "billing"}


def test_sqlite_paths_are_relative_or_absolute() -> None:
    assert sqlite_path("sqlite:///stripe.db") == "stripe.db"
    assert sqlite_path("sqlite:////var/data/stripe.db") == "/var/data/stripe.db"


@pytest.mark.parametrize("url", ["mysql://db/app", "sqlite://", "stripe.db", "http://x"])
def test_an_unknown_url_is_a_clear_config_error(url: str) -> None:
    with pytest.raises(ConfigError, match="unsupported destination URL scheme"):
        destination_for_url(url)


def test_defaults_and_aliases() -> None:
    config = parse_config({"url": "sqlite:///x.db"})
    assert (config.schema_, config.batch_size, config.delete_mode) == ("stripe", 1000, "soft")
    dumped = config.model_dump(by_alias=True)
    assert dumped["schema"] == "stripe"


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"url": "sqlite:///x.db", "delete_mode": "purge"}, "delete_mode"),
        ({"url": "sqlite:///x.db", "batch_size": 0}, "batch_size"),
        ({"url": "sqlite:///x.db", "unknown": 1}, "unknown"),
        ({"url": "postgres://db/app", "schema": 'a"; drop'}, "invalid schema name"),
    ],
)
def test_invalid_configs_name_the_field(config: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_config(config)


def test_the_spec_marks_the_url_secret() -> None:
    spec = SqliteDestination().spec()["config"]
    assert spec["properties"]["url"]["secret"] is True
    assert {"url", "schema", "batch_size", "delete_mode"} <= set(spec["properties"])


@pytest.mark.parametrize(
    ("kind", "cls"), [("sqlite", SqliteDestination), ("postgres", PostgresDestination)]
)
def test_destinations_are_registered_and_validated_by_the_engine(kind: str, cls: type) -> None:
    connector = load_connector("destination", ConnectorRef(type=kind, config={}))
    assert isinstance(connector, cls)
    validated = validate_config(
        connector, {"url": f"{kind}:///x" if kind == "sqlite" else "postgres://h/d"}, "destination"
    )
    assert validated["schema"] == "stripe" and DestinationConfig.model_validate(validated)
