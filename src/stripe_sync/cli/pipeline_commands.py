"""`stripe-sync pipeline …`: the connector verbs over a pipeline JSON, NDJSON on stdout."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated, Any

import typer

from stripe_sync.cli import exit_codes
from stripe_sync.cli.outcome import exit_code_for_end, failure_lines
from stripe_sync.cli.running import run_command
from stripe_sync.engine import connector_calls
from stripe_sync.engine.pipeline import Pipeline, parse_pipeline
from stripe_sync.engine.registry import Role, destination_state_store
from stripe_sync.engine.remote import RemoteEngine
from stripe_sync.engine.state_store import FileStateStore
from stripe_sync.engine.sync import sync
from stripe_sync.protocol.connector import Message
from stripe_sync.protocol.ndjson import aread_ndjson, encode

pipeline_app = typer.Typer(help="Run one connector verb of a pipeline; NDJSON on stdout.")

PipelineOption = Annotated[
    str,
    typer.Option("--pipeline", metavar="JSON|FILE", help="pipeline JSON text or file"),
]
StateOption = Annotated[
    Path | None,
    typer.Option(
        "--state", metavar="FILE", help="state file, read and saved (default: start empty)"
    ),
]
RoleOption = Annotated[
    str, typer.Option("--side", metavar="SIDE", help="which connector: source or destination")
]
TimeLimitOption = Annotated[
    float | None,
    typer.Option(
        "--time-limit", min=0, metavar="SECONDS", help="stop after this long (default: none)"
    ),
]
StateLimitOption = Annotated[
    int | None,
    typer.Option(
        "--state-limit", min=1, metavar="N", help="stop after N saved checkpoints (default: none)"
    ),
]
EngineUrlOption = Annotated[
    str | None,
    typer.Option(
        "--engine-url",
        envvar="STRIPE_SYNC_ENGINE_URL",
        metavar="URL",
        help="run through the engine API at URL (default: in this process)",
    ),
]
WaitOption = Annotated[
    bool,
    typer.Option(
        "--wait", help="when the pipeline is already running, wait for that run to end first"
    ),
]
EngineTokenOption = Annotated[
    str | None,
    typer.Option(
        "--engine-token",
        envvar="STRIPE_SYNC_ENGINE_TOKEN",
        metavar="TOKEN",
        help="bearer token of the engine API (default: none)",
        show_default=False,
    ),
]


def _print(message: Message) -> None:
    sys.stdout.buffer.write(encode(message))
    sys.stdout.buffer.flush()


async def _print_all(messages: AsyncIterator[Message], abort: asyncio.Event | None = None) -> int:
    """Print each message, then the ``end``'s failure lines on stderr; the exit code its ``end``
    calls for. With ``abort`` (for a call that does not watch it itself), stop as soon as it is
    set: aborted."""
    end: dict[str, Any] | None = None
    async for message in messages:
        _print(message)
        if message["type"] == "end":
            end = message["end"]
        if abort is not None and abort.is_set():
            return exit_codes.ABORTED
    for line in failure_lines(end) if end is not None else []:
        print(line, file=sys.stderr)
    return exit_code_for_end(end)


def _role(value: str) -> Role:
    if value not in ("source", "destination"):
        raise typer.BadParameter("--side must be 'source' or 'destination'")
    return "source" if value == "source" else "destination"


def sync_messages(
    pipeline: Pipeline,
    *,
    state: Path | None,
    engine_url: str | None,
    engine_token: str | None,
    **options: Any,
) -> AsyncIterator[Message]:
    """``sync`` in-process or on the engine at ``engine_url``, state in FILE or the destination.
    (``wait`` applies in-process: the engine API's runs fail at once when one is running.)"""
    store = FileStateStore(state) if state is not None else None
    wait = bool(options.pop("wait", False))
    if engine_url:
        remote = RemoteEngine(engine_url, engine_token)
        return remote.sync(pipeline, state_store=store, use_destination_state=not store, **options)
    own = store or destination_state_store(pipeline)
    return sync(pipeline, state_store=own, wait=wait, **options)


@pipeline_app.command("sync")
def sync_command(
    pipeline: PipelineOption,
    state: StateOption = None,
    sync_run_id: Annotated[
        str | None,
        typer.Option(
            "--sync-run-id", metavar="ID", help="run to continue or start (default: automatic)"
        ),
    ] = None,
    time_limit: TimeLimitOption = None,
    state_limit: StateLimitOption = None,
    live: Annotated[
        bool, typer.Option("--live", help="keep applying changes after the backfill (default: off)")
    ] = False,
    fresh: Annotated[
        bool, typer.Option("--fresh", help="start over: forget the saved progress (default: off)")
    ] = False,
    engine_url: EngineUrlOption = None,
    engine_token: EngineTokenOption = None,
    wait: WaitOption = False,
) -> None:
    """Sync source → destination; state from --state FILE or the destination's store."""

    async def main(abort: asyncio.Event) -> int:
        messages = sync_messages(
            parse_pipeline(pipeline),
            state=state,
            engine_url=engine_url,
            engine_token=engine_token,
            sync_run_id=sync_run_id,
            fresh=fresh,
            live=live,
            time_limit=time_limit,
            state_limit=state_limit,
            abort=abort,
            wait=wait,
        )
        return await _print_all(messages)

    raise typer.Exit(run_command(main))


@pipeline_app.command("read")
def read_command(
    pipeline: PipelineOption,
    state: StateOption = None,
    time_limit: TimeLimitOption = None,
    state_limit: StateLimitOption = None,
) -> None:
    """Read the source alone: its messages, then `end`."""

    async def main(abort: asyncio.Event) -> int:
        saved = await FileStateStore(state).load("") if state is not None else None
        messages = connector_calls.read(
            pipeline, saved, time_limit=time_limit, state_limit=state_limit
        )
        return await _print_all(messages, abort)

    raise typer.Exit(run_command(main))


async def _stdin_messages() -> AsyncIterator[Message]:
    async def chunks() -> AsyncIterator[bytes]:
        while chunk := await asyncio.to_thread(os.read, 0, 1 << 16):
            yield chunk

    async for message in aread_ndjson(chunks()):
        yield message


@pipeline_app.command("write")
def write_command(pipeline: PipelineOption) -> None:
    """Write NDJSON messages from stdin to the destination; print what it confirms."""

    async def main(abort: asyncio.Event) -> int:
        code = exit_codes.DONE
        async for message in connector_calls.write(pipeline, _stdin_messages()):
            _print(message)
            if message["type"] == "error" and message["error"]["level"] == "global":
                code = exit_codes.FINISHED_WITH_ERRORS
        return code

    raise typer.Exit(run_command(main))


@pipeline_app.command("check")
def check_command(pipeline: PipelineOption, side: RoleOption = "source") -> None:
    """Check that one side can connect."""
    role = _role(side)

    async def main(abort: asyncio.Event) -> int:
        status = await connector_calls.check(pipeline, role)
        _print({"type": "connection_status", "connection_status": status})
        return (
            exit_codes.DONE if status["status"] == "succeeded" else exit_codes.FINISHED_WITH_ERRORS
        )

    raise typer.Exit(run_command(main))


@pipeline_app.command("discover")
def discover_command(pipeline: PipelineOption) -> None:
    """Print the source's catalog for the pipeline's streams."""

    async def main(abort: asyncio.Event) -> int:
        _print({"type": "catalog", "catalog": await connector_calls.discover(pipeline)})
        return exit_codes.DONE

    raise typer.Exit(run_command(main))


@pipeline_app.command("setup")
def setup_command(pipeline: PipelineOption, side: RoleOption = "destination") -> None:
    """Run one side's idempotent setup."""
    role = _role(side)

    async def main(abort: asyncio.Event) -> int:
        await connector_calls.setup(pipeline, role)
        return exit_codes.DONE

    raise typer.Exit(run_command(main))


@pipeline_app.command("teardown")
def teardown_command(
    pipeline: PipelineOption,
    side: RoleOption = "destination",
    keep_tables: Annotated[
        bool, typer.Option("--keep-tables", help="remove only the pipeline's state")
    ] = False,
) -> None:
    """Run one side's teardown: the pipeline's own state, and the tables no other pipeline uses."""
    role = _role(side)

    async def main(abort: asyncio.Event) -> int:
        report = await connector_calls.teardown(pipeline, role, keep_tables=keep_tables)
        if isinstance(report, dict) and isinstance(report.get("summary"), str):
            _print({"type": "log", "log": {"level": "info", "message": report["summary"]}})
        return exit_codes.DONE

    raise typer.Exit(run_command(main))
