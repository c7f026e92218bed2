"""Which database `stripe-sync demo` may write into: one it creates, or one it marked as a demo.

The demo fills its target with fake rows (and starts SQLite files over), so it never touches a
database it did not make. A demo database holds the marker table ``_stripe_sync_demo``: a SQLite
file the demo created, or a Postgres schema it created. Anything else, an existing file or
schema without the marker, is refused with a one-line :class:`ConfigError` and left unchanged.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from stripe_sync.destinations.config import destination_type, sqlite_path
from stripe_sync.destinations.layout import quote
from stripe_sync.protocol.errors import ConfigError
from stripe_sync.protocol.urls import redact_url

MARKER_TABLE = "_stripe_sync_demo"
MARKER_DDL = f"CREATE TABLE {MARKER_TABLE} (note TEXT)"
MARKER_NOTE = "written by stripe-sync demo: fake data, the demo may replace it"
POSTGRES_SCHEMA = "stripe"


def claim_demo_database(url: str) -> Path | None:
    """Make ``url`` a demo database to write into (SQLite: a new file; returns its path)."""
    if destination_type(url) == "sqlite":
        path = Path(sqlite_path(url))
        _claim_sqlite(path, url)
        return path
    _claim_postgres(url, POSTGRES_SCHEMA)
    return None


def _refusal(url: str, what: str) -> ConfigError:
    return ConfigError(
        f"demo --to {redact_url(url)}: {what} that the demo did not create; the demo only writes "
        "into a database it created (choose a new file or database)"
    )


def _claim_sqlite(path: Path, url: str) -> None:
    if path.exists():
        if not _sqlite_is_marked(path):
            raise _refusal(url, "an existing file")
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
    try:
        with sqlite3.connect(path) as connection:
            connection.execute(MARKER_DDL)
            connection.execute(f"INSERT INTO {MARKER_TABLE} VALUES (?)", (MARKER_NOTE,))
        connection.close()
    except sqlite3.Error as exc:
        raise ConfigError(f"demo --to {redact_url(url)}: cannot create the file: {exc}") from None


def _sqlite_is_marked(path: Path) -> bool:
    try:
        connection = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error:
        return False
    try:
        found = connection.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (MARKER_TABLE,)
        ).fetchone()
    except sqlite3.Error:  # not a SQLite file
        return False
    finally:
        connection.close()
    return found is not None


def _claim_postgres(url: str, schema: str) -> None:
    import psycopg

    try:
        with psycopg.connect(url, autocommit=True, connect_timeout=10) as connection:
            exists = connection.execute(
                "SELECT 1 FROM pg_namespace WHERE nspname = %s", (schema,)
            ).fetchone()
            if exists:
                marked = connection.execute(
                    "SELECT to_regclass(%s)", (f"{quote(schema)}.{MARKER_TABLE}",)
                ).fetchone()
                if marked is None or marked[0] is None:
                    raise _refusal(url, f"an existing schema '{schema}'")
                return
            connection.execute(f"CREATE SCHEMA {quote(schema)}")
            connection.execute(f"CREATE TABLE {quote(schema)}.{MARKER_TABLE} (note text)")
            connection.execute(
                f"INSERT INTO {quote(schema)}.{MARKER_TABLE} VALUES (%s)", (MARKER_NOTE,)
            )
    except psycopg.Error as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(f"demo --to {redact_url(url)}: {first}") from None
