"""The pipeline store: pipelines, their latest progress and their runs, in Postgres (or SQLite
for ``stripe-sync service dev``).

Every API process and worker shares one store. Pipelines carry a ``version`` that each change
increments (the API's ETag / ``If-Match``): an update names the version it read and fails with
:class:`VersionConflict` when someone changed the pipeline in between. Configs are kept whole,
secrets included, because workers need them, but sealed (``sealing``): the ``spec`` column holds
a Fernet token, never clear text; redacting them in answers is the API's job.

Progress, runs and states are keyed by the pipeline id, or ``<pipeline id>/<account>`` for the
children of a platform pipeline (``platform.state_name``); deleting a pipeline removes its
accounts' rows too, and its runs include theirs. ``request_budgets`` holds, per Stripe account,
the next free request slot of its shared budget (``account_budget``); reservations are frequent
and their timing matters, so on Postgres they use one kept connection on a thread of their own.

Verified webhook events wait in ``webhook_events`` for the pipeline's next live call, which
receives them by id (Temporal's history holds ids only); at most :data:`WEBHOOK_INBOX_LIMIT` per
pipeline, each kept at most :data:`WEBHOOK_KEEP_S`.

The schema is created and upgraded by :meth:`PipelineStore.migrate` (numbered migrations, applied
once under a lock so several processes may start at the same moment). The code is plain DB-API
(psycopg 3 or ``sqlite3``) run in a thread, one short connection per call, so a store survives a
database restart without reconnect logic.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import sqlite3
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, TypeVar

import orjson
import psycopg

from stripe_sync.engine.pipeline import Pipeline
from stripe_sync.protocol.errors import ConfigError
from stripe_sync.service.platform import account_pipeline, engine_spec, state_name
from stripe_sync.service.sealing import Sealer

DesiredStatus = Literal["active", "paused", "deleting"]
T = TypeVar("T")

MIGRATIONS: list[list[str]] = [
    [
        """CREATE TABLE pipelines (
            id TEXT PRIMARY KEY,
            spec TEXT NOT NULL,
            desired_status TEXT NOT NULL,
            version INTEGER NOT NULL,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL)""",
        """CREATE TABLE pipeline_progress (
            pipeline_id TEXT PRIMARY KEY,
            progress TEXT NOT NULL,
            updated_at TEXT NOT NULL)""",
        """CREATE TABLE pipeline_runs (
            id TEXT PRIMARY KEY,
            pipeline_id TEXT NOT NULL,
            started_at TEXT NOT NULL,
            summary TEXT NOT NULL)""",
        "CREATE INDEX pipeline_runs_by_pipeline ON pipeline_runs (pipeline_id, started_at)",
    ],
    [
        """CREATE TABLE pipeline_states (
            pipeline_id TEXT PRIMARY KEY,
            state TEXT NOT NULL,
            updated_at TEXT NOT NULL)""",
    ],
    [
        """CREATE TABLE webhook_events (
            pipeline_id TEXT NOT NULL,
            event_id TEXT NOT NULL,
            received_at TEXT NOT NULL,
            event TEXT NOT NULL,
            PRIMARY KEY (pipeline_id, event_id))""",
    ],
    [
        """CREATE TABLE request_budgets (
            budget_key TEXT PRIMARY KEY,
            next_at DOUBLE PRECISION NOT NULL)""",
    ],
]
KEYED_TABLES = ("pipeline_states", "pipeline_runs", "pipeline_progress", "webhook_events")
"""The tables keyed by a pipeline's (or one of its accounts') state name."""
WEBHOOK_INBOX_LIMIT = 5000
"""Webhook events one pipeline may have waiting; past it the webhook answers 503 (Stripe retries)."""
WEBHOOK_KEEP_S = 24 * 3600.0
"""Events waiting longer are dropped (the source's events polling reads them anyway)."""
MIGRATION_LOCK = 0x5717E_5E11  # any constant: the advisory lock Postgres migrations take


class PipelineNotFound(LookupError):
    """No pipeline has this id (never created, or deleted)."""


class InboxFull(Exception):
    """A pipeline already has as many webhook events waiting as the store keeps."""


class VersionConflict(Exception):
    """The pipeline changed since the version the caller read."""

    def __init__(self, current: int) -> None:
        super().__init__(f"the pipeline changed (now at version {current})")
        self.current = current


def utc_timestamp() -> str:
    """Now as the store writes it: ISO 8601 text in UTC with microseconds."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(8)}"


@dataclass(frozen=True)
class StoredPipeline:
    """A pipeline as stored: its spec (``Pipeline`` fields, secrets in clear) and bookkeeping."""

    id: str
    spec: dict[str, Any]
    desired_status: DesiredStatus
    version: int
    created_at: str
    updated_at: str

    def engine_pipeline(self, account: str | None = None) -> Pipeline:
        """The engine's pipeline, named by the id (the key of the state store); with ``account``,
        that connected account's pipeline of a platform pipeline."""
        if account is not None:
            return account_pipeline(self.id, self.spec, account)
        return Pipeline.model_validate({**engine_spec(self.spec), "name": self.id})


class PipelineStore:
    """See the module docstring. Build one with :func:`open_store`."""

    def __init__(self, url: str, sealer: Sealer) -> None:
        self.url = url
        self.sealer = sealer
        self.dialect = store_dialect(url)
        self._path = Path(url.removeprefix("sqlite:///")) if self.dialect == "sqlite" else None
        self._budget_thread = ThreadPoolExecutor(1, thread_name_prefix="request-budgets")
        self._budget_connection: Any = None

    # -- plumbing --------------------------------------------------------------------------

    @contextlib.contextmanager
    def _connection(self) -> Iterator[Any]:
        """A connection inside one transaction: committed on success, rolled back on error."""
        if self.dialect == "postgres":
            with psycopg.connect(self.url) as pg:
                yield pg
            return
        assert self._path is not None
        self._path.parent.mkdir(parents=True, exist_ok=True)
        conn: Any = sqlite3.connect(self._path, timeout=30)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("BEGIN IMMEDIATE")
            yield conn
            conn.commit()
        except BaseException:
            conn.rollback()
            raise
        finally:
            conn.close()

    def _sql(self, statement: str) -> str:
        return statement if self.dialect == "postgres" else statement.replace("%s", "?")

    async def _run(self, work: Callable[[Any], T]) -> T:
        def in_thread() -> T:
            with self._connection() as conn:
                return work(conn)

        return await asyncio.to_thread(in_thread)

    def _rows(self, conn: Any, statement: str, *params: Any) -> list[tuple[Any, ...]]:
        cursor = conn.execute(self._sql(statement), params)
        return list(cursor.fetchall()) if cursor.description is not None else []

    def _seal(self, spec: dict[str, Any]) -> str:
        return self.sealer.seal(_dumps(spec))

    def _pipeline(self, row: tuple[Any, ...]) -> StoredPipeline:
        pipeline_id, spec, desired_status, version, created_at, updated_at = row
        return StoredPipeline(
            pipeline_id,
            _loads(self.sealer.unseal(spec)),
            desired_status,
            int(version),
            created_at,
            updated_at,
        )

    # -- schema ----------------------------------------------------------------------------

    async def migrate(self) -> int:
        """Apply the migrations this store lacks; returns the schema version."""

        def work(conn: Any) -> int:
            if self.dialect == "postgres":
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
            conn.execute(
                "CREATE TABLE IF NOT EXISTS pipeline_store_migrations "
                "(version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)"
            )
            rows = self._rows(conn, "SELECT max(version) FROM pipeline_store_migrations")
            current = int(rows[0][0] or 0)
            for number, statements in enumerate(MIGRATIONS[current:], start=current + 1):
                for statement in statements:
                    conn.execute(statement)
                conn.execute(
                    self._sql("INSERT INTO pipeline_store_migrations VALUES (%s, %s)"),
                    (number, utc_timestamp()),
                )
            self._seal_clear_specs(conn)
            return len(MIGRATIONS)

        return await self._run(work)

    def _seal_clear_specs(self, conn: Any) -> None:
        """Seal the specs a store from before sealing kept in clear (JSON objects)."""
        rows = self._rows(conn, "SELECT id, spec FROM pipelines WHERE substr(spec, 1, 1) = '{'")
        for pipeline_id, spec in rows:
            conn.execute(
                self._sql("UPDATE pipelines SET spec = %s WHERE id = %s"),
                (self.sealer.seal(spec), pipeline_id),
            )

    async def reseal(self) -> int:
        """Seal every pipeline again with the first key (key rotation); returns how many."""

        def work(conn: Any) -> int:
            lock = " FOR UPDATE" if self.dialect == "postgres" else ""
            rows = self._rows(conn, f"SELECT id, spec FROM pipelines{lock}")
            for pipeline_id, spec in rows:
                conn.execute(
                    self._sql("UPDATE pipelines SET spec = %s WHERE id = %s"),
                    (self.sealer.reseal(spec), pipeline_id),
                )
            return len(rows)

        return await self._run(work)

    # -- pipelines -------------------------------------------------------------------------

    async def create(self, spec: dict[str, Any]) -> StoredPipeline:
        now = utc_timestamp()
        pipeline = StoredPipeline(new_id("pl"), spec, "active", 1, now, now)

        def work(conn: Any) -> None:
            conn.execute(
                self._sql("INSERT INTO pipelines VALUES (%s, %s, %s, %s, %s, %s)"),
                (pipeline.id, self._seal(spec), "active", 1, now, now),
            )

        await self._run(work)
        return pipeline

    async def get(self, pipeline_id: str) -> StoredPipeline:
        """The pipeline; :class:`PipelineNotFound` when there is none."""

        def work(conn: Any) -> StoredPipeline:
            return self._get(conn, pipeline_id)

        return await self._run(work)

    def _get(self, conn: Any, pipeline_id: str) -> StoredPipeline:
        rows = self._rows(conn, "SELECT * FROM pipelines WHERE id = %s", pipeline_id)
        if not rows:
            raise PipelineNotFound(pipeline_id)
        return self._pipeline(rows[0])

    async def all(self) -> list[StoredPipeline]:
        def work(conn: Any) -> list[StoredPipeline]:
            rows = self._rows(conn, "SELECT * FROM pipelines ORDER BY created_at, id")
            return [self._pipeline(row) for row in rows]

        return await self._run(work)

    async def update(
        self,
        pipeline_id: str,
        *,
        expected_version: int | None,
        spec: dict[str, Any] | None = None,
        desired_status: DesiredStatus | None = None,
    ) -> StoredPipeline:
        """Replace the spec and/or the desired status; ``expected_version=None`` skips the check."""

        def work(conn: Any) -> StoredPipeline:
            stored = self._get(conn, pipeline_id)
            if expected_version is not None and stored.version != expected_version:
                raise VersionConflict(stored.version)
            changed = StoredPipeline(
                stored.id,
                spec if spec is not None else stored.spec,
                desired_status or stored.desired_status,
                stored.version + 1,
                stored.created_at,
                utc_timestamp(),
            )
            cursor = conn.execute(
                self._sql(
                    "UPDATE pipelines SET spec = %s, desired_status = %s, version = %s, "
                    "updated_at = %s WHERE id = %s AND version = %s"
                ),
                (
                    self._seal(changed.spec),
                    changed.desired_status,
                    changed.version,
                    changed.updated_at,
                    pipeline_id,
                    stored.version,
                ),
            )
            if cursor.rowcount != 1:  # changed between our read and our write
                raise VersionConflict(self._get(conn, pipeline_id).version)
            return changed

        return await self._run(work)

    async def delete(self, pipeline_id: str) -> None:
        """Forget the pipeline, its progress, runs and states, its accounts' too (its destination
        data is the caller's)."""
        prefix = state_name(pipeline_id, "")

        def work(conn: Any) -> None:
            for table in KEYED_TABLES:
                conn.execute(
                    self._sql(
                        f"DELETE FROM {table} WHERE pipeline_id = %s OR substr(pipeline_id, 1, %s) = %s"
                    ),
                    (pipeline_id, len(prefix), prefix),
                )
            conn.execute(self._sql("DELETE FROM pipelines WHERE id = %s"), (pipeline_id,))

        await self._run(work)

    async def forget_account(self, pipeline_id: str, account: str) -> None:
        """Forget one account's progress, runs and state (a platform pipeline's child ended)."""
        key = state_name(pipeline_id, account)

        def work(conn: Any) -> None:
            for table in KEYED_TABLES:
                conn.execute(self._sql(f"DELETE FROM {table} WHERE pipeline_id = %s"), (key,))

        await self._run(work)

    # -- sync states (destinations without a store of their own) --------------------------

    async def load_state(self, pipeline_id: str) -> dict[str, Any] | None:
        def work(conn: Any) -> dict[str, Any] | None:
            rows = self._rows(
                conn, "SELECT state FROM pipeline_states WHERE pipeline_id = %s", pipeline_id
            )
            return _loads(rows[0][0]) if rows else None

        return await self._run(work)

    async def save_state(self, pipeline_id: str, state: dict[str, Any]) -> None:
        def work(conn: Any) -> None:
            conn.execute(
                self._sql(
                    "INSERT INTO pipeline_states VALUES (%s, %s, %s) ON CONFLICT (pipeline_id) "
                    "DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at"
                ),
                (pipeline_id, _dumps(state), utc_timestamp()),
            )

        await self._run(work)

    # -- webhook events waiting for a live call ------------------------------------------

    async def add_event(
        self,
        pipeline_id: str,
        event_id: str,
        event: bytes,
        *,
        limit: int = WEBHOOK_INBOX_LIMIT,
        keep_s: float = WEBHOOK_KEEP_S,
    ) -> None:
        """Keep a verified event for the pipeline's next live call (once per event id).

        Events older than ``keep_s`` are dropped first (the source's events polling reads them
        anyway); :class:`InboxFull` when ``limit`` events already wait."""
        cutoff = datetime.fromtimestamp(datetime.now(UTC).timestamp() - keep_s, UTC)

        def work(conn: Any) -> None:
            conn.execute(
                self._sql("DELETE FROM webhook_events WHERE pipeline_id = %s AND received_at < %s"),
                (pipeline_id, cutoff.strftime("%Y-%m-%dT%H:%M:%S.%fZ")),
            )
            waiting = self._rows(
                conn, "SELECT count(*) FROM webhook_events WHERE pipeline_id = %s", pipeline_id
            )
            if int(waiting[0][0]) >= limit:
                raise InboxFull(pipeline_id)
            conn.execute(
                self._sql(
                    "INSERT INTO webhook_events VALUES (%s, %s, %s, %s) "
                    "ON CONFLICT (pipeline_id, event_id) DO NOTHING"
                ),
                (pipeline_id, event_id, utc_timestamp(), event.decode()),
            )

        await self._run(work)

    async def events(self, pipeline_id: str, event_ids: list[str]) -> list[dict[str, Any]]:
        """The stored events of ``event_ids``, in that order (those no longer kept left out)."""
        if not event_ids:
            return []

        def work(conn: Any) -> dict[str, str]:
            marks = ", ".join(["%s"] * len(event_ids))
            rows = self._rows(
                conn,
                f"SELECT event_id, event FROM webhook_events "
                f"WHERE pipeline_id = %s AND event_id IN ({marks})",
                pipeline_id,
                *event_ids,
            )
            return dict(rows)

        found = await self._run(work)
        return [_loads(found[event_id]) for event_id in event_ids if event_id in found]

    async def drop_events(self, pipeline_id: str, event_ids: list[str]) -> None:
        """Forget events a live call delivered."""
        if not event_ids:
            return

        def work(conn: Any) -> None:
            marks = ", ".join(["%s"] * len(event_ids))
            conn.execute(
                self._sql(
                    f"DELETE FROM webhook_events WHERE pipeline_id = %s AND event_id IN ({marks})"
                ),
                (pipeline_id, *event_ids),
            )

        await self._run(work)

    # -- progress and runs -----------------------------------------------------------------

    async def save_progress(self, pipeline_id: str, progress: dict[str, Any]) -> None:
        """Keep ``progress`` (catalog, latest progress, end, status note) as the pipeline's latest."""

        def work(conn: Any) -> None:
            conn.execute(
                self._sql(
                    "INSERT INTO pipeline_progress VALUES (%s, %s, %s) ON CONFLICT (pipeline_id) "
                    "DO UPDATE SET progress = excluded.progress, updated_at = excluded.updated_at"
                ),
                (pipeline_id, _dumps(progress), utc_timestamp()),
            )

        await self._run(work)

    async def progress(self, pipeline_id: str) -> dict[str, Any] | None:
        def work(conn: Any) -> dict[str, Any] | None:
            rows = self._rows(
                conn, "SELECT progress FROM pipeline_progress WHERE pipeline_id = %s", pipeline_id
            )
            return _loads(rows[0][0]) if rows else None

        return await self._run(work)

    async def account_progress(self, pipeline_id: str) -> dict[str, dict[str, Any]]:
        """The latest progress of each account of a platform pipeline (account → document)."""
        prefix = state_name(pipeline_id, "")

        def work(conn: Any) -> dict[str, dict[str, Any]]:
            rows = self._rows(
                conn,
                "SELECT pipeline_id, progress FROM pipeline_progress"
                " WHERE substr(pipeline_id, 1, %s) = %s",
                len(prefix),
                prefix,
            )
            return {key[len(prefix) :]: _loads(text) for key, text in rows}

        return await self._run(work)

    async def save_run(self, pipeline_id: str, run_id: str, summary: dict[str, Any]) -> None:
        """Insert or replace the summary of one sync call (``run_id``) of the pipeline."""

        def work(conn: Any) -> None:
            conn.execute(
                self._sql(
                    "INSERT INTO pipeline_runs VALUES (%s, %s, %s, %s) ON CONFLICT (id) "
                    "DO UPDATE SET summary = excluded.summary"
                ),
                (run_id, pipeline_id, summary["started_at"], _dumps(summary)),
            )

        await self._run(work)

    async def end_lost_runs(self, pipeline_id: str, ended_at: str, newest: int = 5) -> list[str]:
        """Mark the pipeline's runs that never ended (among its ``newest``) ``lost``: a new call
        starts only once the one before it ended or its worker was given up on. Returns their
        ids."""

        def work(conn: Any) -> list[str]:
            rows = self._rows(
                conn,
                "SELECT id, summary FROM pipeline_runs WHERE pipeline_id = %s "
                "ORDER BY started_at DESC, id DESC LIMIT %s",
                pipeline_id,
                newest,
            )
            lost = []
            for run_id, text in rows:
                summary = _loads(text)
                if summary.get("ended_at") is not None:
                    continue
                summary.update(ended_at=ended_at, reason="lost", has_more=True)
                conn.execute(
                    self._sql("UPDATE pipeline_runs SET summary = %s WHERE id = %s"),
                    (_dumps(summary), run_id),
                )
                lost.append(run_id)
            return lost

        return await self._run(work)

    # -- request budgets -------------------------------------------------------------------

    async def reserve_requests(
        self, budget_key: str, rate: float, count: int
    ) -> tuple[float, float]:
        """Reserve ``count`` request slots of a budget of ``rate`` per second: the slots follow
        the budget's last one (or now, when it is past) ``1 / rate`` apart, on the database's
        clock. Returns the first slot's time and the time now, in seconds on that clock."""
        now_sql = (
            "SELECT extract(epoch FROM clock_timestamp())::float8"
            if self.dialect == "postgres"
            else "SELECT (julianday('now') - 2440587.5) * 86400.0"
        )

        def work(conn: Any) -> tuple[float, float]:
            conn.execute(
                self._sql(
                    "INSERT INTO request_budgets VALUES (%s, 0) ON CONFLICT (budget_key) DO NOTHING"
                ),
                (budget_key,),
            )
            lock = " FOR UPDATE" if self.dialect == "postgres" else ""
            rows = self._rows(
                conn, f"SELECT next_at FROM request_budgets WHERE budget_key = %s{lock}", budget_key
            )
            now = float(self._rows(conn, now_sql)[0][0])
            first = max(now, float(rows[0][0]))
            conn.execute(
                self._sql("UPDATE request_budgets SET next_at = %s WHERE budget_key = %s"),
                (first + count / rate, budget_key),
            )
            return first, now

        if self.dialect == "sqlite":
            return await self._run(work)

        def on_kept_connection() -> tuple[float, float]:
            try:
                if self._budget_connection is None:
                    self._budget_connection = psycopg.connect(self.url, autocommit=True)
                with self._budget_connection.transaction():
                    return work(self._budget_connection)
            except psycopg.Error:
                with contextlib.suppress(psycopg.Error):
                    self._budget_connection.close()
                self._budget_connection = None
                raise

        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._budget_thread, on_kept_connection)

    async def runs(self, pipeline_id: str, limit: int = 50) -> list[dict[str, Any]]:
        """The newest ``limit`` run summaries (its accounts' included), newest first."""
        prefix = state_name(pipeline_id, "")

        def work(conn: Any) -> list[dict[str, Any]]:
            rows = self._rows(
                conn,
                "SELECT summary FROM pipeline_runs "
                "WHERE pipeline_id = %s OR substr(pipeline_id, 1, %s) = %s "
                "ORDER BY started_at DESC, id DESC LIMIT %s",
                pipeline_id,
                len(prefix),
                prefix,
                limit,
            )
            return [_loads(row[0]) for row in rows]

        return await self._run(work)


