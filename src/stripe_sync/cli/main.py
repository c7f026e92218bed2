"""Entry point of the `stripe-sync` command: builds the Typer app from the command modules."""

from __future__ import annotations

import sys

import typer

from stripe_sync.cli import exit_codes
from stripe_sync.cli.demo import demo_command
from stripe_sync.cli.fake_stripe_command import fake_stripe_command
from stripe_sync.cli.pipeline_commands import pipeline_app
from stripe_sync.cli.serve_engine_command import serve_engine_command
from stripe_sync.cli.service_command import service_app
from stripe_sync.cli.status_command import status_command
from stripe_sync.cli.streams import streams_command
from stripe_sync.cli.sync_command import sync_command
from stripe_sync.cli.verify_command import verify_command
from stripe_sync.cli.webhooks_command import webhooks_app
from stripe_sync.protocol.errors import ConfigError

app = typer.Typer(
    name="stripe-sync",
    help="Copy a Stripe account into a database you own, and keep it current.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root() -> None:
    """Copy a Stripe account into a database you own, and keep it current."""


app.command("demo")(demo_command)
app.command("fake-stripe")(fake_stripe_command)
app.add_typer(pipeline_app, name="pipeline")
app.command("streams")(streams_command)
app.command("sync")(sync_command)
app.command("serve-engine")(serve_engine_command)
app.add_typer(service_app, name="service")
app.command("status")(status_command)
app.command("verify")(verify_command)
app.add_typer(webhooks_app, name="webhooks")


def main() -> None:
    """Run the CLI; usage errors exit 2, unexpected exceptions exit 1 with a one-line message."""
    try:
        result = app(standalone_mode=False)
        sys.exit(result if isinstance(result, int) else exit_codes.DONE)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except ConfigError as exc:
        print(f"stripe-sync: {exc}", file=sys.stderr)
        sys.exit(exit_codes.USAGE_ERROR)
    except (typer.BadParameter, typer.Abort) as exc:
        print(f"stripe-sync: {exc}", file=sys.stderr)
        sys.exit(exit_codes.USAGE_ERROR)
    except Exception as exc:  # usage errors of the (vendored) click parser, and bugs
        if hasattr(exc, "show") and hasattr(exc, "exit_code"):
            exc.show(file=sys.stderr)
            sys.exit(exit_codes.USAGE_ERROR)
        print(
            f"stripe-sync: internal error: {type(exc).__name__}: {exc} "
            "(please report it with the command you ran)",
            file=sys.stderr,
        )
        sys.exit(exit_codes.INTERNAL_ERROR)


if __name__ == "__main__":
    main()
