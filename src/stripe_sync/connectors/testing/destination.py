"""The `test` destination: keeps rows in memory or in a JSONL file and confirms states on commit.

Records are buffered and "committed" when a state arrives or ``batch_size`` records are waiting;
each state is re-emitted only after the records before it were committed. Rows are keyed by
stream and primary key, last write wins. ``fail_after_records`` raises a global error (as a lost
database would) and ``fail_stream`` reports a stream-level failure, for engine tests. It takes
batches of messages (``write_batches``) as well as single ones (``write``).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, ClassVar

import orjson
from pydantic import BaseModel, ConfigDict, Field

from stripe_sync.protocol.batching import Batch, singletons
from stripe_sync.protocol.connector import Config, Message


class TestDestinationConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(default="default", description="in-memory store to write to")
    path: str | None = Field(default=None, description="append committed rows to this JSONL file")
    batch_size: int = Field(default=100, ge=1)
    commit_delay_s: float = Field(default=0.0, ge=0)
    fail_after_records: int | None = None
    fail_stream: str | None = None


def row_key(stream: str, data: dict[str, Any]) -> tuple[str, str]:
    return stream, str(data.get("id"))


def load_rows(path: str | Path) -> dict[tuple[str, str], dict[str, Any]]:
    """Read a JSONL file written by the destination: the latest row per (stream, id)."""
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    file = Path(path)
    if not file.exists():
        return rows
    for line in file.read_bytes().splitlines():
        entry = orjson.loads(line)
        key = row_key(entry["stream"], entry["data"])
        if entry.get("deleted"):
            rows.pop(key, None)
        else:
            rows[key] = entry["data"]
    return rows


class TestDestination:
    """A destination for tests; committed rows live in ``TestDestination.stores[name]``."""

    config_model = TestDestinationConfig
    stores: ClassVar[dict[str, dict[tuple[str, str], dict[str, Any]]]] = {}

    def spec(self) -> dict[str, Any]:
        return {"config": TestDestinationConfig.model_json_schema()}

    async def check(self, config: Config) -> dict[str, Any]:
        return {"status": "succeeded", "message": "the test destination is always reachable"}

    def write(
        self,
        config: Config,
        catalog: dict[str, Any],
        messages: AsyncIterator[Message],
    ) -> AsyncIterator[Message]:
        return self.write_batches(config, catalog, singletons(messages))

    async def write_batches(
        self,
        config: Config,
        catalog: dict[str, Any],
        batches: AsyncIterator[Batch],
    ) -> AsyncIterator[Message]:
        parsed = TestDestinationConfig.model_validate(config)
        store = self.stores.setdefault(parsed.name, {})
        pending: list[dict[str, Any]] = []
        written = 0
        failed: set[str] = set()

        async def commit() -> AsyncIterator[Message]:
            if not pending:
                return
            if parsed.commit_delay_s:
                await asyncio.sleep(parsed.commit_delay_s)
            if parsed.path:
                with open(parsed.path, "ab") as handle:
                    handle.write(b"".join(orjson.dumps(r) + b"\n" for r in pending))
            counts: dict[str, dict[str, int]] = {}
            for record in pending:
                key = row_key(record["stream"], record["data"])
                stats = counts.setdefault(
                    record["stream"], {"inserted": 0, "updated": 0, "unchanged": 0, "deleted": 0}
                )
                if record.get("deleted"):
                    stats["deleted"] += 1 if store.pop(key, None) is not None else 0
                elif key not in store:
                    stats["inserted"] += 1
                elif store[key] == record["data"]:
                    stats["unchanged"] += 1
                else:
                    stats["updated"] += 1
                if not record.get("deleted"):
                    store[key] = record["data"]
            pending.clear()
            for stream, stats in counts.items():
                yield {"type": "write_stats", "write_stats": {"stream": stream, **stats}}

        async for batch in batches:
            for message in batch:
                kind = message["type"]
                if kind == "record":
                    record = message["record"]
                    if record["stream"] in failed:
                        continue
                    if record["stream"] == parsed.fail_stream:
                        failed.add(record["stream"])
                        error = {
                            "level": "stream",
                            "failure_type": "system_error",
                            "stream": record["stream"],
                            "message": f"cannot write to table {record['stream']}",
                        }
                        yield {"type": "error", "error": error}
                        continue
                    written += 1
                    if (
                        parsed.fail_after_records is not None
                        and written > parsed.fail_after_records
                    ):
                        error = {
                            "level": "global",
                            "failure_type": "transient_error",
                            "message": "connection to the test store lost",
                        }
                        yield {"type": "error", "error": error}
                        return
                    pending.append(record)
                    if len(pending) >= parsed.batch_size:
                        async for out in commit():
                            yield out
                elif kind == "source_state":
                    if message["source_state"].get("stream") in failed:
                        continue
                    async for out in commit():
                        yield out
                    yield message
        async for out in commit():
            yield out
