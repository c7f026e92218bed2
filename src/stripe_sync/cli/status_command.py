"""`stripe-sync status`: the stored state of a pipeline, per stream, without touching Stripe."""

from __future__ import annotations

import asyncio
import sys
from typing import Annotated, Any

import orjson
import typer
from rich.console import Console
from rich.table import Column, Table

from stripe_sync.cli import exit_codes
from stripe_sync.cli.running import run_command
from stripe_sync.cli.sync_command import PipelineName, Schema, To
from stripe_sync.destinations.config import destination_for_url
from stripe_sync.engine.pipeline import ConnectorRef
from stripe_sync.engine.registry import state_store_for
from stripe_sync.protocol.state import coerce_sync_state

PIPED_WIDTH = 100_000
"""Console width when stdout is not a terminal: wide enough that no row is ever cut."""


def status_rows(state: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per stream of the last run: status, records, coverage and last error."""
    engine = state.get("engine") or {}
    progress = engine.get("run_progress") or {}
    terminal = engine.get("terminal_streams") or {}
    rows = []
    for name, entry in sorted((progress.get("streams") or {}).items()):
        errors = entry.get("errors") or []
        rows.append(
            {
                "stream": name,
                "status": terminal.get(name, entry.get("status", "pending")),
                "records": entry.get("record_count", 0),
                "coverage": entry.get("coverage"),
                "last_completed_run": (engine.get("streams") or {})
                .get(name, {})
                .get("last_completed_run_started_at"),
                "error": errors[-1]["message"] if errors else entry.get("reason"),
            }
        )
    return rows


def run_mode(engine: dict[str, Any]) -> str:
    """``live``, ``incremental`` (a run after a completed one) or ``backfill``."""
    if engine.get("mode") == "live":
        return "live"
    return "incremental" if engine.get("incremental") else "backfill"


def status_command(
    to: To = "sqlite:///stripe.db",
    schema: Schema = None,
    pipeline_name: PipelineName = "default",
    json_output: Annotated[
        bool, typer.Option("--json", help="print the stored state as JSON")
    ] = False,
) -> None:
    """Show the last run of a pipeline from the state stored in the destination."""
    reference = ConnectorRef.model_validate(destination_for_url(to, schema=schema))

    async def main(abort: asyncio.Event) -> int:
        store = state_store_for(reference)
        saved = await store.load(pipeline_name) if store is not None else None
        if saved is None:
            print(f"stripe-sync: no state stored for pipeline '{pipeline_name}'", file=sys.stderr)
            return exit_codes.USAGE_ERROR
        state = coerce_sync_state(saved, where="stored state")
        if json_output:
            sys.stdout.buffer.write(orjson.dumps(state, option=orjson.OPT_INDENT_2) + b"\n")
            return exit_codes.DONE
        engine = state["engine"]
        lifetime = engine.get("lifetime") or {}
        rows = status_rows(state)
        # piped output is never cut: no width limit; a terminal wraps the error, never a name
        console = Console(width=None if sys.stdout.isatty() else PIPED_WIDTH, soft_wrap=True)
        console.print(
            f"pipeline {pipeline_name}: run {engine.get('sync_run_id')} started "
            f"{engine.get('started_at')} ({run_mode(engine)}); lifetime "
            f"{lifetime.get('record_count', 0):,} records, {lifetime.get('request_count', 0):,} requests"
        )
        longest = max((len(row["stream"]) for row in rows), default=6)
        table = Table(
            Column("stream", no_wrap=True, min_width=longest),
            *("status", "records", "coverage", "last completed run", "error"),
        )
        for row in rows:
            coverage = "" if row["coverage"] is None else f"{row['coverage'] * 100:.0f}%"
            table.add_row(
                row["stream"],
                row["status"],
                f"{row['records']:,}",
                coverage,
                row["last_completed_run"] or "",
                row["error"] or "",
            )
        console.print(table)
        return exit_codes.DONE

    raise typer.Exit(run_command(main))
