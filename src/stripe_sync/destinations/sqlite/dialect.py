"""How SQLite spells the shared table layout: declared types, JSON operators, ``:name`` parameters.

Needs SQLite 3.38+ (``->``/``->>``). JSON and timestamps are stored as text (timestamps as
ISO-8601 UTC), booleans as 0/1. New rows get a rowid above the table's largest, which is how the
upsert tells inserted rows from updated ones.
"""

from __future__ import annotations

from stripe_sync.destinations.layout import ACCOUNT_FIELD, Column, Kind
from stripe_sync.destinations.sql import Dialect


def _extract(column: Column, data: str) -> str:
    path = f"'$.{column.field}'"
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
    extract=_extract,
    strip_account=lambda data: f"json_remove({data}, '$.{ACCOUNT_FIELD}')",
    json_array="json_array",
    param=lambda name: f":{name}",
    inserted_flag="(rowid > :max_rowid)",
    temp_table_options="",
)
