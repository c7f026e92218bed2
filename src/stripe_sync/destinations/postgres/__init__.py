"""The Postgres destination."""

from stripe_sync.destinations.postgres.destination import PostgresDestination
from stripe_sync.destinations.postgres.state_store import PostgresStateStore

__all__ = ["PostgresDestination", "PostgresStateStore"]
