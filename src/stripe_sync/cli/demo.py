"""`stripe-sync demo`: a whole sync on the built-in parts, with progress on stderr."""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path
from typing import Annotated, Any

import typer

from stripe_sync.cli.outcome import exit_code_for_end
from stripe_sync.cli.running import run_command
from stripe_sync.engine.state_store import FileStateStore
from stripe_sync.engine.sync import sync


def demo_command(
    records: Annotated[int, typer.Option("--records", min=1, help="records per stream")] = 2000,
) -> None:
    """Sync the test source into a JSONL file and show progress."""
    workdir = Path(tempfile.mkdtemp(prefix="stripe-sync-demo-"))
    pipeline: dict[str, Any] = {
        "name": "demo",
        "source": {
            "type": "test",
            "config": {
                "streams": {
                    name: {"records": records, "page_size": 100, "page_delay_s": 0.01}
                    for name in ("customers", "invoices", "charges")
                }
            },
        },
        "destination": {"type": "test", "config": {"path": str(workdir / "rows.jsonl")}},
    }

    async def main(abort: asyncio.Event) -> int:
        end: dict[str, Any] = {}
        store = FileStateStore(workdir / "state.json")
        async for message in sync(pipeline, state_store=store, abort=abort):
            if message["type"] == "progress":
                progress = message["progress"]
                statuses = " ".join(f"{k}={v['status']}" for k, v in progress["streams"].items())
                print(f"records={progress['record_count']} {statuses}", file=sys.stderr)
            elif message["type"] == "end":
                end = message["end"]
        print(f"done: {end['reason']}; rows in {workdir / 'rows.jsonl'}", file=sys.stderr)
        return exit_code_for_end(end)

    raise typer.Exit(run_command(main))
