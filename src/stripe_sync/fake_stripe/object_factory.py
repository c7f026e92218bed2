"""Objects shaped by a stream's JSON schema, built on demand from an index in a few microseconds.

For each collection a handful of *variants* are prepared once: every property of the schema with a
plausible value (enums, nested objects, nullable fields left null now and then), trimmed or padded
so that an object encodes to about ``TARGET_BYTES``. Building object ``i`` then picks a variant by
the index's hash, copies it, and fills the fields that differ between objects — id, times, amounts,
names and e-mails, references to other objects, metadata — from that hash. Same key and index, same
object, byte for byte.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from stripe_sync.fake_stripe.ids import derive_key, mix64

TARGET_BYTES = 2048
MAX_BYTES = 2600
VARIANTS = 16
MAX_DEPTH = 4
NULL_PROBABILITY = 0.25
PERIOD_SECONDS = 30 * 86_400
_POOL_SIZE = 256
_GOLDEN = 0x9E3779B97F4A7C15

PerObjectField = tuple[str, int, Sequence[Any], int, int | None]
"""How a field varies between objects: ``(name, salt, choices, span, start)``. With choices the
value is one of them, else ``start + draw % span`` (``created + draw % span`` when ``start`` is
None), where ``draw`` mixes the object's hash with the field's salt."""

References = Callable[[Sequence[str]], Sequence[str]]
"""The ids a reference to one of the given object types (``x-expandable``) picks from."""

_FIRST_NAMES = ("Ada", "Grace", "Alan", "Edsger", "Barbara", "Ken", "Donald", "Frances", "Linus")
_LAST_NAMES = ("Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Thompson", "Knuth", "Allen")
_WORDS = (
    "monthly",
    "annual",
    "plan",
    "upgrade",
    "seats",
    "usage",
    "support",
    "premium",
    "starter",
    "order",
    "renewal",
    "invoice",
)
_COUNTRIES = ("US", "US", "US", "GB", "DE", "FR", "CA", "AU", "JP", "NL")
_CITIES = ("San Francisco", "London", "Berlin", "Paris", "Toronto", "Sydney", "Tokyo", "Amsterdam")
_CURRENCIES = ("usd", "usd", "usd", "usd", "eur", "gbp", "cad", "aud", "jpy")


@dataclass(frozen=True)
class Variant:
    """One prepared shape of an object: the shared part and the fields computed per object."""

    base: dict[str, Any]
    per_object: tuple[PerObjectField, ...]


class ObjectFactory:
    """Builds the objects of one collection (a stream, or the items of an embedded list)."""

    def __init__(
        self,
        schema: dict[str, Any],
        object_name: str,
        *,
        key: int,
        epoch: int,
        references: References,
        created_field: str | None,
        parent_field: str | None = None,
        skipped_fields: Collection[str] = (),
        cycled_field: str | None = None,
        target_bytes: int = TARGET_BYTES,
    ) -> None:
        self.object_name = object_name
        self.created_field = created_field
        self.parent_field = parent_field
        self.cycled_field = cycled_field
        self._target_bytes = target_bytes
        self._key = key
        properties: dict[str, Any] = schema.get("properties", {})
        ordered = [
            "id",
            "object",
            *sorted(name for name in properties if name not in ("id", "object")),
        ]
        self._fields = [name for name in ordered if name in properties or name in ("id", "object")]
        self._properties = properties
        self._required = frozenset(schema.get("required", ()))
        self._skipped = frozenset(skipped_fields)
        self._epoch = epoch
        self._references = references
        self._per_object = {
            name: _per_object_field(name, schema, derive_key(key, name), references)
            for name, schema in properties.items()
        }
        self._variants = [self._variant(number) for number in range(VARIANTS)]

    def build(
        self, index: int, object_id: str, created: int, parent_id: str | None = None
    ) -> dict[str, Any]:
        """Object ``index`` of the collection (the caller supplies its id, time and parent).

        Nested values are shared between objects of a variant: copy them before changing them.
        """
        seed = mix64(self._key ^ index)
        variant = self._variants[seed % VARIANTS]
        obj = variant.base.copy()
        obj["id"] = object_id
        if self.created_field is not None:
            obj[self.created_field] = created
        if self.parent_field is not None:
            obj[self.parent_field] = parent_id
        for name, salt, choices, span, start in variant.per_object:
            draw = (seed ^ salt) * _GOLDEN >> 24
            if choices:
                obj[name] = choices[draw % len(choices)]
            else:
                obj[name] = (created if start is None else start) + draw % span
        return obj

    def cycled_value(self, index: int) -> Any:
        """The value of ``cycled_field`` object ``index`` has, without building the object."""
        assert self.cycled_field is not None
        variant = self._variants[mix64(self._key ^ index) % VARIANTS]
        return variant.base[self.cycled_field]

    def _variant(self, number: int) -> Variant:
        rng = random.Random(derive_key(self._key, "variant", number))
        values = _StaticValues(rng, self._epoch, self._references)
        base: dict[str, Any] = {}
        per_object: list[PerObjectField] = []
        for name in self._fields:
            schema = self._properties.get(name, {})
            if name == "id" or name in self._skipped:
                base[name] = None
            elif name == "object":
                base[name] = next(iter(_enum_values(schema)), self.object_name)
            elif name in (self.created_field, self.parent_field):
                base[name] = None
            elif name == "livemode":
                base[name] = False
            elif _is_list_object(schema) and name not in self._required:
                continue  # includable lists (customer.sources, ...) are absent unless expanded
            elif _is_nullable(schema) and rng.random() < NULL_PROBABILITY:
                base[name] = None
            elif name == self.cycled_field:
                options = _enum_values(schema)
                base[name] = options[number % len(options)]
            else:
                field = self._per_object[name]
                base[name] = values.value(name, schema, 1) if field is None else None
                if field is not None:
                    per_object.append(field)
        variant = Variant(base, tuple(per_object))
        return _fit_size(variant, self._target_bytes, self._required, self._properties)


def _fit_size(
    variant: Variant, target: int, required: frozenset[str], properties: dict[str, Any]
) -> Variant:
    """Trim the largest optional nested values to ``MAX_BYTES``, or pad ``metadata`` to ``target``."""
    base = variant.base
    sample = dict(base)
    for name, _, choices, _, start in variant.per_object:
        sample[name] = choices[0] if choices else start or 0

    def size() -> int:
        return len(orjson.dumps(sample))

    while size() > MAX_BYTES:
        sizes = {
            name: len(orjson.dumps(value))
            for name, value in base.items()
            if isinstance(value, dict | list) and value and name != "metadata"
        }
        if not sizes:
            break
        largest = max(sizes, key=lambda name: sizes[name])
        schema = properties.get(largest, {})
        if _is_nullable(schema) or largest not in required:
            base[largest] = None
        else:
            base[largest] = {} if isinstance(base[largest], dict) else []
        sample[largest] = base[largest]
    missing = target - size()
    if missing <= 40 or not any(field[0] == "metadata" for field in variant.per_object):
        return variant
    padding = _padding(missing - 20)
    per_object = tuple(
        (name, salt, tuple({**value, **padding} for value in choices), span, start)
        if name == "metadata"
        else (name, salt, choices, span, start)
        for name, salt, choices, span, start in variant.per_object
    )
    return Variant(base, per_object)


def _padding(size: int) -> dict[str, str]:
    """Metadata entries of about ``size`` encoded bytes (Stripe allows values of 500 characters)."""
    entries: dict[str, str] = {}
    remaining = size
    number = 0
    while remaining > 20:
        text = " ".join(_WORDS[(number + i) % len(_WORDS)] for i in range(80))
        value = text[: min(remaining - 12, 480)]
        entries[f"note_{number}"] = value
        remaining -= len(value) + 12
        number += 1
    return entries


def _per_object_field(
    name: str, schema: dict[str, Any], salt: int, references: References
) -> PerObjectField | None:
    """How ``name`` varies from object to object, or None when a variant's value is good enough.

    Values are picked from pools or computed with one multiplication (see ``ObjectFactory.build``)
    rather than formatted, since this runs for every field of every object served.
    """
    kinds = _types(schema)
    if schema.get("format") == "unix-time":
        return (name, salt, (), PERIOD_SECONDS, None)
    if name == "metadata" and "object" in kinds:
        return (
            name,
            salt,
            _pool(lambda number: {"order_ref": f"ord_{number % 10**8:08d}"}, salt),
            0,
            0,
        )
    if "string" in kinds and "enum" not in schema:
        if "x-expandable" in schema:
            return (name, salt, references(schema["x-expandable"]), 0, 0)
        if _has_text_hint(name):
            return (name, salt, _pool(lambda number: _text(name, number), salt), 0, 0)
    if "integer" in kinds and "amount" in name:
        return (name, salt, (), 99_900, 100)
    return None


def _pool(make: Callable[[int], Any], salt: int) -> tuple[Any, ...]:
    """``_POOL_SIZE`` values of one field, so that objects pick one instead of formatting it."""
    return tuple(make(mix64(salt + number)) for number in range(_POOL_SIZE))


def _has_text_hint(name: str) -> bool:
    return any(hint in name for hint in ("email", "name", "description", "phone"))


def _text(name: str, number: int) -> str:
    """A plausible string for a field called ``name``."""
    first = _FIRST_NAMES[number % len(_FIRST_NAMES)]
    last = _LAST_NAMES[(number >> 8) % len(_LAST_NAMES)]
    if "email" in name:
        return f"{first.lower()}.{last.lower()}{number % 10_000}@example.com"
    if "phone" in name:
        return f"+1555{number % 10_000_000:07d}"
    if name == "name" or name.endswith("_name"):
        return f"{first} {last}"
    if "description" in name:
        words = (_WORDS[(number >> shift) % len(_WORDS)] for shift in range(0, 40, 8))
        return " ".join(words).capitalize()
    if "url" in name:
        return f"https://example.com/{name}/{number % 10**8:08d}"
    if name == "country":
        return _COUNTRIES[number % len(_COUNTRIES)]
    if name == "city":
        return _CITIES[number % len(_CITIES)]
    if name == "line1":
        return f"{number % 999 + 1} Market Street"
    if name == "postal_code":
        return f"{number % 90_000 + 10_000}"
    if name == "state":
        return ("CA", "NY", "TX", "WA")[number % 4]
    if "currency" in name:
        return _CURRENCIES[number % len(_CURRENCIES)]
    return f"{name}_{number % 16**10:010x}"


class _StaticValues:
    """Values of a variant's shared fields, drawn from one random generator."""

    def __init__(self, rng: random.Random, epoch: int, references: References) -> None:
        self._rng = rng
        self._epoch = epoch
        self._references = references

    def value(self, name: str, schema: dict[str, Any], depth: int) -> Any:
        if "anyOf" in schema:
            return self.value(name, schema["anyOf"][0], depth)
        kinds = _types(schema)
        rng = self._rng
        if depth > 1 and _is_nullable(schema) and rng.random() < NULL_PROBABILITY:
            return None
        options = _enum_values(schema)
        if options:
            return rng.choice(options)
        if "string" in kinds:
            return self._string(name, schema)
        if "integer" in kinds:
            if schema.get("format") == "unix-time":
                return self._epoch + rng.randrange(PERIOD_SECONDS)
            return rng.randrange(100, 100_000) if "amount" in name else rng.randrange(1, 100)
        if "number" in kinds:
            return round(rng.random() * 100, 2)
        if "boolean" in kinds:
            return rng.random() < 0.5
        if "array" in kinds:
            if depth >= MAX_DEPTH:
                return []
            return [self.value(name, schema.get("items", {}), depth + 1)]
        if "object" in kinds:
            return self._object(schema, depth)
        return None

    def _string(self, name: str, schema: dict[str, Any]) -> str:
        number = self._rng.getrandbits(48)
        if "x-expandable" in schema:
            pool = self._references(schema["x-expandable"])
            return pool[number % len(pool)]
        match schema.get("format"):
            case "currency":
                return _CURRENCIES[number % len(_CURRENCIES)]
            case "decimal":
                return f"{number % 100_000 / 100:.2f}"
        return _text(name, number)

    def _object(self, schema: dict[str, Any], depth: int) -> dict[str, Any]:
        properties = schema.get("properties")
        if properties and depth < MAX_DEPTH:
            return {key: self.value(key, value, depth + 1) for key, value in properties.items()}
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict) and _types(extra) == {"string"}:
            return {"source": "fake_stripe"}
        return {}


def _types(schema: dict[str, Any]) -> set[str]:
    declared = schema.get("type", ())
    return {declared} if isinstance(declared, str) else set(declared)


def _is_nullable(schema: dict[str, Any]) -> bool:
    return "null" in _types(schema) or bool(schema.get("nullable"))


def _is_list_object(schema: dict[str, Any]) -> bool:
    return "has_more" in schema.get("properties", {})


def _enum_values(schema: dict[str, Any]) -> list[Any]:
    """The non-null values of the field's enum (empty when it has none)."""
    return [value for value in schema.get("enum", ()) if value is not None]
