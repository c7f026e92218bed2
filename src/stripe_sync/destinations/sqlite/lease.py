"""The run lease of a SQLite destination: one row per running pipeline in ``_sync_lease``.

SQLite has no advisory locks that end with a process, so the row names its holder (host, process
id and the process's start time) and is taken in a ``BEGIN IMMEDIATE`` transaction: a run takes
the row when there is none, or when its holder is gone — on this host, when that process no longer
exists (kill -9 included; a reused process id has another start time); on another host, when the
holder has not renewed the row for ``STALE_AFTER_S`` (a holder renews it every ``RENEW_S``). The
row is deleted when the run ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import sqlite3
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeVar

from stripe_sync.destinations.errors import DestinationError
from stripe_sync.destinations.layout import LEASE_TABLE
from stripe_sync.destinations.sqlite.database import now_iso, open_connection, translate
from stripe_sync.engine.run_lease import WAIT_POLL_S, PipelineBusy, busy_message

T = TypeVar("T")

RENEW_S = 15.0
STALE_AFTER_S = 60.0

CREATE = (
    f'CREATE TABLE IF NOT EXISTS "{LEASE_TABLE}" (pipeline TEXT PRIMARY KEY, '
    "host TEXT NOT NULL, pid INTEGER NOT NULL, process TEXT NOT NULL, token TEXT NOT NULL, "
    "renewed_at TEXT NOT NULL)"
)


def process_identity(pid: int) -> str | None:
    """Boot id and start time of a process ('' when unknown here); None when it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except FileNotFoundError:
        if Path("/proc/self/stat").exists():
            return None
    except OSError:
        pass
    else:
        fields = stat.rsplit(")", 1)[1].split()  # from field 3, the state
        if fields[0] in ("Z", "X"):  # killed, not yet reaped by its parent
            return None
        return f"{boot}:{fields[19]}"  # field 22: start time since boot
    try:  # no /proc: whether the process id is in use is all we can know
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass
    return ""


class SqliteLease:
    """Takes, renews and gives back one pipeline's lease row."""

    def __init__(self, path: str, pipeline: str) -> None:
        self.path = path
        self.pipeline = pipeline
        self.host = socket.gethostname()
        self.pid = os.getpid()
        self.process = process_identity(self.pid) or ""
        self.token = uuid.uuid4().hex
        self._conn: sqlite3.Connection | None = None

    @asynccontextmanager
    async def held(self, wait: bool) -> AsyncIterator[None]:
        try:
            while (holder := await self._call(self._take)) is not None:
                if not wait:
                    raise PipelineBusy(busy_message(self.pipeline, holder))
                await asyncio.sleep(WAIT_POLL_S)
            renewing = asyncio.create_task(self._renew())
            try:
                yield
            finally:
                renewing.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await renewing
                await self._call(self._give_back)
        finally:
            if self._conn is not None:
                await asyncio.to_thread(self._conn.close)

    async def _call(self, work: Callable[[], T]) -> T:
        try:
            return await asyncio.to_thread(work)
        except sqlite3.Error as exc:
            raise translate(exc) from exc

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            self._conn = open_connection(self.path)
        return self._conn

    def _take(self) -> str | None:
        """Take the row; None when taken, else who holds it."""
        conn = self._connection()
        conn.execute(CREATE)
        conn.execute("BEGIN IMMEDIATE")
        try:
            row = conn.execute(
                f'SELECT host, pid, process, renewed_at FROM "{LEASE_TABLE}" WHERE pipeline = ?',
                (self.pipeline,),
            ).fetchone()
            if row is not None and self._alive(*row):
                host, pid = row[0], row[1]
                return f"process {pid} on {host} holds its lease"
            conn.execute(
                f'INSERT OR REPLACE INTO "{LEASE_TABLE}" VALUES (?, ?, ?, ?, ?, ?)',
                (self.pipeline, self.host, self.pid, self.process, self.token, now_iso()),
            )
        finally:
            conn.execute("COMMIT")
        return None

    def _alive(self, host: str, pid: int, process: str, renewed_at: str) -> bool:
        if host != self.host:
            renewed = datetime.fromisoformat(renewed_at.replace("Z", "+00:00"))
            return datetime.now(UTC) - renewed < timedelta(seconds=STALE_AFTER_S)
        now = process_identity(pid)
        return now is not None and (now == process or "" in (now, process))

    async def _renew(self) -> None:
        while True:
            await asyncio.sleep(RENEW_S)
            with contextlib.suppress(DestinationError):  # the next renewal may pass
                await self._call(self._touch)

    def _touch(self) -> None:
        self._connection().execute(
            f'UPDATE "{LEASE_TABLE}" SET renewed_at = ? WHERE pipeline = ? AND token = ?',
            (now_iso(), self.pipeline, self.token),
        )

    def _give_back(self) -> None:
        self._connection().execute(
            f'DELETE FROM "{LEASE_TABLE}" WHERE pipeline = ? AND token = ?',
            (self.pipeline, self.token),
        )
