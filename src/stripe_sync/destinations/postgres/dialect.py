"""How Postgres spells the shared table layout: types, jsonb operators, ``%(name)s`` parameters.

Staged data is ``jsonb``; typed columns are converted from it on the server
(``jsonb_populate_record`` with the table's row type), so the client serialises each record once.
A row the upsert inserted has ``xmax = 0``. The staging table empties itself at each commit.
"""

from __future__ import annotations

from stripe_sync.destinations.layout import Column, Kind, quote
from stripe_sync.destinations.sql import Dialect


def _staged_source(stage: str, table: str, condition: str) -> str:
    # OFFSET 0 keeps the subquery, so each staged object is detoasted once; jsonb_populate_record
    # then reads every typed column in one pass, converting to the table's column types.
    staged = f"(SELECT s.*, s._data AS _raw FROM {stage} AS s WHERE {condition} OFFSET 0) AS inc"
    return f"{staged} CROSS JOIN LATERAL jsonb_populate_record(NULL::{table}, inc._raw) AS r"


def _extract(column: Column) -> str:
    if column.kind is Kind.TIMESTAMP:
        return f"to_timestamp(r.{quote(column.field)})"
    return f"r.{quote(column.name)}"


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
    staged_source=_staged_source,
    extract=_extract,
    json_array="jsonb_build_array",
    param=lambda name: f"%({name})s",
    inserted_flag="(xmax = 0)",
    temp_table_options=" ON COMMIT DELETE ROWS",
)
