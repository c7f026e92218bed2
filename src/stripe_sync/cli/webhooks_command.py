"""`stripe-sync webhooks serve`: receive Stripe's webhooks and keep a database current with them.

The command runs ``sync --live`` with the verified events as its pushed input: it backfills what
is due, then applies each delivered event as it arrives, and still polls ``/v1/events`` (every 60 s
by default) to catch whatever a delivery missed. Deliveries that fail verification get 400 and
change nothing; they are counted in the progress and logged. ``listening http://HOST:PORT`` goes to
stderr once the port is open (stdout carries NDJSON). Ctrl-C stops both.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import sys
from collections.abc import AsyncIterator, Generator
from typing import Annotated

import typer
import uvicorn

from stripe_sync.cli.outcome import exit_code_for_end
from stripe_sync.cli.output import OutputMode, render_sync
from stripe_sync.cli.pipeline_commands import TimeLimitOption, sync_messages
from stripe_sync.cli.running import run_command
from stripe_sync.cli.sync_command import (
    Account,
    ApiKey,
    BaseUrl,
    MaxRps,
    Ndjson,
    PipelineName,
    Plain,
    Progress,
    Schema,
    Streams,
    To,
    api_key_source,
    live_calls,
    stripe_pipeline,
)
from stripe_sync.engine.pipeline import parse_pipeline
from stripe_sync.protocol.connector import Message
from stripe_sync.sources.stripe.config import StripeSourceConfig
from stripe_sync.sources.stripe.webhooks import WebhookInbox, webhook_app

WEBHOOK_POLL_INTERVAL_S = 60.0

webhooks_app = typer.Typer(help="Receive Stripe webhooks.", no_args_is_help=True)


class _Server(uvicorn.Server):
    """uvicorn that announces its address, without signal handling of its own: Ctrl-C belongs to
    the command (``run_command``)."""

    def __init__(self, config: uvicorn.Config, address: str) -> None:
        super().__init__(config)
        self.address = address

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started:
            print(f"listening {self.address}", file=sys.stderr, flush=True)

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


@webhooks_app.command("serve")
def serve_command(
    ctx: typer.Context,
    port: Annotated[
        int,
        typer.Option(
            "--port",
            min=0,
            max=65535,
            metavar="PORT",
            help="port to listen on (0: any free)",
        ),
    ],
    host: Annotated[
        str, typer.Option("--host", metavar="ADDRESS", help="address to listen on")
    ] = "127.0.0.1",
    webhook_secret: Annotated[
        list[str] | None,
        typer.Option(
            "--webhook-secret",
            envvar="STRIPE_WEBHOOK_SECRET",
            metavar="SECRET",
            help="endpoint secret whsec_…, repeat it while rotating; required",
            show_default=False,
        ),
    ] = None,
    api_key: ApiKey = None,
    base_url: BaseUrl = None,
    to: To = "sqlite:///stripe.db",
    schema: Schema = None,
    pipeline_name: PipelineName = "default",
    streams: Streams = None,
    account: Account = None,
    max_rps: MaxRps = None,
    poll_interval: Annotated[
        float,
        typer.Option(
            "--poll-interval", min=0.1, metavar="SECONDS", help="seconds between event polls"
        ),
    ] = WEBHOOK_POLL_INTERVAL_S,
    time_limit: TimeLimitOption = None,
    progress: Progress = True,
    plain: Plain = False,
    ndjson: Ndjson = False,
) -> None:
    """Verify Stripe's webhook deliveries and apply their events to the database at --to."""
    if not webhook_secret:
        raise typer.BadParameter(
            "a webhook secret is needed: --webhook-secret or STRIPE_WEBHOOK_SECRET"
        )
    pipeline_spec = stripe_pipeline(
        api_key=api_key,
        base_url=base_url,
        to=to,
        schema=schema,
        pipeline_name=pipeline_name,
        streams=streams,
        account=account,
        max_rps=max_rps,
        poll_interval=poll_interval,
    )
    pipeline_spec["source"]["config"]["webhook_secrets"] = list(webhook_secret)
    pipeline = parse_pipeline(pipeline_spec)
    secrets = StripeSourceConfig.model_validate(pipeline.source.config).webhook_secrets
    inbox = WebhookInbox(secret.get_secret_value() for secret in secrets)
    try:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.create_server((host, port), family=family)
    except OSError as exc:
        raise typer.BadParameter(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    address = f"http://{host}:{sock.getsockname()[1]}"
    mode = OutputMode(progress=progress, plain=plain, ndjson=ndjson)

    async def main(abort: asyncio.Event) -> int:
        config = uvicorn.Config(webhook_app(inbox), log_level="warning", server_header=False)
        server = _Server(config, address)
        serving = asyncio.create_task(server.serve(sockets=[sock]))

        def call(limit: float | None) -> AsyncIterator[Message]:
            return sync_messages(
                pipeline,
                state=None,
                engine_url=None,
                engine_token=None,
                live=True,
                input=inbox,
                time_limit=limit,
                abort=abort,
            )

        try:
            end = await render_sync(
                live_calls(call, time_limit=time_limit, abort=abort), mode, api_key_source(ctx)
            )
        finally:
            server.should_exit = True
            await serving
        return exit_code_for_end(end)

    raise typer.Exit(run_command(main))
