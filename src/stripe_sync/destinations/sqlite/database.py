"""An open SQLite database for the destination: connection settings, DDL and batch writes.

WAL journal with ``synchronous=NORMAL``: a committed batch survives a crash of the process; after a
power cut the last commits may roll back, but in commit order, and ``_sync_state`` lives in the
same file, so a saved state never runs ahead of the data. Readers never block the writer. A new
database gets 16 KiB pages (rows of a few KiB of JSON fit without overflow chains); temporary
tables (the staging table) live in memory. The page cache is 32 MiB: with the default 2 MiB the
primary-key index of a growing table (random ids) kept falling out of the cache, and each batch read
its pages back and spilled dirty ones early (about 6 µs of CPU per record, a third of it system time;
64 MiB gained nothing more).

Every call runs in a worker thread: the event loop keeps serving the source while SQLite works. A
batch is one ``BEGIN IMMEDIATE`` transaction of a few statements, each of them one step: the rows
are staged by multi-row ``INSERT … VALUES`` (100 rows a statement) and counted by one query,
because every step releases the GIL and must win it back from the event loop (a 1,000-row
``executemany`` or ``RETURNING`` fetch waited on the busy loop a thousand times).
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import lru_cache
from itertools import chain
from pathlib import Path
from typing import Any, TypeVar

import orjson

from stripe_sync.destinations.database import (
    Batch,
    BatchSql,
    Row,
    SavedState,
    Statement,
    WriteCounts,
)
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
PAGE_SIZE = 16384  # bytes; applies to databases created by us (before WAL is switched on)
STAGE_ROWS = 100  # rows per staging INSERT
CACHE_KIB = 32768  # page cache of the connection (SQLite's default is 2 MiB)


def open_connection(path: str) -> sqlite3.Connection:
    """Open (creating) the database file with the destination's settings."""
    if path != ":memory:" and not Path(path).parent.is_dir():
        raise unusable_config(f"cannot open SQLite database {path}: directory does not exist")
    try:
        conn = sqlite3.connect(
            path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
        )
        conn.execute(f"PRAGMA page_size = {PAGE_SIZE}")  # a no-op on an existing database
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA temp_store = MEMORY")
        conn.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
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
        self._max_parameters = conn.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)

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

    async def tables(self) -> dict[str, dict[str, str]]:
        def read() -> dict[str, dict[str, str]]:
            rows = self.conn.execute(
                "SELECT m.name, p.name, p.type FROM sqlite_master AS m, "
                "pragma_table_info(m.name) AS p WHERE m.type IN ('table', 'view')"
            ).fetchall()
            found: dict[str, dict[str, str]] = {}
            for table, column, declared in rows:
                found.setdefault(table, {})[column] = declared
            return found

        return await self._run(read)

    async def execute(self, statements: Sequence[Statement]) -> None:
        def run() -> None:
            with self._transaction():
                for statement in statements:
                    sql, params = (statement, {}) if isinstance(statement, str) else statement
                    self.conn.execute(sql, params)

        await self._run(run)

    async def saved_states(self) -> dict[str, Any]:
        def read() -> dict[str, Any]:
            rows = self.conn.execute(self.statements.saved_states()).fetchall()
            states: dict[str, Any] = {}
            for pipeline, text in rows:
                try:
                    states[pipeline] = orjson.loads(text)
                except orjson.JSONDecodeError:
                    states[pipeline] = None  # unreadable, but still a pipeline of this database
            return states

        return await self._run(read)

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

    async def write_batch(
        self, layout: TableLayout, batch: Batch, state: SavedState | None = None
    ) -> WriteCounts:
        return await self._run(lambda: self._write(layout, batch, state), layout.table)

    async def save_state(self, state: SavedState) -> None:
        def save() -> None:
            with self._transaction():
                self._save_state(state)

        await self._run(save)

    def _save_state(self, state: SavedState) -> None:
        params = {"pipeline": state.pipeline, "state": state.state, "updated_at": now_iso()}
        self.conn.execute(self.statements.save_state(), params)

    def _write(self, layout: TableLayout, batch: Batch, state: SavedState | None) -> WriteCounts:
        sql = self._sql(layout)
        stage = quote(sql.stage)
        table = self.statements.table(layout.table)
        params = {"stream": layout.table, "synced_at": now_iso()}
        counts = WriteCounts()
        with self._transaction():
            self.conn.execute(f"DELETE FROM {stage}")
            self._stage(stage, len(layout.key) + len(STAGE_COLUMNS), batch.rows)
            (params["max_rowid"],) = self.conn.execute(
                f"SELECT coalesce(max(rowid), 0) FROM {table}"
            ).fetchone()
            for step in sql.steps(batch):
                cursor = self.conn.execute(step.sql, params)
                if step.effect == "upsert":
                    inserted, changed = self._written(layout, stage, table, params, deleted=False)
                    counts.add_upserted(inserted, changed - inserted, batch.live)
                elif step.effect == "soft_delete":
                    _, changed = self._written(layout, stage, table, params, deleted=True)
                    counts.add_deleted(changed, batch.tombstones)
                else:
                    counts.record(step, cursor.rowcount, batch)
            if state is not None:
                self._save_state(state)
        return counts

    def _stage(self, stage: str, width: int, rows: list[Row]) -> None:
        """Insert the rows into the staging table: ``STAGE_ROWS`` rows per statement, the rest
        with ``executemany``. One statement shape per table keeps the statement cache small (a
        prepared statement of a thousand rows holds megabytes)."""
        per_statement = max(1, min(STAGE_ROWS, self._max_parameters // width))
        whole = len(rows) - len(rows) % per_statement
        if whole:
            sql = _insert_values(stage, width, per_statement)
            for start in range(0, whole, per_statement):
                values = list(chain.from_iterable(rows[start : start + per_statement]))
                self.conn.execute(sql, values)
        if whole < len(rows):
            self.conn.executemany(_insert_values(stage, width, 1), rows[whole:])

    def _written(
        self,
        layout: TableLayout,
        stage: str,
        table: str,
        params: Mapping[str, object],
        *,
        deleted: bool,
    ) -> tuple[int, int]:
        """(inserted, changed) among the staged live records or tombstones, after their statement:
        a row is new when its rowid is above the table's largest before the batch, and changed
        (inserted rows included) when its ``_synced_at`` is this batch's."""
        match = " AND ".join(f"cur.{quote(c.name)} = inc.{quote(c.name)}" for c in layout.key)
        query = (
            "SELECT coalesce(sum(cur.rowid > :max_rowid), 0), "
            "coalesce(sum(cur._synced_at = :synced_at), 0) "
            f"FROM {stage} AS inc JOIN {table} AS cur ON {match} "
            f"WHERE {'' if deleted else 'NOT '}inc._deleted"
        )
        inserted, changed = self.conn.execute(query, params).fetchone()
        return int(inserted), int(changed)

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


@lru_cache(maxsize=64)
def _insert_values(stage: str, width: int, rows: int) -> str:
    row = "(" + ", ".join("?" * width) + ")"
    return f"INSERT INTO {stage} VALUES " + ", ".join([row] * rows)


def now_iso() -> str:
    """The current UTC time as ISO-8601 with microseconds (how SQLite stores timestamps)."""
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
