"""Helpers for engine tests: pipelines over the test connectors and collecting a call's output."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

from stripe_sync.engine.sync import sync

HARNESS = f"{sys.executable} -m stripe_sync.engine.harness"


def pinned_clock(moment: str = "2026-01-01T00:00:00") -> Any:
    fixed = datetime.fromisoformat(moment).replace(tzinfo=UTC)
    return lambda: fixed


def make_pipeline(
    streams: dict[str, dict[str, Any]],
    *,
    path: str | None = None,
    name: str = "default",
    destination: dict[str, Any] | None = None,
    exec_source: bool = False,
    exec_destination: bool = False,
) -> dict[str, Any]:
    """A pipeline from the test source (generated streams) to the test destination."""
    source: dict[str, Any] = {"type": "test", "config": {"streams": streams}}
    target: dict[str, Any] = {"type": "test", "config": {"name": name, **(destination or {})}}
    if path is not None:
        target["config"]["path"] = path
    if exec_source:
        source = {"type": "exec", "command": f"{HARNESS} source test", "config": source["config"]}
    if exec_destination:
        target = {
            "type": "exec",
            "command": f"{HARNESS} destination test",
            "config": target["config"],
        }
    return {"name": name, "source": source, "destination": target}


async def collect(messages: AsyncIterator[dict[str, Any]]) -> list[dict[str, Any]]:
    return [message async for message in messages]


async def run_sync(
    pipeline: dict[str, Any], state: dict[str, Any] | None = None, **options: Any
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Run one sync call; return all messages and the ``end`` payload."""
    messages = await collect(sync(pipeline, state, **options))
    assert messages[-1]["type"] == "end", messages[-1]
    return messages, messages[-1]["end"]


def of_type(messages: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [message[kind] for message in messages if message["type"] == kind]


VOLATILE = {"_ts", "_emitted_by"}


def comparable(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What must match between two runs of the same pipeline: non-progress messages without
    times, grouped by emitter (each side's order is fixed, how the source's and the
    destination's messages interleave is not), and the end's reason, states and counts."""
    kept = []
    by_emitter = sorted(
        messages, key=lambda message: (message["type"] == "end", str(message.get("_emitted_by")))
    )
    for message in by_emitter:
        if message["type"] == "progress":
            continue
        message = {k: v for k, v in message.items() if k not in VOLATILE}
        if message["type"] == "end":
            end = message["end"]
            message = {
                "reason": end["reason"],
                "has_more": end["has_more"],
                "source": end["ending_state"]["source"],
                "terminal": end["ending_state"]["engine"]["terminal_streams"],
                "counts": {
                    key: end["run_progress"][key]
                    for key in ("record_count", "state_count", "request_count", "writes")
                },
            }
        kept.append(message)
    return kept
