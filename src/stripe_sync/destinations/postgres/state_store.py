"""The ``_sync_state`` table of a Postgres destination as the engine's StateStore.

One row per pipeline name in the destination schema. A missing schema or table reads as "no
state"; saving creates them. The connection is opened on first use and reopened once when it was
lost (a restarted server), so a long sync survives a Postgres restart between saves.

A run's lease (``lease``) is a session advisory lock keyed by schema and pipeline name, held on a
connection of its own: the server releases it when that connection ends, also when the process
holding it is killed.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any, TypeVar

import orjson
import psycopg
from psycopg import errors as pg_errors

from stripe_sync.destinations.errors import DestinationError
from stripe_sync.destinations.layout import check_identifier
from stripe_sync.destinations.postgres.database import PostgresDatabase, connect, translate
from stripe_sync.engine.run_lease import WAIT_POLL_S, PipelineBusy, busy_message
from stripe_sync.protocol.errors import ConfigError

T = TypeVar("T")


class PostgresStateStore:
    """Loads and saves SyncStates in ``<schema>._sync_state``, keyed by pipeline name."""

    def __init__(self, url: str, schema: str = "stripe") -> None:
        self.url = url
        self.schema = check_identifier(schema, "schema")
        self._db: PostgresDatabase | None = None
        self._table_ready = False

    @property
    def location(self) -> tuple[str, ...]:
        """Which database and schema this store saves into."""
        return ("postgres", self.url, self.schema)

    async def load(self, pipeline: str) -> dict[str, Any] | None:
        async def load(db: PostgresDatabase) -> dict[str, Any] | None:
            try:
                cursor = await db.conn.execute(db.statements.load_state(), {"pipeline": pipeline})
                row = await cursor.fetchone()
            except (pg_errors.UndefinedTable, pg_errors.InvalidSchemaName):
                return None
            return None if row is None else _as_state(row[0], pipeline)

        return await self._with_connection(load)

    async def save(self, pipeline: str, state: dict[str, Any]) -> None:
        params = {
            "pipeline": pipeline,
            "state": orjson.dumps(state).decode(),
            "updated_at": datetime.now(UTC),
        }

        async def save(db: PostgresDatabase) -> None:
            if not self._table_ready:
                await db.prepare_schema()
                self._table_ready = True
            await db.conn.execute(db.statements.save_state(), params)

        await self._with_connection(save)

    @asynccontextmanager
    async def lease(self, pipeline: str, *, wait: bool = False) -> AsyncIterator[None]:
        """Hold the pipeline's run lease (see the module docstring)."""
        conn = await connect(self.url)
        try:
            key = f"stripe-sync run {self.schema}.{pipeline}"
            while True:
                try:
                    cursor = await conn.execute(
                        "SELECT pg_try_advisory_lock(hashtextextended(%s, 0))", (key,)
                    )
                    row = await cursor.fetchone()
                except psycopg.Error as exc:
                    raise translate(exc, conn, None) from exc
                if row and row[0]:
                    break
                if not wait:
                    holder = f"its lease in schema {self.schema} is held by another connection"
                    raise PipelineBusy(busy_message(pipeline, holder))
                await asyncio.sleep(WAIT_POLL_S)
            yield
        finally:
            await conn.close()  # ends the session, which releases its advisory locks

    async def close(self) -> None:
        if self._db is not None:
            db, self._db = self._db, None
            await db.close()

    async def _with_connection(self, work: Callable[[PostgresDatabase], Awaitable[T]]) -> T:
        for attempt in (1, 2):
            if self._db is None or self._db.conn.closed:
                self._db = PostgresDatabase(await connect(self.url), self.schema)
            db = self._db
            try:
                return await work(db)
            except (psycopg.Error, DestinationError) as exc:  # the database's calls translate
                if db.conn.broken and attempt == 1:
                    await self.close()
                    continue
                if isinstance(exc, DestinationError):
                    raise
                raise translate(exc, db.conn, None) from exc
        raise AssertionError("unreachable")


def _as_state(value: Any, pipeline: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ConfigError(f"saved state of pipeline {pipeline!r} is not a JSON object")
    return value
