"""An open Postgres connection for the destination: connecting, DDL and batch writes.

A batch is one transaction: ``COPY`` into a temporary staging table, then the shared set-based
statements. Driver errors become DestinationErrors: a lost or refused connection is global
(``transient_error``), refused credentials are ``auth_error``, anything else is the table's.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg import errors as pg_errors

from stripe_sync.destinations.database import Batch, BatchSql, SavedState, Statement, WriteCounts
from stripe_sync.destinations.errors import (
    DestinationError,
    credentials_rejected,
    table_failed,
    transient_failure,
    unusable_config,
)
from stripe_sync.destinations.layout import TableLayout, quote
from stripe_sync.destinations.postgres.dialect import POSTGRES
from stripe_sync.destinations.sql import STAGE_COLUMNS, Statements

CONNECT_TIMEOUT_S = 10
_AUTH_PHRASES = (
    "password authentication failed",
    "no password supplied",
    "role ",
    "permission denied",
)


async def connect(url: str) -> psycopg.AsyncConnection:
    """Open an autocommit connection; failures are DestinationErrors without the password."""
    try:
        conn = await psycopg.AsyncConnection.connect(
            url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S, application_name="stripe-sync"
        )
        # A confirmed state promises its records survive a server crash, whatever the default.
        await conn.execute("SET synchronous_commit = on")
    except psycopg.Error as exc:
        raise _connect_failure(exc) from None
    with contextlib.suppress(psycopg.Error):  # a server built without lz4 keeps pglz
        await conn.execute("SET default_toast_compression = 'lz4'")
    return conn


def _connect_failure(exc: psycopg.Error) -> DestinationError:
    message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if exc.sqlstate in ("28P01", "28000") or any(p in message for p in _AUTH_PHRASES):
        return credentials_rejected(f"Postgres refused the credentials: {message}")
    if exc.sqlstate == "3D000" or ("database" in message and "does not exist" in message):
        return unusable_config(f"Postgres: {message}")
    if isinstance(exc, psycopg.ProgrammingError):
        return unusable_config(f"invalid Postgres URL: {message}")
    return transient_failure(f"cannot reach Postgres: {message}")


def translate(
    exc: psycopg.Error, conn: psycopg.AsyncConnection, table: str | None
) -> DestinationError:
    """Map an error raised while connected."""
    message = (exc.diag.message_primary if exc.diag else None) or str(exc).strip()
    if conn.broken or isinstance(exc, psycopg.OperationalError):
        return transient_failure(f"lost the connection to Postgres: {message}")
    if isinstance(exc, pg_errors.InsufficientPrivilege):
        failure = f"Postgres refused access: {message}"
        return table_failed(failure, "config_error") if table else unusable_config(failure)
    if table is None:
        return DestinationError(f"Postgres: {message}", "system_error")
    return table_failed(f"table {table!r}: {message}")


class PostgresDatabase:
    """One autocommit connection; DDL and batches run in explicit transactions."""

    def __init__(self, conn: psycopg.AsyncConnection, schema: str) -> None:
        self.conn = conn
        self.schema = schema
        self.statements = Statements(POSTGRES, schema)
        self._batch_sql: dict[TableLayout, tuple[BatchSql, str]] = {}

    @classmethod
    async def open(cls, url: str, schema: str) -> PostgresDatabase:
        return cls(await connect(url), schema)

    async def table_columns(self, table: str) -> dict[str, str] | None:
        query = (
            "SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a "
            "JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = %s AND c.relname = %s AND a.attnum > 0 AND NOT a.attisdropped"
        )
        try:
            cursor = await self.conn.execute(query, (self.schema, table))
            rows = await cursor.fetchall()
        except psycopg.Error as exc:
            raise translate(exc, self.conn, table) from exc
        return {name: declared for name, declared in rows} or None

    async def tables(self) -> dict[str, dict[str, str]]:
        query = (
            "SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a "
            "JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = %s AND c.relkind IN ('r', 'p', 'f', 'v', 'm') AND a.attnum > 0 "
            "AND NOT a.attisdropped ORDER BY c.relname, a.attnum"
        )
        try:
            cursor = await self.conn.execute(query, (self.schema,))
            rows = await cursor.fetchall()
        except psycopg.Error as exc:
            raise translate(exc, self.conn, None) from exc
        found: dict[str, dict[str, str]] = {}
        for table, column, declared in rows:
            found.setdefault(table, {})[column] = declared
        return found

    async def execute(self, statements: Sequence[Statement]) -> None:
        """Run statements in one transaction that first takes the schema's DDL lock, so processes
        creating the same schema or tables at once take turns (``IF NOT EXISTS`` alone races)."""
        try:
            async with self.conn.transaction():
                await self.conn.execute(
                    "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))",
                    (f"stripe-sync ddl {self.schema}",),
                )
                for statement in statements:
                    sql, params = (statement, None) if isinstance(statement, str) else statement
                    await self.conn.execute(sql, params)
        except psycopg.Error as exc:
            raise translate(exc, self.conn, None) from exc

    async def saved_states(self) -> dict[str, Any]:
        try:
            cursor = await self.conn.execute(self.statements.saved_states())
            return {pipeline: state for pipeline, state in await cursor.fetchall()}
        except psycopg.Error as exc:
            raise translate(exc, self.conn, None) from exc

    async def _schema_exists(self) -> bool:
        try:
            cursor = await self.conn.execute(
                "SELECT 1 FROM pg_namespace WHERE nspname = %s", (self.schema,)
            )
            return await cursor.fetchone() is not None
        except psycopg.Error as exc:
            raise translate(exc, self.conn, None) from exc

    async def prepare_schema(self) -> None:
        statements = (
            []
            if await self._schema_exists()
            else [f"CREATE SCHEMA IF NOT EXISTS {quote(self.schema)}"]
        )
        statements += [self.statements.create_state_table(), self.statements.create_deleted_table()]
        await self.execute(statements)

    async def check_writable(self) -> None:
        if await self._schema_exists():
            query, what = (
                "SELECT has_schema_privilege(%s, 'USAGE, CREATE')",
                f"schema {self.schema}",
            )
            params: tuple[str, ...] = (self.schema,)
        else:
            query, what = (
                "SELECT has_database_privilege(current_database(), 'CREATE')",
                "this database",
            )
            params = ()
        try:
            cursor = await self.conn.execute(query, params)
            row = await cursor.fetchone()
        except psycopg.Error as exc:
            raise translate(exc, self.conn, None) from exc
        if not row or not row[0]:
            raise unusable_config(f"the Postgres role may not create tables in {what}")

    async def drop_schema_if_empty(self) -> None:
        if self.schema == "public":
            return
        try:
            await self.conn.execute(f"DROP SCHEMA IF EXISTS {quote(self.schema)}")
        except pg_errors.DependentObjectsStillExist:
            pass
        except psycopg.Error as exc:
            raise translate(exc, self.conn, None) from exc

    async def write_batch(
        self, layout: TableLayout, batch: Batch, state: SavedState | None = None
    ) -> WriteCounts:
        params = {"stream": layout.table, "synced_at": datetime.now(UTC)}
        counts = WriteCounts()
        try:
            sql, copy_sql = await self._sql(layout)
            async with self.conn.transaction(), self.conn.cursor() as cursor:
                async with cursor.copy(copy_sql) as copy:
                    for row in batch.rows:
                        await copy.write_row(row)
                for step in sql.steps(batch):
                    await cursor.execute(step.sql, params)
                    result = await cursor.fetchall() if step.returns_rows else cursor.rowcount
                    counts.record(step, result, batch)
                if state is not None:
                    await cursor.execute(self.statements.save_state(), _state_params(state))
        except psycopg.Error as exc:
            raise translate(exc, self.conn, layout.table) from exc
        return counts

    async def save_state(self, state: SavedState) -> None:
        try:
            await self.conn.execute(self.statements.save_state(), _state_params(state))
        except psycopg.Error as exc:
            raise translate(exc, self.conn, None) from exc

    async def _sql(self, layout: TableLayout) -> tuple[BatchSql, str]:
        cached = self._batch_sql.get(layout)
        if cached is None:
            sql = BatchSql.build(self.statements, layout, f"_sync_stage_{len(self._batch_sql)}")
            await self.conn.execute(sql.create_stage)
            columns = ", ".join([quote(c.name) for c in layout.key] + list(STAGE_COLUMNS))
            cached = sql, f"COPY {quote(sql.stage)} ({columns}) FROM STDIN"
            self._batch_sql[layout] = cached
        return cached

    async def close(self) -> None:
        await self.conn.close()


def _state_params(state: SavedState) -> dict[str, object]:
    return {"pipeline": state.pipeline, "state": state.state, "updated_at": datetime.now(UTC)}
