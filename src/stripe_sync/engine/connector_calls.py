"""The low-level connector calls of a pipeline: check, discover, setup, teardown, read, write.

``sync`` joins both sides; these run one side on its own (the ``stripe-sync pipeline`` verbs and
the engine HTTP API use them). Bad input raises ConfigError before any I/O.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing
from typing import Any

from stripe_sync.engine.catalog_selection import configure_catalog, select_streams
from stripe_sync.engine.pipeline import Pipeline, parse_pipeline
from stripe_sync.engine.registry import Role, checked_config, load_connector
from stripe_sync.engine.sync_run import SyncRun
from stripe_sync.protocol.boundary import check_catalog, check_source_message
from stripe_sync.protocol.connector import Message, call_setup, call_teardown
from stripe_sync.protocol.errors import SyncError
from stripe_sync.protocol.state import coerce_sync_state


async def _side(pipeline: Pipeline, role: Role) -> tuple[Any, dict[str, Any]]:
    ref = pipeline.source if role == "source" else pipeline.destination
    connector = load_connector(role, ref)
    return connector, await checked_config(connector, ref.config, role)


async def check(pipeline: Pipeline | dict[str, Any] | str, role: Role) -> dict[str, Any]:
    """The ``connection_status`` payload of one side."""
    connector, config = await _side(parse_pipeline(pipeline), role)
    status: dict[str, Any] = await connector.check(config)
    return status


async def discover(pipeline: Pipeline | dict[str, Any] | str) -> dict[str, Any]:
    """The source's catalog, narrowed to the pipeline's streams."""
    return await _selected_catalog(parse_pipeline(pipeline))


async def _discovered(parsed: Pipeline, source: Any, config: dict[str, Any]) -> dict[str, Any]:
    """The source's whole catalog, checked at the boundary."""
    return check_catalog(await source.discover(config), f"source/{parsed.source.type}")


async def _selected_catalog(parsed: Pipeline) -> dict[str, Any]:
    source, config = await _side(parsed, "source")
    return {"streams": select_streams(await _discovered(parsed, source, config), parsed.streams)}


async def setup(pipeline: Pipeline | dict[str, Any] | str, role: Role) -> None:
    parsed = parse_pipeline(pipeline)
    connector, config = await _side(parsed, role)
    await call_setup(connector, config, await _selected_catalog(parsed))


async def teardown(
    pipeline: Pipeline | dict[str, Any] | str, role: Role, *, keep_tables: bool = False
) -> Any:
    """One side's teardown for this pipeline; a database destination removes the pipeline's own
    state and the tables no other pipeline uses (none with ``keep_tables``) and returns a report
    (``summary``: one line saying what it dropped and kept)."""
    parsed = parse_pipeline(pipeline)
    connector, config = await _side(parsed, role)
    catalog = await _selected_catalog(parsed)
    return await call_teardown(
        connector, config, catalog, pipeline=parsed.name, keep_tables=keep_tables
    )


async def read(
    pipeline: Pipeline | dict[str, Any] | str,
    state: dict[str, Any] | None = None,
    *,
    time_limit: float | None = None,
    state_limit: int | None = None,
) -> AsyncGenerator[Message, None]:
    """The source's messages for the pipeline's streams, then one ``end`` (after a crash or a
    message that breaks the protocol: a global ``error`` and ``end{error}``).

    Without a destination nothing is confirmed: ``ending_state.source`` holds the last states the
    source emitted, and ``state_limit`` counts emitted states.
    """
    parsed = parse_pipeline(pipeline)
    source, config = await _side(parsed, "source")
    coerced = coerce_sync_state(state)
    streams = select_streams(await _discovered(parsed, source, config), parsed.streams)
    run = SyncRun.begin(
        coerced,
        pipeline=parsed.name,
        selected=[s["name"] for s in streams],
        now=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        sync_run_id=None,
        fresh=False,
        live=False,
    )
    catalog = configure_catalog(streams, run, backfill_limit=parsed.backfill_limit)
    reason = "complete"
    states = 0
    deadline = time.monotonic() + time_limit if time_limit is not None else None
    label = f"source/{parsed.source.type}"
    reader = source.read(config, catalog, coerced["source"])
    async with aclosing(reader):
        while True:
            timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
            try:
                message = await asyncio.wait_for(anext(reader), timeout)
                check_source_message(message, label)
            except StopAsyncIteration:
                break
            except TimeoutError:
                reason = "time_limit"
                break
            except Exception as exc:  # a crash, or a message that breaks the protocol
                failure_type = exc.failure_type if isinstance(exc, SyncError) else "system_error"
                message_text = str(exc) or type(exc).__name__
                error = {"level": "global", "failure_type": failure_type, "message": message_text}
                yield {"type": "error", "error": error, "_emitted_by": label}
                reason = "error"
                break
            yield message
            kind = message.get("type")
            if kind == "source_state":
                run.confirm_state(message["source_state"])
                states += 1
                if state_limit is not None and states >= state_limit:
                    reason = "state_limit"
                    break
            elif kind == "stream_status":
                status = message["stream_status"]
                if status["status"] in ("complete", "skipped", "failed"):
                    run.finish_stream(status["stream"], status["status"])
            elif kind == "error" and message["error"]["level"] == "global":
                reason = "error"
    end = {"reason": reason, "has_more": run.has_more, "ending_state": run.state}
    yield {"type": "end", "end": end}


async def write(
    pipeline: Pipeline | dict[str, Any] | str,
    messages: AsyncIterator[Message],
) -> AsyncGenerator[Message, None]:
    """Feed ``messages`` to the destination and yield what it confirms and reports."""
    parsed = parse_pipeline(pipeline)
    destination, config = await _side(parsed, "destination")
    catalog = await _selected_catalog(parsed)
    writer = destination.write(config, catalog, messages)
    async with aclosing(writer):
        async for message in writer:
            yield message
