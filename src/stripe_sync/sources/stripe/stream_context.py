"""What every stream strategy shares: the client, the output queue, records and stats.

A strategy (time-range backfill, cursor listing, fan-out, …) fetches pages and hands them here;
this module turns objects into records (``_account_id``, ``version``), completes embedded lists,
and emits states and ``source_stats`` in the order the protocol needs: a state only after the
records it covers. A page's records go onto the output queue as one batch (a list of messages).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from stripe_sync.sources.stripe.catalog import StreamDef
from stripe_sync.sources.stripe.client import StripeClient, StripeResponse
from stripe_sync.sources.stripe.embedded import complete_embedded_lists
from stripe_sync.sources.stripe.outbox import Outbox

MAX_WORKERS = 24
UNLIMITED_WORKERS = 8
LATENCY_SMOOTHING = 0.2
INITIAL_LATENCY_S = 0.3


@dataclass
class LatencyEstimate:
    """A smoothed request latency, used to size how many requests a stream keeps in flight."""

    seconds: float = INITIAL_LATENCY_S

    def observe(self, seconds: float) -> None:
        self.seconds += LATENCY_SMOOTHING * (seconds - self.seconds)


@dataclass
class StreamContext:
    stream: StreamDef
    client: StripeClient
    account_id: str
    out: Outbox  # messages, and batches (lists) of records
    share_rps: Callable[[], float]
    account: str | None = None
    latency: LatencyEstimate = field(default_factory=LatencyEstimate)
    record_count: int = 0

    @property
    def name(self) -> str:
        return self.stream.name

    def desired_in_flight(self) -> int:
        """Requests this stream should keep in flight to use its share of the budget."""
        share = self.share_rps()
        if share <= 0:
            return UNLIMITED_WORKERS
        return max(1, min(MAX_WORKERS, math.ceil(share * self.latency.seconds) + 1))

    async def get(
        self, path: str, params: dict[str, Any], endpoint: str | None = None
    ) -> StripeResponse:
        response = await self.client.get(path, params, stream=self.name, endpoint=endpoint)
        self.latency.observe(response.elapsed_s)
        return response

    async def emit(self, kind: str, payload: dict[str, Any]) -> None:
        if self.account is not None:
            payload["account"] = self.account
        await self.out.put({"type": kind, kind: payload})

    async def emit_objects(self, response: StripeResponse, objects: list[dict[str, Any]]) -> None:
        """Complete the objects' embedded lists and emit them as records, in one batch."""
        if self.stream.embedded_lists:
            await complete_embedded_lists(self, objects)
        if not objects:
            return
        emitted_at = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        version = response.version
        name = self.name
        account_id = self.account_id
        batch: list[dict[str, Any]] = []
        for obj in objects:
            obj["_account_id"] = account_id
            record: dict[str, Any] = {
                "stream": name,
                "data": obj,
                "emitted_at": emitted_at,
                "version": version,
            }
            if self.account is not None:
                record["account"] = self.account
            batch.append({"type": "record", "record": record})
        await self.out.put(batch)
        self.record_count += len(objects)

    async def emit_state(self, data: dict[str, Any]) -> None:
        await self.emit("source_state", {"state_type": "stream", "stream": self.name, "data": data})
        await self.emit_stats()

    async def emit_stats(self) -> None:
        stats: dict[str, Any] = {"stream": self.name, **self.client.stats.take(self.name)}
        stats["budget_rps"] = self.client.budget.current_rps
        await self.emit("source_stats", stats)

    async def emit_status(self, status: str, **fields: Any) -> None:
        await self.emit("stream_status", {"stream": self.name, "status": status, **fields})

    async def log(self, level: str, message: str) -> None:
        await self.out.put({"type": "log", "log": {"level": level, "message": message}})
