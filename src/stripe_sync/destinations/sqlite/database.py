"""An open SQLite database for the destination: connection settings, DDL and batch writes.

WAL journal with ``synchronous=NORMAL``: a committed batch survives a crash of the process; after a
power cut the last commits may roll back, but in commit order, and ``_sync_state`` lives in the
same file, so a saved state never runs ahead of the data. Readers never block the writer. Every call runs in a worker thread: the event loop keeps serving
the source while SQLite works. A batch is one ``BEGIN IMMEDIATE`` transaction.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

from stripe_sync.destinations.database import Batch, BatchSql, WriteCounts
from stripe_sync.destinations.errors import (
    DestinationError,
    table_failed,
    transient_failure,
    unusable_config,
)
from stripe_sync.destinations.layout import TableLayout, quote
from stripe_sync.destinations.sql import STAGE_COLUMNS, Statements
from stripe_sync.destinations.sqlite.dialect import SQLITE

T = TypeVar("T")
BUSY_TIMEOUT_S = 30.0


def open_connection(path: str) -> sqlite3.Connection:
    """Open (creating) the database file with the destination's settings."""
    if path != ":memory:" and not Path(path).parent.is_dir():
        raise unusable_config(f"cannot open SQLite database {path}: directory does not exist")
    try:
        conn = sqlite3.connect(
            path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
        )
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
    except sqlite3.Error as exc:
        raise unusable_config(f"cannot open SQLite database {path}: {exc}") from None
    return conn


def translate(exc: sqlite3.Error, table: str | None = None) -> DestinationError:
    """A lock held too long is transient and global; a full or broken disk is global; the rest
    belongs to the table at hand."""
    message = str(exc)
    if "locked" in message or "busy" in message:
        return transient_failure(f"SQLite database is locked by another writer: {message}")
    if isinstance(exc, sqlite3.OperationalError) and ("disk" in message or "I/O" in message):
        return DestinationError(f"SQLite cannot write: {message}", "system_error")
    if table is None:
        return DestinationError(f"SQLite: {message}", "system_error")
    return table_failed(f"table {table!r}: {message}")


class SqliteDatabase:
    """One connection; every method runs its SQL on a worker thread."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.statements = Statements(SQLITE, None)
        self._batch_sql: dict[TableLayout, BatchSql] = {}

    @classmethod
    async def open(cls, path: str) -> SqliteDatabase:
        return cls(await asyncio.to_thread(open_connection, path))

    async def _run(self, work: Callable[[], T], table: str | None = None) -> T:
        try:
            return await asyncio.to_thread(work)
        except sqlite3.Error as exc:
            raise translate(exc, table) from exc

    async def table_columns(self, table: str) -> dict[str, str] | None:
        def read() -> dict[str, str] | None:
            rows = self.conn.execute(f"PRAGMA table_info({quote(table)})").fetchall()
            return {row[1]: row[2] for row in rows} or None

        return await self._run(read, table)

    async def execute(self, statements: Sequence[str]) -> None:
        def run() -> None:
            with self._transaction():
                for statement in statements:
                    self.conn.execute(statement)

        await self._run(run)

    async def prepare_schema(self) -> None:
        await self.execute(
            [self.statements.create_state_table(), self.statements.create_deleted_table()]
        )

    async def check_writable(self) -> None:
        def probe() -> None:
            self.conn.execute("BEGIN IMMEDIATE")
            self.conn.execute("ROLLBACK")

        await self._run(probe)

    async def drop_schema_if_empty(self) -> None:
        """SQLite has no schemas; the file stays."""

    async def write_batch(self, layout: TableLayout, batch: Batch) -> WriteCounts:
        return await self._run(lambda: self._write(layout, batch), layout.table)

    def _write(self, layout: TableLayout, batch: Batch) -> WriteCounts:
        sql = self._sql(layout)
        stage = quote(sql.stage)
        params = {"stream": layout.table, "synced_at": now_iso()}
        counts = WriteCounts()
        with self._transaction():
            self.conn.execute(f"DELETE FROM {stage}")
            placeholders = ", ".join("?" for _ in range(len(layout.key) + len(STAGE_COLUMNS)))
            self.conn.executemany(f"INSERT INTO {stage} VALUES ({placeholders})", batch.rows)
            table = self.statements.table(layout.table)
            (params["max_rowid"],) = self.conn.execute(
                f"SELECT coalesce(max(rowid), 0) FROM {table}"
            ).fetchone()
            for step in sql.steps(batch):
                cursor = self.conn.execute(step.sql, params)
                counts.record(
                    step, cursor.fetchall() if step.returns_rows else cursor.rowcount, batch
                )
        return counts

    def _sql(self, layout: TableLayout) -> BatchSql:
        sql = self._batch_sql.get(layout)
        if sql is None:
            sql = BatchSql.build(self.statements, layout, f"_sync_stage_{len(self._batch_sql)}")
            self.conn.execute(sql.create_stage)
            self._batch_sql[layout] = sql
        return sql

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        """``BEGIN IMMEDIATE`` … ``COMMIT``, rolled back on any error."""
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    async def close(self) -> None:
        await asyncio.to_thread(self.conn.close)


def now_iso() -> str:
    """The current UTC time as ISO-8601 with microseconds (how SQLite stores timestamps)."""
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
