"""A connector module for the connector-policy tests: whether it was imported is what they watch."""

from stripe_sync.connectors.testing.source import TestSource as Connector

__all__ = ["Connector"]
