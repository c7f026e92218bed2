"""Connectors for engine tests of batching: the test connectors without their batched forms, and a
source that plays scripted batches (loaded by dotted path, e.g. ``tests.support.batches:…``)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from stripe_sync.connectors.testing.destination import TestDestination
from stripe_sync.connectors.testing.source import TestSource
from stripe_sync.protocol.batching import flatten, singletons

Message = dict[str, Any]

UNBATCHED_SOURCE = "tests.support.batches:OneAtATimeSource"
UNBATCHED_DESTINATION = "tests.support.batches:OneAtATimeDestination"
SCRIPTED_SOURCE = "tests.support.batches:ScriptedBatchSource"


class OneAtATimeSource(TestSource):
    """The test source offering only ``read`` (as an external connector would)."""

    read_batches = None  # type: ignore[assignment]

    def read(self, config, catalog, state, input=None):
        return flatten(TestSource.read_batches(self, config, catalog, state, input))


class OneAtATimeDestination(TestDestination):
    """The test destination offering only ``write``."""

    write_batches = None  # type: ignore[assignment]

    def write(self, config, catalog, messages):
        return TestDestination.write_batches(self, config, catalog, singletons(messages))


class ScriptedBatchSource:
    """Plays ``config["script"]``: lists of messages are batches, ``{"sleep": s}`` waits."""

    def spec(self) -> dict[str, Any]:
        return {"config": {"type": "object"}}

    async def check(self, config: dict[str, Any]) -> dict[str, Any]:
        return {"status": "succeeded", "message": "scripted"}

    async def discover(self, config: dict[str, Any]) -> dict[str, Any]:
        return {
            "streams": [
                {
                    "name": name,
                    "json_schema": {"type": "object"},
                    "primary_key": [["id"]],
                    "supports_time_range": False,
                }
                for name in config["streams"]
            ]
        }

    def read(self, config, catalog, state, input=None) -> AsyncIterator[Message]:
        return flatten(self.read_batches(config, catalog, state, input))

    async def read_batches(self, config, catalog, state, input=None):
        for step in config["script"]:
            if isinstance(step, dict):
                await asyncio.sleep(float(step["sleep"]))
            else:
                yield step


def record(stream: str, n: int) -> Message:
    return {
        "type": "record",
        "record": {
            "stream": stream,
            "data": {"id": f"{stream}_{n}"},
            "emitted_at": "2026-01-01T00:00:00Z",
        },
    }


def state(stream: str, n: int) -> Message:
    return {"type": "source_state", "source_state": {"stream": stream, "data": {"after": n}}}


def status(stream: str, value: str) -> Message:
    return {"type": "stream_status", "stream_status": {"stream": stream, "status": value}}
