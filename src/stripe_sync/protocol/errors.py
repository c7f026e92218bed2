"""Exceptions that carry a protocol ``failure_type`` across module boundaries."""

from __future__ import annotations


class SyncError(Exception):
    """An error with a protocol failure type; ``str(exc)`` is a one-line message for users."""

    failure_type = "system_error"


class ConfigError(SyncError):
    """Bad input found before any data moved: invalid config, pipeline, catalog or state."""

    failure_type = "config_error"
