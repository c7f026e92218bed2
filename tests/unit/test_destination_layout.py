"""The table layout derived from a stream's JSON Schema, and the names it accepts."""

from __future__ import annotations

from typing import Any

import pytest

from stripe_sync.destinations.layout import InvalidName, Kind, kind_of, layout_for_stream
from stripe_sync.protocol.errors import ConfigError


def stream(properties: dict[str, Any], name: str = "charges", key: Any = None) -> dict[str, Any]:
    return {
        "name": name,
        "json_schema": {"type": "object", "properties": properties},
        "primary_key": key if key is not None else [["id"], ["_account_id"]],
    }


@pytest.mark.parametrize(
    ("schema", "kind"),
    [
        ({"type": "string"}, Kind.TEXT),
        ({"type": ["string", "null"]}, Kind.TEXT),
        ({"type": "string", "nullable": True}, Kind.TEXT),
        ({"enum": ["a", "b"]}, Kind.TEXT),
        ({"anyOf": [{"type": "string"}, {"$ref": "#/customer"}]}, Kind.TEXT),  # expandable id
        ({"type": "integer", "format": "unix-time"}, Kind.INTEGER),
        ({"type": "number"}, Kind.NUMBER),
        ({"anyOf": [{"type": "integer"}, {"type": "number"}, {"type": "null"}]}, Kind.NUMBER),
        ({"type": "boolean"}, Kind.BOOLEAN),
        ({"type": "object"}, Kind.JSON),
        ({"type": "array", "items": {"type": "string"}}, Kind.JSON),
        ({"$ref": "#/address"}, Kind.JSON),
        ({"anyOf": [{"type": "integer"}, {"type": "string"}]}, Kind.JSON),
        ({}, Kind.JSON),
    ],
)
def test_json_schema_types_map_to_column_kinds(schema: dict[str, Any], kind: Kind) -> None:
    assert kind_of(schema) is kind


def test_key_first_then_schema_order_with_readable_timestamps() -> None:
    layout = layout_for_stream(
        stream(
            {
                "object": {"type": "string"},
                "id": {"type": "string"},
                "created": {"type": "integer", "format": "unix-time"},
                "amount": {"type": "integer"},
                "canceled_at": {
                    "anyOf": [{"type": "integer", "format": "unix-time"}],
                    "nullable": True,
                },
                "paid_at": {"type": "integer", "format": "unix-time"},
                "paid": {"type": "integer", "format": "unix-time"},
            }
        )
    )
    assert [c.name for c in layout.key] == ["id", "_account_id"]
    assert [(c.name, c.kind.value) for c in layout.columns] == [
        ("object", "text"),
        ("created", "integer"),
        ("created_at", "timestamp"),
        ("amount", "integer"),
        ("canceled_at", "integer"),  # its own `_at` column would be canceled_at_at
        ("canceled_at_at", "timestamp"),
        ("paid_at", "integer"),
        ("paid_at_at", "timestamp"),
        ("paid", "integer"),  # paid_at is taken by a property: no derived column
    ]


def test_keywords_are_fine_names() -> None:
    layout = layout_for_stream(
        stream({"id": {"type": "string"}, "select": {"type": "string"}}, "order")
    )
    assert layout.table == "order" and [c.name for c in layout.columns] == ["select"]


@pytest.mark.parametrize(
    "name", ['cus"tomers', "with space", "1st", "semi;colon", "dot.ted", "", "x" * 64, "ünï"]
)
def test_unsafe_stream_names_are_rejected(name: str) -> None:
    with pytest.raises(InvalidName, match="invalid stream name"):
        layout_for_stream(stream({"id": {"type": "string"}}, name))


def test_unsafe_property_names_and_reserved_names_are_rejected() -> None:
    with pytest.raises(InvalidName, match="property"):
        layout_for_stream(stream({"id": {"type": "string"}, "bad name": {"type": "string"}}))
    with pytest.raises(InvalidName, match="bookkeeping"):
        layout_for_stream(stream({"id": {"type": "string"}, "_version": {"type": "integer"}}))
    with pytest.raises(InvalidName, match="reserved"):
        layout_for_stream(stream({"id": {"type": "string"}}, "_sync_state"))


def test_primary_keys_must_be_top_level_strings_or_integers() -> None:
    with pytest.raises(ConfigError, match="no primary key"):
        layout_for_stream(stream({"id": {"type": "string"}}, key=[]))
    with pytest.raises(ConfigError, match="top-level"):
        layout_for_stream(stream({"id": {"type": "string"}}, key=[["customer", "id"]]))
    with pytest.raises(ConfigError, match="string or integer"):
        layout_for_stream(stream({"id": {"type": "object"}}, key=[["id"]]))


def test_key_getter_returns_tuples() -> None:
    single = layout_for_stream(stream({"id": {"type": "string"}}, key=[["id"]])).key_getter()
    double = layout_for_stream(stream({"id": {"type": "string"}})).key_getter()
    assert single({"id": "a"}) == ("a",)
    assert double({"id": "a", "_account_id": "acct"}) == ("a", "acct")
