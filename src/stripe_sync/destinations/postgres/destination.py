"""The ``postgres`` destination: typed tables in a schema (default ``stripe``) of a Postgres database."""

from __future__ import annotations

from stripe_sync.destinations.config import DestinationConfig, parse_config
from stripe_sync.destinations.destination import DatabaseDestination
from stripe_sync.destinations.postgres.database import PostgresDatabase
from stripe_sync.destinations.postgres.state_store import PostgresStateStore
from stripe_sync.protocol.connector import Config


class PostgresDestination(DatabaseDestination):
    """Writes with COPY + one upsert per batch; ``url`` is any libpq URL (``postgres://`` too)."""

    async def connect(self, config: DestinationConfig) -> PostgresDatabase:
        return await PostgresDatabase.open(config.url, config.schema_)

    def state_store(self, config: Config) -> PostgresStateStore:
        settings = parse_config(config)
        return PostgresStateStore(settings.url, settings.schema_)
