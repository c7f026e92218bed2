"""The ``_sync_state`` table of a SQLite destination as the engine's StateStore.

One row per pipeline name. Loading never creates the database file: a missing file or table reads
as "no state". Saving creates the table when needed and commits before returning. A run's lease is
a row in ``_sync_lease`` (``destinations/sqlite/lease.py``).
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import orjson

from stripe_sync.destinations.sql import Statements
from stripe_sync.destinations.sqlite.database import now_iso, open_connection, translate
from stripe_sync.destinations.sqlite.dialect import SQLITE
from stripe_sync.destinations.sqlite.lease import SqliteLease
from stripe_sync.protocol.errors import ConfigError


class SqliteStateStore:
    """Loads and saves SyncStates in ``_sync_state``, keyed by pipeline name."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.statements = Statements(SQLITE, None)
        self._conn: sqlite3.Connection | None = None
        self._lock = asyncio.Lock()

    @property
    def location(self) -> tuple[str, ...]:
        """Which database this store saves into (equal for stores of one file)."""
        return ("sqlite", str(Path(self.path).resolve()))

    async def load(self, pipeline: str) -> dict[str, Any] | None:
        async with self._lock:
            return await asyncio.to_thread(self._load, pipeline)

    async def save(self, pipeline: str, state: dict[str, Any]) -> None:
        text = orjson.dumps(state).decode()
        async with self._lock:
            await asyncio.to_thread(self._save, pipeline, text)

    @asynccontextmanager
    async def lease(self, pipeline: str, *, wait: bool = False) -> AsyncIterator[None]:
        """Hold the pipeline's run lease (a second run fails at once, or waits with ``wait``)."""
        async with SqliteLease(self.path, pipeline).held(wait):
            yield

    async def close(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            await asyncio.to_thread(conn.close)

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            self._conn = open_connection(self.path)
        return self._conn

    def _load(self, pipeline: str) -> dict[str, Any] | None:
        if self._conn is None and not Path(self.path).exists():
            return None
        try:
            row = self._connection().execute(self.statements.load_state(), {"pipeline": pipeline})
            found = row.fetchone()
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):
                return None
            raise translate(exc) from exc
        if found is None:
            return None
        try:
            state = orjson.loads(found[0])
        except orjson.JSONDecodeError as exc:
            raise ConfigError(
                f"saved state of pipeline {pipeline!r} is not valid JSON: {exc}"
            ) from None
        if not isinstance(state, dict):
            raise ConfigError(f"saved state of pipeline {pipeline!r} is not a JSON object")
        return state

    def _save(self, pipeline: str, text: str) -> None:
        conn = self._connection()
        params = {"pipeline": pipeline, "state": text, "updated_at": now_iso()}
        try:
            conn.execute(self.statements.create_state_table())
            conn.execute(self.statements.save_state(), params)
        except sqlite3.Error as exc:
            raise translate(exc) from exc
