"""Destinations that write to databases (SQLite, Postgres): see docs/destinations.md."""

from stripe_sync.destinations.config import DestinationConfig, destination_for_url

__all__ = ["DestinationConfig", "destination_for_url"]
