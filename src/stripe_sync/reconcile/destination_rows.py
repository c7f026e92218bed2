"""Reading back what a database destination holds: ids, creation times and raw objects.

Only rows that are not marked deleted count. Reads never write: SQLite is opened read-only and
Postgres queries are plain SELECTs.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from stripe_sync.destinations.config import DestinationConfig, destination_type, sqlite_path
from stripe_sync.destinations.layout import quote
from stripe_sync.destinations.postgres.database import connect as connect_postgres
from stripe_sync.protocol.errors import ConfigError

Row = tuple[str, int | None]


@dataclass(frozen=True)
class StoredRows:
    """One stream's live rows: id → created (None when the stream has no creation field)."""

    created: dict[str, int | None]
    table_exists: bool


class DestinationReader:
    """Reads rows of one account from the tables of a SQLite or Postgres destination."""

    def __init__(self, config: DestinationConfig) -> None:
        self.config = config
        self.kind = destination_type(config.url)

    def _table(self, name: str) -> str:
        if self.kind == "postgres":
            return f"{quote(self.config.schema_)}.{quote(name)}"
        return quote(name)

    async def _query(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]] | None:
        """Rows of ``sql`` (``?`` placeholders), or None when the table does not exist."""
        if self.kind == "sqlite":
            return await asyncio.to_thread(self._sqlite_query, sql, params)
        conn = await connect_postgres(self.config.url)
        try:
            cursor = await conn.execute(sql.replace("?", "%s"), list(params))
            return list(await cursor.fetchall())
        except Exception as exc:
            if "does not exist" in str(exc):
                return None
            raise
        finally:
            await conn.close()

    def _sqlite_query(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]] | None:
        path = sqlite_path(self.config.url)
        try:
            conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        except sqlite3.Error as exc:
            raise ConfigError(f"cannot open SQLite database {path}: {exc}") from None
        try:
            return conn.execute(sql, params).fetchall()
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):
                return None
            raise
        finally:
            conn.close()

    async def rows(
        self, stream: str, account_id: str | None, created_field: str | None, lt: int | None
    ) -> StoredRows:
        """Live rows of ``account_id`` (every account when None) created before ``lt``."""
        created = quote(created_field) if created_field else "NULL"
        sql = f"SELECT id, {created} FROM {self._table(stream)} WHERE NOT _deleted"
        params: list[Any] = []
        if account_id is not None:
            sql += " AND _account_id = ?"
            params.append(account_id)
        if created_field and lt is not None:
            sql += f" AND {created} < ?"
            params.append(lt)
        found = await self._query(sql, params)
        if found is None:
            return StoredRows({}, False)
        return StoredRows({str(row[0]): row[1] for row in found}, True)

    async def raw_objects(
        self, stream: str, account_id: str | None, ids: list[str]
    ) -> dict[str, Any]:
        if not ids or account_id is None:
            return {}
        marks = ", ".join("?" for _ in ids)
        sql = (
            f"SELECT id, _raw_data FROM {self._table(stream)} "
            f"WHERE _account_id = ? AND id IN ({marks})"
        )
        found = await self._query(sql, [account_id, *ids]) or []
        return {str(row[0]): _json(row[1]) for row in found}


def _json(value: Any) -> Any:
    return orjson.loads(value) if isinstance(value, str | bytes) else value
