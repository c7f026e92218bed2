"""The SQLite destination (the zero-setup default)."""

from stripe_sync.destinations.sqlite.destination import SqliteDestination
from stripe_sync.destinations.sqlite.state_store import SqliteStateStore

__all__ = ["SqliteDestination", "SqliteStateStore"]
