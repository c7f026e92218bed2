"""Connectors that fail in one chosen way, loaded by the engine as ``tests.support.faulty:Class``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from stripe_sync.protocol.errors import ConfigError


class _Destination:
    """Any config; writes nothing."""

    def spec(self) -> dict[str, Any]:
        return {"config": {"type": "object"}}

    async def check(self, config: dict[str, Any]) -> dict[str, Any]:
        return {"status": "succeeded"}

    async def write(
        self, config: dict[str, Any], catalog: dict[str, Any], messages: AsyncIterator[Any]
    ) -> AsyncIterator[dict[str, Any]]:
        async for _ in messages:
            pass
        return
        yield


class ConfigErrorInSetup(_Destination):
    """A destination whose setup refuses its configuration."""

    async def setup(self, config: dict[str, Any], catalog: dict[str, Any]) -> None:
        raise ConfigError("the target schema name is not allowed")


class StatsWithoutStream(_Destination):
    """A destination that reports ``write_stats`` without their ``stream``."""

    async def write(
        self, config: dict[str, Any], catalog: dict[str, Any], messages: AsyncIterator[Any]
    ) -> AsyncIterator[dict[str, Any]]:
        async for _ in messages:
            yield {"type": "write_stats", "write_stats": {"inserted": 1}}
