"""The table layout shared by every database destination: which table and columns a stream gets.

One table per stream, named after the stream. Its columns, in order: the primary key fields, one
typed column per top-level property of the stream's JSON Schema (``<field>_at``, a readable
timestamp, follows each ``unix-time`` field unless that name is taken), then the bookkeeping columns
``_raw_data`` (the object without ``_account_id``), ``_version``, ``_synced_at`` and ``_deleted``.
Names are checked here once, so SQL built from a layout can quote them without further thought.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from operator import itemgetter
from typing import Any

from stripe_sync.protocol.errors import ConfigError

IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
MAX_IDENTIFIER_LENGTH = 63  # Postgres truncates longer names silently; we refuse them instead.

ACCOUNT_FIELD = "_account_id"
BOOKKEEPING_COLUMNS = ("_raw_data", "_version", "_synced_at", "_deleted")
STATE_TABLE = "_sync_state"
DELETED_TABLE = "_sync_deleted"
LEASE_TABLE = "_sync_lease"  # SQLite only: who runs which pipeline
RESERVED_TABLES = frozenset({STATE_TABLE, DELETED_TABLE, LEASE_TABLE})


class InvalidName(ConfigError):
    """A stream, property or schema name that cannot be used as an SQL identifier."""


def check_identifier(name: object, what: str) -> str:
    """Return ``name`` if it is a plain identifier (letters, digits, ``_``; at most 63 chars)."""
    if not isinstance(name, str) or not IDENTIFIER.match(name):
        raise InvalidName(
            f"invalid {what} name {name!r}: use letters, digits and '_' (not starting with a digit)"
        )
    if len(name) > MAX_IDENTIFIER_LENGTH:
        raise InvalidName(f"invalid {what} name {name!r}: longer than {MAX_IDENTIFIER_LENGTH}")
    return name


def quote(name: str) -> str:
    """Quote an identifier (names are checked first, so this never meets a double quote)."""
    return '"' + name.replace('"', '""') + '"'


class Kind(StrEnum):
    """What a column holds; each dialect maps a kind to an SQL type and an extraction."""

    TEXT = "text"
    INTEGER = "integer"
    NUMBER = "number"
    BOOLEAN = "boolean"
    JSON = "json"
    TIMESTAMP = "timestamp"  # derived from a unix-time integer field


@dataclass(frozen=True)
class Column:
    """A typed column; ``field`` is the top-level property of the record it is read from."""

    name: str
    kind: Kind
    field: str


@dataclass(frozen=True)
class TableLayout:
    """A stream's table: key columns first, then the other typed columns."""

    table: str
    key: tuple[Column, ...]
    columns: tuple[Column, ...]

    @property
    def all_columns(self) -> tuple[Column, ...]:
        return self.key + self.columns

    def key_getter(self) -> Callable[[Mapping[str, Any]], tuple[Any, ...]]:
        """A fast function returning a record's key as a tuple (KeyError when a field is missing)."""
        fields = [column.field for column in self.key]
        if len(fields) == 1:
            only = fields[0]
            return lambda data: (data[only],)
        return itemgetter(*fields)

    def with_columns(self, columns: tuple[Column, ...]) -> TableLayout:
        return TableLayout(self.table, self.key, columns)


def layout_for_stream(stream: Mapping[str, Any]) -> TableLayout:
    """The layout of a configured stream; a ConfigError names anything that cannot be stored."""
    table = check_identifier(stream.get("name"), "stream")
    if table in RESERVED_TABLES:
        raise InvalidName(f"stream name {table!r} is reserved for the destination's bookkeeping")
    schema = stream.get("json_schema") or {}
    properties: dict[str, Any] = schema.get("properties") or {}
    columns: dict[str, Column] = {}
    for field, prop in properties.items():
        check_identifier(field, f"property of stream {table!r}:")
        if field in BOOKKEEPING_COLUMNS:
            raise InvalidName(
                f"property {field!r} of stream {table!r} clashes with a bookkeeping column"
            )
        columns[field] = Column(field, kind_of(prop), field)
    for field, prop in properties.items():
        stamp = f"{field}_at"
        numeric = columns[field].kind in (Kind.INTEGER, Kind.NUMBER)
        fits = len(stamp) <= MAX_IDENTIFIER_LENGTH
        if numeric and fits and is_unix_time(prop) and stamp not in columns:
            columns[stamp] = Column(stamp, Kind.TIMESTAMP, field)
    key = tuple(_key_column(path, columns, table) for path in _primary_key(stream, table))
    key_names = {column.name for column in key}
    order = {name: index for index, name in enumerate(columns)}
    ordered = sorted(
        (c for c in columns.values() if c.name not in key_names),
        key=lambda c: (order[c.field], c.kind is Kind.TIMESTAMP),  # a timestamp after its field
    )
    return TableLayout(table, key, tuple(ordered))


def _primary_key(stream: Mapping[str, Any], table: str) -> list[list[str]]:
    paths = stream.get("primary_key") or []
    if not paths:
        raise ConfigError(f"stream {table!r} has no primary key")
    for path in paths:
        if not isinstance(path, list) or len(path) != 1:
            raise ConfigError(
                f"stream {table!r}: primary key paths must be top-level fields: {path}"
            )
    return paths


def _key_column(path: list[str], columns: dict[str, Column], table: str) -> Column:
    name = check_identifier(path[0], f"primary key field of stream {table!r}:")
    column = columns.get(name, Column(name, Kind.TEXT, name))
    if column.kind not in (Kind.TEXT, Kind.INTEGER):
        raise ConfigError(
            f"stream {table!r}: primary key field {name!r} must be a string or integer"
        )
    return column


def is_unix_time(prop: Mapping[str, Any]) -> bool:
    if prop.get("format") == "unix-time":
        return True
    return any(is_unix_time(member) for member in _members(prop))


def kind_of(prop: Mapping[str, Any]) -> Kind:
    """The column kind for a property's JSON Schema.

    Nullability is ignored (every typed column is nullable). A field that is either a string or an
    object (Stripe's expandable ids) is text: the id, or the expanded object's JSON.
    """
    types = _json_types(prop) - {"null"}
    if types == {"string"} or types == {"string", "object"}:
        return Kind.TEXT
    if types == {"integer"}:
        return Kind.INTEGER
    if types and types <= {"integer", "number"}:
        return Kind.NUMBER
    if types == {"boolean"}:
        return Kind.BOOLEAN
    return Kind.JSON


def _json_types(prop: Mapping[str, Any]) -> set[str]:
    declared = prop.get("type")
    if isinstance(declared, str):
        types = {declared}
    elif isinstance(declared, list):
        types = {t for t in declared if isinstance(t, str)}
    elif "$ref" in prop or "properties" in prop:
        types = {"object"}
    elif "enum" in prop and all(isinstance(v, str) for v in prop["enum"] if v is not None):
        types = {"string"}
    else:
        types = set()
    for member in _members(prop):
        types |= _json_types(member)
    return types


def _members(prop: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [
        m for key in ("anyOf", "oneOf", "allOf") for m in prop.get(key) or [] if isinstance(m, dict)
    ]