class StoredStateStore:
    """The engine's ``StateStore`` over the pipeline store, for destinations without a
    ``_sync_state`` of their own (``exec`` and ``test`` destinations)."""

    def __init__(self, store: PipelineStore) -> None:
        self.store = store

    async def load(self, pipeline: str) -> dict[str, Any] | None:
        return await self.store.load_state(pipeline)

    async def save(self, pipeline: str, state: dict[str, Any]) -> None:
        await self.store.save_state(pipeline, state)


def store_dialect(url: str, *, allow_sqlite: bool = True) -> Literal["postgres", "sqlite"]:
    """The database a store URL names; a ConfigError for any other, or for SQLite when
    ``allow_sqlite=False`` (api, worker)."""
    if url.startswith(("postgresql://", "postgres://")):
        return "postgres"
    if url.startswith("sqlite:///"):
        if not allow_sqlite:
            raise ConfigError(
                "a SQLite pipeline store is for `stripe-sync service dev` only; "
                "give a postgresql:// store URL"
            )
        return "sqlite"
    scheme = url.partition("://")[0] if "://" in url else url[:20]
    raise ConfigError(f"unsupported store URL scheme '{scheme}' (postgresql:// or sqlite:///)")


def open_store(url: str, sealer: Sealer, *, allow_sqlite: bool = True) -> PipelineStore:
    """A store for ``url`` sealing its secrets with ``sealer`` (see :func:`store_dialect`)."""
    store_dialect(url, allow_sqlite=allow_sqlite)
    return PipelineStore(url, sealer)


def _dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def _loads(text: str) -> Any:
    return orjson.loads(text)
