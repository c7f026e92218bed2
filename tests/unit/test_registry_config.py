"""Config validation of connectors that only have a JSON Schema (external, exec connectors)."""

from __future__ import annotations

from typing import Any

import pytest

from stripe_sync.engine.registry import validate_config
from stripe_sync.protocol.errors import ConfigError


class SchemaOnly:
    """A connector known only by its ``spec()``, as an exec connector is."""

    def spec(self) -> dict[str, Any]:
        return {
            "config": {
                "type": "object",
                "properties": {
                    "token": {"type": "string", "pattern": "^tok_", "secret": True},
                    "region": {"type": "string", "enum": ["eu", "us"]},
                    "batch": {"type": "integer", "default": 100},
                },
                "required": ["token"],
            }
        }


def test_defaults_are_filled_in():
    assert validate_config(SchemaOnly(), {"token": "tok_1"}, "source") == {
        "token": "tok_1",
        "batch": 100,
    }


def test_a_bad_secret_is_named_but_never_quoted():
    with pytest.raises(ConfigError) as caught:
        validate_config(SchemaOnly(), {"token": "sk_live_leaked_value"}, "source")
    message = str(caught.value)
    assert message == "invalid source config: token: fails the schema's 'pattern' rule"
    assert "leaked" not in message


def test_other_fields_keep_the_schema_message():
    with pytest.raises(ConfigError, match=r"region: 'mars' is not one of \['eu', 'us'\]"):
        validate_config(SchemaOnly(), {"token": "tok_1", "region": "mars"}, "destination")
