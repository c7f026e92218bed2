"""Pipeline specs in the service: validation before storing, redaction, PATCH merging."""

from __future__ import annotations

from typing import Any

import pytest

from stripe_sync.protocol.errors import ConfigError
from stripe_sync.service.connector_policy import ConnectorPolicy
from stripe_sync.service.pipeline_specs import REDACTED, apply_patch, redact, validate_spec

KEY = "sk_test_secretvalue123"
SPEC: dict[str, Any] = {
    "name": "shop",
    "source": {
        "type": "stripe",
        "config": {
            "api_key": KEY,
            "base_url": "http://127.0.0.1:1",
            "webhook_secrets": ["whsec_1"],
        },
    },
    "destination": {"type": "postgres", "config": {"url": "postgresql://u:pw@h/db"}},
    "streams": ["customers"],
}


async def test_a_valid_spec_is_normalised():
    spec = await validate_spec(SPEC, ConnectorPolicy())
    assert spec["source"]["config"]["api_key"] == KEY
    assert spec["streams"] == ["customers"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"source": {"type": "nope", "config": {}}}, "unknown source type 'nope'"),
        ({"source": {"type": "stripe", "config": {"api_key": "pk_1"}}}, "api_key"),
        ({"destination": {"type": "postgres", "config": {"url": "mysql://x"}}}, "mysql"),
        ({"streams": ["customers", "no_such_stream"]}, "no_such_stream"),
        ({"source": {"type": "stripe", "config": {"api_key": REDACTED}}}, "give the secret"),
    ],
)
async def test_invalid_specs_name_the_problem(change, message):
    with pytest.raises(ConfigError, match=message):
        await validate_spec({**SPEC, **change}, ConnectorPolicy())


def test_secrets_are_redacted_and_nothing_else():
    shown = redact(SPEC)
    assert shown["source"]["config"] == {
        "api_key": REDACTED,
        "base_url": "http://127.0.0.1:1",
        "webhook_secrets": REDACTED,
    }
    assert shown["destination"]["config"] == {"url": REDACTED}
    assert SPEC["source"]["config"]["api_key"] == KEY  # the input is left alone
    assert KEY not in repr(shown) and "pw@" not in repr(shown)


def test_a_patch_merges_config_keys_and_keeps_redacted_secrets():
    patched = apply_patch(
        SPEC,
        {
            "name": "renamed",
            "source": {"config": {"api_key": REDACTED, "base_url": "http://other", "start": 5}},
            "streams": None,
        },
    )
    assert patched["name"] == "renamed"
    assert patched["source"]["config"] == {
        "api_key": KEY,
        "base_url": "http://other",
        "webhook_secrets": ["whsec_1"],
        "start": 5,
    }
    assert "streams" not in patched


def test_a_patch_sends_a_new_secret_removes_keys_and_replaces_a_changed_type():
    patched = apply_patch(
        SPEC,
        {
            "source": {"config": {"api_key": "sk_test_new", "webhook_secrets": None}},
            "destination": {"type": "sqlite", "config": {"url": "sqlite:///x.db"}},
        },
    )
    assert patched["source"]["config"]["api_key"] == "sk_test_new"
    assert "webhook_secrets" not in patched["source"]["config"]
    assert patched["destination"] == {"type": "sqlite", "config": {"url": "sqlite:///x.db"}}


def test_a_patch_with_unknown_fields_is_refused():
    with pytest.raises(ConfigError, match="unknown field id"):
        apply_patch(SPEC, {"id": "pl_other"})
