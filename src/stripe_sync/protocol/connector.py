"""The connector contract: what an in-process source and destination implement.

Messages travel as plain envelopes ``{"type": K, K: payload}`` (dicts) so the per-record hot path
never builds models; the typed models in :mod:`stripe_sync.protocol.messages` check the boundaries.
``config`` is always a plain dict that was validated against the connector's spec (defaults applied).
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator
from typing import Any, Protocol, runtime_checkable

Message = dict[str, Any]
Config = dict[str, Any]


@runtime_checkable
class Source(Protocol):
    """A source: reads an upstream system and emits records, states, statuses, stats and logs."""

    def spec(self) -> dict[str, Any]:
        """Return ``{"config": <JSON Schema>}``; secret properties carry ``"secret": true``."""
        ...

    async def check(self, config: Config) -> dict[str, Any]:
        """Return a ``connection_status`` payload."""
        ...

    async def discover(self, config: Config) -> dict[str, Any]:
        """Return a ``catalog`` payload ``{"streams": [Stream]}``."""
        ...

    def read(
        self,
        config: Config,
        catalog: dict[str, Any],
        state: dict[str, Any],
        input: AsyncIterator[dict[str, Any]] | None = None,
    ) -> AsyncIterator[Message]:
        """Yield messages for the configured catalog, resuming from ``state`` (the source section)."""
        ...


@runtime_checkable
class Destination(Protocol):
    """A destination: writes records durably and re-emits each state once its records are durable."""

    def spec(self) -> dict[str, Any]: ...

    async def check(self, config: Config) -> dict[str, Any]: ...

    def write(
        self,
        config: Config,
        catalog: dict[str, Any],
        messages: AsyncIterator[Message],
    ) -> AsyncIterator[Message]:
        """Consume records/states; yield confirmed ``source_state``s, ``write_stats``, errors, logs."""
        ...


async def call_setup(connector: object, config: Config, catalog: dict[str, Any]) -> None:
    """Run a connector's optional, idempotent ``setup``."""
    setup = getattr(connector, "setup", None)
    if setup is not None:
        await setup(config, catalog)


async def call_teardown(
    connector: object, config: Config, catalog: dict[str, Any], **options: Any
) -> Any:
    """Run a connector's optional ``teardown``; return what it returns (None for most).

    ``options`` (the database destinations take ``pipeline`` and ``keep_tables``) are passed on
    only to a teardown that names them."""
    teardown = getattr(connector, "teardown", None)
    if teardown is None:
        return None
    accepted = inspect.signature(teardown).parameters
    return await teardown(config, catalog, **{k: v for k, v in options.items() if k in accepted})
