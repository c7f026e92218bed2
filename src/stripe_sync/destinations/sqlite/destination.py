"""The ``sqlite`` destination: the zero-setup default, one database file (``sqlite:///FILE``)."""

from __future__ import annotations

from stripe_sync.destinations.config import DestinationConfig, parse_config, sqlite_path
from stripe_sync.destinations.destination import DatabaseDestination
from stripe_sync.destinations.sqlite.database import SqliteDatabase
from stripe_sync.destinations.sqlite.state_store import SqliteStateStore
from stripe_sync.protocol.connector import Config


class SqliteDestination(DatabaseDestination):
    """Typed tables in a SQLite file; ``schema`` is ignored (SQLite has one namespace)."""

    async def connect(self, config: DestinationConfig) -> SqliteDatabase:
        return await SqliteDatabase.open(sqlite_path(config.url))

    def state_store(self, config: Config) -> SqliteStateStore:
        return SqliteStateStore(sqlite_path(parse_config(config).url))
