"""The `test` source: generated streams that resume from their state, or a scripted scenario.

Generated mode (``streams``) emits, per stream, pages of records with ``created`` times inside the
injected time range, a state after each page (``{"offset": n}``), ``source_stats`` with one request
per page, and a terminal status; a later call resumes from the saved offset. Scripted mode
(``scenario``) plays a list of steps: protocol messages as they are, ``{"sleep": s}``,
``{"block": s}`` (sleep without yielding to the event loop: a connector that blocks it),
``{"crash": message}`` (raise) and ``{"exit": code}`` (leave the process, for exec tests).
``read_batches`` yields the same messages a page at a time (records, stats and state of a page in
one batch); ``read`` yields them one by one.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from stripe_sync.protocol.batching import Batch, flatten
from stripe_sync.protocol.connector import Config, Message
from stripe_sync.protocol.ranges import make_range, range_bounds


class GeneratedStream(BaseModel):
    model_config = ConfigDict(extra="forbid")

    records: int = Field(default=10, ge=0)
    page_size: int = Field(default=5, ge=1)
    supports_time_range: bool = True
    first_created: int = Field(default=1_700_000_000, description="created of the oldest record")
    seconds_between: int = Field(default=60, ge=0)
    page_delay_s: float = Field(default=0.0, ge=0)
    fail_after_pages: int | None = Field(
        default=None, description="emit a stream error and `failed` after this many pages"
    )
    skip_reason: str | None = Field(default=None, description="report the stream as skipped")


class TestSourceConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    streams: dict[str, GeneratedStream] = {}
    scenario: list[dict[str, Any]] | None = None
    catalog: list[str | dict[str, Any]] | None = Field(
        default=None, description="streams to discover in scripted mode (names or Stream objects)"
    )


def _stream_entry(name: str, supports_time_range: bool) -> dict[str, Any]:
    return {
        "name": name,
        "json_schema": {
            "type": "object",
            "properties": {
                "id": {"type": "string"},
                "created": {"type": "integer", "format": "unix-time"},
                "name": {"type": ["string", "null"]},
            },
        },
        "primary_key": [["id"]],
        "supports_time_range": supports_time_range,
    }


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class TestSource:
    """A source for tests and the engine demo; see the module docstring for its two modes."""

    config_model = TestSourceConfig

    def spec(self) -> dict[str, Any]:
        return {"config": TestSourceConfig.model_json_schema()}

    async def check(self, config: Config) -> dict[str, Any]:
        return {"status": "succeeded", "message": "the test source is always reachable"}

    async def discover(self, config: Config) -> dict[str, Any]:
        parsed = TestSourceConfig.model_validate(config)
        streams = [_stream_entry(n, s.supports_time_range) for n, s in parsed.streams.items()]
        for entry in parsed.catalog or []:
            streams.append(_stream_entry(entry, True) if isinstance(entry, str) else entry)
        return {"streams": streams}

    def read(
        self,
        config: Config,
        catalog: dict[str, Any],
        state: dict[str, Any],
        input: AsyncIterator[dict[str, Any]] | None = None,
    ) -> AsyncIterator[Message]:
        return flatten(self.read_batches(config, catalog, state, input))

    async def read_batches(
        self,
        config: Config,
        catalog: dict[str, Any],
        state: dict[str, Any],
        input: AsyncIterator[dict[str, Any]] | None = None,
    ) -> AsyncIterator[Batch]:
        parsed = TestSourceConfig.model_validate(config)
        if parsed.scenario is not None:
            async for message in self._play(parsed.scenario):
                yield [message]
            return
        saved = state.get("streams", {})
        for configured in catalog["streams"]:
            name = configured["name"]
            spec = parsed.streams.get(name)
            if spec is None:
                continue
            async for batch in self._generate(name, spec, configured, saved.get(name) or {}):
                yield batch

    async def _play(self, scenario: list[dict[str, Any]]) -> AsyncIterator[Message]:
        for step in scenario:
            if "sleep" in step:
                await asyncio.sleep(float(step["sleep"]))
            elif "block" in step:
                time.sleep(float(step["block"]))  # noqa: ASYNC251 (blocking is the point)
            elif "crash" in step:
                raise RuntimeError(str(step["crash"]))
            elif "exit" in step:
                os._exit(int(step["exit"]))
            else:
                yield step

    async def _generate(
        self,
        name: str,
        spec: GeneratedStream,
        configured: dict[str, Any],
        saved: dict[str, Any],
    ) -> AsyncIterator[Batch]:
        """One stream's messages: each page's records, stats and state as one batch."""
        created = [spec.first_created + i * spec.seconds_between for i in range(spec.records)]
        total_lt = created[-1] + 1 if created else spec.first_created + 1
        window = configured.get("time_range") if spec.supports_time_range else None
        gte, lt = range_bounds(window) if window else (None, total_lt)
        selected = [c for c in created if (gte is None or c >= gte) and c < lt]
        status: dict[str, Any] = {"stream": name, "status": "started"}
        if window:
            status["total_range"] = make_range(spec.first_created if gte is None else gte, lt)
        yield [{"type": "stream_status", "stream_status": status}]
        if spec.skip_reason:
            reason = {"stream": name, "status": "skipped", "reason": spec.skip_reason}
            yield [
                {"type": "log", "log": {"level": "info", "message": f"{name}: {spec.skip_reason}"}},
                {"type": "stream_status", "stream_status": reason},
            ]
            return
        offset = int(saved.get("offset", 0)) if saved.get("window") == window else 0
        limit = configured.get("backfill_limit")
        end = min(len(selected), limit) if limit else len(selected)
        pages = 0
        while offset < end:
            if spec.fail_after_pages is not None and pages >= spec.fail_after_pages:
                message = f"{name}: scripted failure after {pages} pages"
                error = {"level": "stream", "failure_type": "system_error", "message": message}
                yield [
                    {"type": "error", "error": {**error, "stream": name}},
                    {
                        "type": "stream_status",
                        "stream_status": {**status, "status": "failed", "reason": message},
                    },
                ]
                return
            if spec.page_delay_s:
                await asyncio.sleep(spec.page_delay_s)
            emitted_at = now_iso()
            page = range(offset, min(offset + spec.page_size, end))
            batch: Batch = [
                {
                    "type": "record",
                    "record": {
                        "stream": name,
                        "data": {
                            "id": f"{name}_{index}",
                            "created": selected[index],
                            "name": f"{name} number {index}",
                        },
                        "emitted_at": emitted_at,
                    },
                }
                for index in page
            ]
            offset = page.stop
            pages += 1
            batch.append(
                {"type": "source_stats", "source_stats": {"stream": name, "request_count": 1}}
            )
            batch.append(
                {
                    "type": "source_state",
                    "source_state": {
                        "state_type": "stream",
                        "stream": name,
                        "data": {"offset": offset, "window": window},
                    },
                }
            )
            yield batch
        if window:
            done = make_range(spec.first_created if gte is None else gte, lt)
            yield [
                {
                    "type": "stream_status",
                    "stream_status": {"stream": name, "status": "range_complete", "range": done},
                }
            ]
        yield [{"type": "stream_status", "stream_status": {"stream": name, "status": "complete"}}]
