"""`stripe-sync verify`: compare the destination with the API; exit 0 when equal, 6 when not.

With connected accounts the report is grouped by account (``reconcile.verify.report_lines``)."""

from __future__ import annotations

import asyncio
import sys
import time
from typing import Annotated

import typer

from stripe_sync.cli import exit_codes
from stripe_sync.cli.running import run_command
from stripe_sync.cli.sync_command import (
    Account,
    Accounts,
    ApiKey,
    BaseUrl,
    PipelineName,
    Schema,
    To,
    stripe_pipeline,
)
from stripe_sync.engine.pipeline import parse_pipeline
from stripe_sync.engine.registry import destination_state_store
from stripe_sync.protocol.ranges import parse_time
from stripe_sync.reconcile.verify import VerifyError, report_lines, verify


def verify_command(
    api_key: ApiKey = None,
    base_url: BaseUrl = None,
    to: To = "sqlite:///stripe.db",
    schema: Schema = None,
    pipeline_name: PipelineName = "default",
    streams: Annotated[
        str | None,
        typer.Option(
            "--streams", metavar="A,B", help="streams to compare (default: the last run's)"
        ),
    ] = None,
    account: Account = None,
    accounts: Accounts = None,
) -> None:
    """Compare what the destination holds with what the API lists, per stream and month."""
    pipeline = parse_pipeline(
        stripe_pipeline(
            api_key=api_key,
            base_url=base_url,
            to=to,
            schema=schema,
            pipeline_name=pipeline_name,
            streams=streams,
            account=account,
            accounts=accounts,
        )
    )

    async def main(abort: asyncio.Event) -> int:
        store = destination_state_store(pipeline)
        saved = (await store.load(pipeline.name) if store is not None else None) or {}
        engine = saved.get("engine") or {}
        names = pipeline.streams or [
            name
            for name, status in (engine.get("terminal_streams") or {}).items()
            if status == "complete"
        ]
        if not names:
            print(
                "stripe-sync: nothing to verify: no completed stream (use --streams)",
                file=sys.stderr,
            )
            return exit_codes.USAGE_ERROR
        started_at = engine.get("started_at")
        lt = parse_time(started_at) if started_at else int(time.time())
        try:
            reports = await verify(
                pipeline.source.config, pipeline.destination.config, names, lt=lt
            )
        except VerifyError as exc:
            print(f"stripe-sync: error: {exc}", file=sys.stderr)
            return exit_codes.FINISHED_WITH_ERRORS
        for line in report_lines(reports):
            print(line)
        if all(report.equal for report in reports):
            return exit_codes.DONE
        return exit_codes.DIFFERENCES_FOUND

    raise typer.Exit(run_command(main))
