"""Failures a database destination reports, with the protocol level and failure type they carry.

Backends translate their driver's exceptions into ``DestinationError`` so the write loop can tell a
lost connection (global, transient) from a table that cannot take a batch (stream level).
"""

from __future__ import annotations

from typing import Literal

from stripe_sync.protocol.errors import SyncError

Level = Literal["global", "stream"]


class DestinationError(SyncError):
    """A failure with its blast radius (``level``) and cause (``failure_type``)."""

    def __init__(self, message: str, failure_type: str, level: Level = "global") -> None:
        super().__init__(message)
        self.failure_type = failure_type
        self.level = level


def transient_failure(message: str) -> DestinationError:
    return DestinationError(message, "transient_error")


def credentials_rejected(message: str) -> DestinationError:
    return DestinationError(message, "auth_error")


def unusable_config(message: str) -> DestinationError:
    return DestinationError(message, "config_error")


def table_failed(message: str, failure_type: str = "system_error") -> DestinationError:
    return DestinationError(message, failure_type, level="stream")
