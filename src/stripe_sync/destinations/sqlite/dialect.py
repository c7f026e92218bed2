"""How SQLite spells the shared table layout: declared types, JSON operators, ``:name`` parameters.

Needs SQLite 3.38+ (``->``/``->>``). JSON and timestamps are stored as text (timestamps as
ISO-8601 UTC), booleans as 0/1. New rows get a rowid above the table's largest, which is how the
upsert tells inserted rows from updated ones. Statements return no rows (``returning=False``): the
batch's counts come from one aggregate query afterwards, because every row Python's ``sqlite3``
fetches is a step that gives the GIL up and waits to take it back from the busy event loop.
"""

from __future__ import annotations

from stripe_sync.destinations.layout import Column, Kind
from stripe_sync.destinations.sql import Dialect


def _staged_source(stage: str, table: str, condition: str) -> str:
    return f"(SELECT s.*, s._data AS _raw FROM {stage} AS s WHERE {condition}) AS inc"


def _extract(column: Column) -> str:
    path = f"'$.{column.field}'"
    data = "inc._data"
    if column.kind is Kind.JSON:
        return f"nullif({data} -> {path}, 'null')"
    if column.kind is Kind.TIMESTAMP:
        return f"strftime('%Y-%m-%dT%H:%M:%SZ', {data} ->> {path}, 'unixepoch')"
    return f"({data} ->> {path})"


SQLITE = Dialect(
    types={
        Kind.TEXT: "TEXT",
        Kind.INTEGER: "INTEGER",
        Kind.NUMBER: "REAL",
        Kind.BOOLEAN: "BOOLEAN",
        Kind.JSON: "TEXT",
        Kind.TIMESTAMP: "TEXT",
    },
    json_type="TEXT",
    timestamp_type="TEXT",
    staged_source=_staged_source,
    extract=_extract,
    json_array="json_array",
    param=lambda name: f":{name}",
    inserted_flag="(rowid > :max_rowid)",
    temp_table_options="",
    returning=False,
)
