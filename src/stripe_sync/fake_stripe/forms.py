"""Stripe's form encoding: ``metadata[plan]=gold&items[0][price]=price_1&expand[]=customer``.

:func:`decode_form` turns such a body (or query string) into nested values: brackets open a map,
``[]`` appends to a list, and maps whose keys are all numbers become lists in that order. Every
leaf stays a string; :func:`coerce` converts a value to the type an object's schema gives its field.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl

from stripe_sync.fake_stripe import errors

_SEGMENT = re.compile(r"\[([^\[\]]*)\]")


def decode_form(text: str) -> dict[str, Any]:
    """Nested params of a form-encoded body; a malformed key is a 400 naming it."""
    root: dict[str, Any] = {}
    for key, value in parse_qsl(text, keep_blank_values=True):
        head, _, rest = key.partition("[")
        path = [head, *_SEGMENT.findall("[" + rest)] if rest else [head]
        if not head or (rest and "[" + rest != "".join(f"[{p}]" for p in path[1:])):
            raise errors.parameter_invalid(key, f"Invalid parameter name: {key}")
        _put(root, path, value)
    return {name: _lists(value) for name, value in root.items()}


def _put(node: dict[str, Any], path: list[str], value: str) -> None:
    for position, part in enumerate(path):
        last = position == len(path) - 1
        if part == "":  # ``name[]``: append
            part = str(len(node))
        if last:
            node[part] = value
            return
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise errors.parameter_invalid(path[0], f"Invalid value for {path[0]}")
        node = child


def _lists(value: Any) -> Any:
    """Maps with only numeric keys become lists, recursively."""
    if not isinstance(value, dict):
        return value
    converted = {key: _lists(item) for key, item in value.items()}
    if converted and all(key.isdigit() for key in converted):
        return [converted[key] for key in sorted(converted, key=int)]
    return converted


def coerce(name: str, value: Any, schema: dict[str, Any]) -> Any:
    """``value`` (strings from a form) as the JSON type ``schema`` declares; 400 when it is not."""
    if "anyOf" in schema:
        for option in schema["anyOf"]:
            try:
                return coerce(name, value, option)
            except errors.StripeError:
                continue
        raise errors.parameter_invalid(name, f"Invalid value for {name}")
    declared = schema.get("type", ())
    kinds = {declared} if isinstance(declared, str) else set(declared)
    if value == "" and ("null" in kinds or schema.get("nullable")):
        return None
    if isinstance(value, dict):
        if not kinds or "object" in kinds:
            properties = schema.get("properties", {})
            return {key: coerce(key, item, properties.get(key, {})) for key, item in value.items()}
        raise errors.parameter_invalid(name, f"Invalid value for {name}: expected {kinds}")
    if isinstance(value, list):
        items = schema.get("items", {})
        return [coerce(name, item, items) for item in value]
    if "integer" in kinds:
        try:
            return int(value)
        except ValueError:
            raise errors.parameter_invalid(name, f"Invalid integer: {value}") from None
    if "number" in kinds:
        try:
            return float(value)
        except ValueError:
            raise errors.parameter_invalid(name, f"Invalid number: {value}") from None
    if "boolean" in kinds:
        if value not in ("true", "false"):
            raise errors.parameter_invalid(name, f"Invalid boolean: {value}")
        return value == "true"
    return value
