"""Helpers for destination tests: a database target (SQLite file or Postgres database), a small
customers catalog, record and state messages, and running ``write`` to completion."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from typing import Any

import orjson
import psycopg

from stripe_sync.destinations.destination import DatabaseDestination
from stripe_sync.destinations.postgres import PostgresDestination
from stripe_sync.destinations.sqlite import SqliteDestination

Message = dict[str, Any]

CUSTOMER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "id": {"type": "string"},
        "object": {"type": "string", "enum": ["customer"]},
        "created": {"type": "integer", "format": "unix-time"},
        "email": {"type": ["string", "null"]},
        "balance": {"type": "integer"},
        "discount_rate": {"type": ["number", "null"]},
        "livemode": {"type": "boolean"},
        "metadata": {"type": "object", "additionalProperties": {"type": "string"}},
        "default_source": {
            "anyOf": [{"type": "string"}, {"$ref": "#/$defs/source"}],
            "nullable": True,
        },
        "_account_id": {"type": "string"},
    },
}


def stream(name: str = "customers", schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "name": name,
        "json_schema": schema or CUSTOMER_SCHEMA,
        "primary_key": [["id"], ["_account_id"]],
        "supports_time_range": True,
    }


def catalog(*names: str) -> dict[str, Any]:
    return {"streams": [stream(name) for name in names or ("customers",)]}


def customer(n: int, **fields: Any) -> dict[str, Any]:
    data = {
        "id": f"cus_{n}",
        "object": "customer",
        "created": 1_700_000_000 + n,
        "email": f"user{n}@example.com",
        "balance": n * 100,
        "discount_rate": 0.5,
        "livemode": False,
        "metadata": {"n": str(n)},
        "default_source": None,
        "_account_id": "acct_1",
    }
    data.update(fields)
    return data


def record(
    data: dict[str, Any], version: int | None = 1000, stream: str = "customers", **extra: Any
) -> Message:
    payload: dict[str, Any] = {"stream": stream, "data": data, "emitted_at": "2026-01-01T00:00:00Z"}
    if version is not None:
        payload["version"] = version
    payload.update(extra)
    return {"type": "record", "record": payload}


def tombstone(n: int, version: int, stream: str = "customers") -> Message:
    data = {"id": f"cus_{n}", "object": "customer", "deleted": True, "_account_id": "acct_1"}
    return record(data, version, stream, deleted=True)


def state(stream: str, data: Any) -> Message:
    return {
        "type": "source_state",
        "source_state": {"state_type": "stream", "stream": stream, "data": data},
    }


def global_state(data: Any) -> Message:
    return {"type": "source_state", "source_state": {"state_type": "global", "data": data}}


async def feed(messages: Iterable[Message]) -> AsyncIterator[Message]:
    for message in messages:
        yield message


def of_type(messages: list[Message], kind: str) -> list[dict[str, Any]]:
    return [m[kind] for m in messages if m["type"] == kind]


def totals(messages: list[Message]) -> dict[str, int]:
    """write_stats summed over batches."""
    summed = {"inserted": 0, "updated": 0, "unchanged": 0, "deleted": 0}
    for stats in of_type(messages, "write_stats"):
        for key in summed:
            summed[key] += stats[key]
    return summed


@dataclass
class Target:
    """A destination database under test; ``query`` reads it with a separate connection."""

    kind: str  # "sqlite" | "postgres"
    url: str

    def destination(self) -> DatabaseDestination:
        return SqliteDestination() if self.kind == "sqlite" else PostgresDestination()

    def config(self, **options: Any) -> dict[str, Any]:
        return {"url": self.url, **options}

    def table(self, name: str, schema: str = "stripe") -> str:
        return f'"{name}"' if self.kind == "sqlite" else f'"{schema}"."{name}"'

    def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        if self.kind == "sqlite":
            sql = sql.replace("%s", "?")
            with sqlite3.connect(self.url.removeprefix("sqlite:///")) as conn:
                return conn.execute(sql, params).fetchall()
        with psycopg.connect(self.url) as conn:
            return conn.execute(sql, params).fetchall()  # type: ignore[arg-type]

    def columns(self, table: str, schema: str = "stripe") -> list[str]:
        if self.kind == "sqlite":
            return [row[1] for row in self.query(f'PRAGMA table_info("{table}")')]
        rows = self.query(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = %s "
            "AND table_name = %s ORDER BY ordinal_position",
            (schema, table),
        )
        return [row[0] for row in rows]

    async def write(
        self, messages: Iterable[Message], catalog_: dict[str, Any] | None = None, **options: Any
    ) -> list[Message]:
        """Run ``write`` over the messages and return everything it emitted."""
        out = self.destination().write(
            self.config(**options), catalog_ or catalog(), feed(messages)
        )
        return [message async for message in out]


def saved_and_stored(target: Target) -> tuple[int, int] | None:
    """(saved offset, rows in the table) read in one statement, so from one snapshot."""
    try:
        rows = target.query(
            f"SELECT (SELECT state FROM {target.table('_sync_state')} WHERE pipeline = 'killed'), "
            f"(SELECT count(*) FROM {target.table('customers')})"
        )
    except (sqlite3.OperationalError, psycopg.errors.UndefinedTable):
        return None  # the tables are not there yet
    state, count = rows[0]
    if state is None:
        return None
    if isinstance(state, str):
        state = orjson.loads(state)
    return int(state["source"]["streams"]["customers"]["offset"]), int(count)


def assert_state_covers_data(target: Target, snapshots: list[tuple[int, int]], page: int) -> None:
    """After the writer stopped: in every look (``snapshots``, plus one taken now) the saved
    offset covers every committed row but at most one ``page`` in flight, and every record the
    final offset claims is in the table."""
    final = saved_and_stored(target)
    assert final is not None
    snapshots.append(final)
    too_far = [(offset, rows) for offset, rows in snapshots if not offset <= rows <= offset + page]
    assert too_far == [], f"saved offset vs rows committed, of {len(snapshots)} looks: {too_far}"
    offset, _ = final
    stored = {row[0] for row in target.query(f"SELECT id FROM {target.table('customers')}")}
    missing = [n for n in range(offset) if f"customers_{n}" not in stored]
    assert missing == [], f"saved offset {offset} claims records that are not in the table"
