"""How Postgres spells the shared table layout: types, jsonb operators, ``%(name)s`` parameters.

Staged data is ``jsonb``; typed columns are cast from it on the server, so the client only
serialises each record once. A row the upsert inserted has ``xmax = 0``. The staging table
empties itself at each commit.
"""

from __future__ import annotations

from stripe_sync.destinations.layout import ACCOUNT_FIELD, Column, Kind
from stripe_sync.destinations.sql import Dialect

_CASTS = {Kind.INTEGER: "::bigint", Kind.NUMBER: "::numeric", Kind.BOOLEAN: "::boolean"}


def _extract(column: Column, data: str) -> str:
    field = f"'{column.field}'"
    if column.kind is Kind.JSON:
        return f"nullif({data} -> {field}, 'null'::jsonb)"
    if column.kind is Kind.TIMESTAMP:
        return f"to_timestamp(({data} ->> {field})::double precision)"
    return f"({data} ->> {field}){_CASTS.get(column.kind, '')}"


POSTGRES = Dialect(
    types={
        Kind.TEXT: "text",
        Kind.INTEGER: "bigint",
        Kind.NUMBER: "numeric",
        Kind.BOOLEAN: "boolean",
        Kind.JSON: "jsonb",
        Kind.TIMESTAMP: "timestamp with time zone",
    },
    json_type="jsonb",
    timestamp_type="timestamp with time zone",
    extract=_extract,
    strip_account=lambda data: f"({data} - '{ACCOUNT_FIELD}')",
    json_array="jsonb_build_array",
    param=lambda name: f"%({name})s",
    inserted_flag="(xmax = 0)",
    temp_table_options=" ON COMMIT DELETE ROWS",
)
