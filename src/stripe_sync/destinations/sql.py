"""SQL for the table layout, written once for both databases; a ``Dialect`` supplies the differences.

A batch is loaded into a staging table (key columns, ``_version``, ``_deleted``, ``_data`` = the
record's data as JSON, without ``_account_id``) and applied with one set-based statement per kind of
change:

- ``upsert``: live records. A stored row is replaced only by a record whose version is not older
  (ties: the incoming row wins); an identical record leaves ``_synced_at`` alone. Records older than
  a remembered hard delete are refused. ``RETURNING`` tells inserted / changed apart, so the counts
  in ``write_stats`` are what the database did (a dialect without ``returning`` counts them with a
  query after the statement instead).
- ``soft_delete``: tombstones set ``_deleted`` (or insert a deleted row, so a late update of an
  object we never saw cannot bring it back).
- ``hard_delete`` + ``remember_deleted``: tombstones remove the row and record ``(stream, key,
  version)`` in ``_sync_deleted``.
``_synced_at`` is the time a row's content (data or deleted flag) last changed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from stripe_sync.destinations.layout import (
    DELETED_TABLE,
    STATE_TABLE,
    Column,
    Kind,
    TableLayout,
    quote,
)

STAGE_COLUMNS = ("_version", "_deleted", "_data")


@dataclass(frozen=True)
class Dialect:
    """What differs between the databases: types, JSON access, parameters, staging."""

    types: Mapping[Kind, str]
    json_type: str
    timestamp_type: str
    # FROM clause over a staging table (stage, target table, condition on alias ``s``) exposing
    # ``inc``: the staged columns plus ``_raw`` (the stored ``_raw_data``)
    staged_source: Callable[[str, str, str], str]
    extract: Callable[[Column], str]  # a typed column's value from the staged source
    json_array: str  # function building a JSON array: jsonb_build_array / json_array
    param: Callable[[str], str]  # named parameter placeholder
    inserted_flag: str  # true in RETURNING for a row the statement inserted (not updated)
    temp_table_options: str  # appended to CREATE TEMP TABLE
    returning: bool = True  # upsert and soft delete return (inserted, changed) per written row

    def column_kind(self, declared: str, wanted: Kind) -> Kind | None:
        """The kind to write into an existing column of SQL type ``declared`` (None: leave it)."""
        declared = declared.lower()
        if self.types[wanted].lower() == declared:
            return wanted
        return next((kind for kind, name in self.types.items() if name.lower() == declared), None)


class Statements:
    """The SQL text for one destination schema (``schema=None``: the database's default)."""

    def __init__(self, dialect: Dialect, schema: str | None) -> None:
        self.dialect = dialect
        self.schema = schema

    def table(self, name: str) -> str:
        return f"{quote(self.schema)}.{quote(name)}" if self.schema else quote(name)

    # --- bookkeeping tables -------------------------------------------------------------------

    def create_state_table(self) -> str:
        return (
            f"CREATE TABLE IF NOT EXISTS {self.table(STATE_TABLE)} (pipeline TEXT PRIMARY KEY, "
            f"state {self.dialect.json_type} NOT NULL, "
            f"updated_at {self.dialect.timestamp_type} NOT NULL)"
        )

    def create_deleted_table(self) -> str:
        return (
            f"CREATE TABLE IF NOT EXISTS {self.table(DELETED_TABLE)} (stream TEXT NOT NULL, "
            f"key {self.dialect.json_type} NOT NULL, _version {self.dialect.types[Kind.INTEGER]} "
            "NOT NULL, PRIMARY KEY (stream, key))"
        )

    def load_state(self) -> str:
        return f"SELECT state FROM {self.table(STATE_TABLE)} WHERE pipeline = {self._p('pipeline')}"

    def save_state(self) -> str:
        return (
            f"INSERT INTO {self.table(STATE_TABLE)} (pipeline, state, updated_at) VALUES "
            f"({self._p('pipeline')}, {self._p('state')}, {self._p('updated_at')}) "
            "ON CONFLICT (pipeline) DO UPDATE SET state = excluded.state, "
            "updated_at = excluded.updated_at"
        )

    def delete_state(self) -> str:
        return f"DELETE FROM {self.table(STATE_TABLE)} WHERE pipeline = {self._p('pipeline')}"

    def saved_states(self) -> str:
        return f"SELECT pipeline, state FROM {self.table(STATE_TABLE)}"

    def forget_deleted(self) -> str:
        """Forget the hard deletes remembered for one stream (its table is dropped)."""
        return f"DELETE FROM {self.table(DELETED_TABLE)} WHERE stream = {self._p('stream')}"

    # --- stream tables ------------------------------------------------------------------------

    def create_table(self, layout: TableLayout) -> str:
        definitions = [f"{quote(c.name)} {self._type(c)} NOT NULL" for c in layout.key]
        definitions += [f"{quote(c.name)} {self._type(c)}" for c in layout.columns]
        definitions += [
            f"_raw_data {self.dialect.json_type} NOT NULL",
            f"_version {self.dialect.types[Kind.INTEGER]} NOT NULL",
            f"_synced_at {self.dialect.timestamp_type} NOT NULL",
            f"_deleted {self.dialect.types[Kind.BOOLEAN]} NOT NULL DEFAULT FALSE",
            f"PRIMARY KEY ({_names(layout.key)})",
        ]
        return f"CREATE TABLE IF NOT EXISTS {self.table(layout.table)} ({', '.join(definitions)})"

    def add_column(self, layout: TableLayout, column: Column) -> str:
        return f"ALTER TABLE {self.table(layout.table)} ADD COLUMN {quote(column.name)} {self._type(column)}"

    def drop_table(self, name: str) -> str:
        return f"DROP TABLE IF EXISTS {self.table(name)}"

    # --- batches ------------------------------------------------------------------------------

    def create_stage(self, layout: TableLayout, stage: str) -> str:
        definitions = [f"{quote(c.name)} {self._type(c)}" for c in layout.key]
        definitions += [
            f"_version {self.dialect.types[Kind.INTEGER]}",
            f"_deleted {self.dialect.types[Kind.BOOLEAN]}",
            f"_data {self.dialect.json_type}",
        ]
        options = self.dialect.temp_table_options
        return f"CREATE TEMP TABLE IF NOT EXISTS {quote(stage)} ({', '.join(definitions)}){options}"

    def upsert(self, layout: TableLayout, stage: str) -> str:
        """Apply the staged live records; RETURNING (inserted, changed) per written row."""
        same = "cur._raw_data = excluded._raw_data AND NOT cur._deleted"
        updates = ", ".join(f"{n} = excluded.{n}" for n in _value_names(layout.columns))
        return (
            f"{self._insert_staged(layout, stage, deleted=False)} "
            f"AND NOT EXISTS ({self._deleted_later(layout)}) "
            f"ON CONFLICT ({_names(layout.key)}) DO UPDATE SET {updates}, "
            f"_synced_at = CASE WHEN {same} THEN cur._synced_at ELSE excluded._synced_at END "
            "WHERE cur._version < excluded._version "
            f"OR (cur._version = excluded._version AND NOT ({same}))"
            f"{self._returning()}"
        )

    def soft_delete(self, layout: TableLayout, stage: str) -> str:
        """Mark rows deleted (inserting a deleted row for unknown objects); RETURNING as upsert."""
        return (
            f"{self._insert_staged(layout, stage, deleted=True)} "
            f"ON CONFLICT ({_names(layout.key)}) DO UPDATE SET _deleted = TRUE, "
            "_version = excluded._version, "
            "_synced_at = CASE WHEN cur._deleted THEN cur._synced_at ELSE excluded._synced_at END "
            f"WHERE cur._version <= excluded._version{self._returning()}"
        )

    def hard_delete(self, layout: TableLayout, stage: str) -> str:
        match = " AND ".join(f"inc.{quote(c.name)} = cur.{quote(c.name)}" for c in layout.key)
        return (
            f"DELETE FROM {self.table(layout.table)} AS cur WHERE EXISTS (SELECT 1 FROM "
            f"{quote(stage)} AS inc WHERE inc._deleted AND {match} "
            "AND inc._version >= cur._version)"
        )

    def remember_deleted(self, layout: TableLayout, stage: str) -> str:
        return (
            f"INSERT INTO {self.table(DELETED_TABLE)} AS gone (stream, key, _version) "
            f"SELECT {self._p('stream')}, {self._key_json(layout)}, inc._version "
            f"FROM {quote(stage)} AS inc WHERE inc._deleted "
            "ON CONFLICT (stream, key) DO UPDATE SET _version = excluded._version "
            "WHERE gone._version < excluded._version"
        )

    # --- pieces -------------------------------------------------------------------------------

    def _insert_staged(self, layout: TableLayout, stage: str, *, deleted: bool) -> str:
        names = [c.name for c in layout.all_columns] + ["_raw_data", "_version", "_synced_at"]
        values = [f"inc.{quote(c.name)}" for c in layout.key]
        values += [self.dialect.extract(c) for c in layout.columns]
        values += ["inc._raw", "inc._version", self._p("synced_at")]
        flag = "TRUE" if deleted else "FALSE"
        table = self.table(layout.table)
        source = self.dialect.staged_source(
            quote(stage), table, f"{'' if deleted else 'NOT '}s._deleted"
        )
        return (
            f"INSERT INTO {table} AS cur ({_quoted(names)}, _deleted) "
            f"SELECT {', '.join(values)}, {flag} FROM {source} WHERE TRUE"
        )

    def _deleted_later(self, layout: TableLayout) -> str:
        return (
            f"SELECT 1 FROM {self.table(DELETED_TABLE)} AS gone WHERE gone.stream = "
            f"{self._p('stream')} AND gone.key = {self._key_json(layout)} "
            "AND gone._version > inc._version"
        )

    def _key_json(self, layout: TableLayout) -> str:
        return f"{self.dialect.json_array}({', '.join(f'inc.{quote(c.name)}' for c in layout.key)})"

    def _returning(self) -> str:
        if not self.dialect.returning:
            return ""
        return f" RETURNING {self.dialect.inserted_flag}, _synced_at = {self._p('synced_at')}"

    def _type(self, column: Column) -> str:
        return self.dialect.types[column.kind]

    def _p(self, name: str) -> str:
        return self.dialect.param(name)


def _value_names(columns: tuple[Column, ...]) -> list[str]:
    return [quote(c.name) for c in columns] + ["_raw_data", "_version", "_deleted"]


def _names(columns: tuple[Column, ...]) -> str:
    return _quoted([c.name for c in columns])


def _quoted(names: list[str]) -> str:
    return ", ".join(quote(n) for n in names)
