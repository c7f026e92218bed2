"""Entry point of the `stripe-sync` command: builds the Typer app from the command modules.

Command modules are imported only when their command runs (or ``--help`` lists them): `sync`
must not pay for the fake server, the HTTP servers or the service at start-up.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

import typer
from typer.core import TyperGroup

from stripe_sync.cli import exit_codes
from stripe_sync.protocol.errors import ConfigError

COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("stripe_sync.cli.demo", "demo_command"),
    "fake-stripe": ("stripe_sync.cli.fake_stripe_command", "fake_stripe_command"),
    "metrics": ("stripe_sync.cli.metrics_command", "metrics_command"),
    "pipeline": ("stripe_sync.cli.pipeline_commands", "pipeline_app"),
    "streams": ("stripe_sync.cli.streams", "streams_command"),
    "sync": ("stripe_sync.cli.sync_command", "sync_command"),
    "serve-engine": ("stripe_sync.cli.serve_engine_command", "serve_engine_command"),
    "service": ("stripe_sync.cli.service_command", "service_app"),
    "status": ("stripe_sync.cli.status_command", "status_command"),
    "verify": ("stripe_sync.cli.verify_command", "verify_command"),
    "webhooks": ("stripe_sync.cli.webhooks_command", "webhooks_app"),
}
"""Command name → (module, attribute): a command function or a Typer app of sub-commands.

Help is click's plain layout (``rich_markup_mode=None``): at 80 columns rich's tables cut option
names and wrap help into narrow columns; the plain layout keeps names whole."""


def load_command(name: str) -> Any:
    """Import a command's module and build its (click) command as the root app would."""
    module, attribute = COMMANDS[name]
    target: Any = getattr(importlib.import_module(module), attribute)
    holder = typer.Typer(
        add_completion=False, pretty_exceptions_enable=False, rich_markup_mode=None
    )
    holder.callback()(_root)
    if isinstance(target, typer.Typer):
        holder.add_typer(target, name=name)
    else:
        holder.command(name)(target)
    group: Any = typer.main.get_command(holder)
    return group.commands[name]


class LazyGroup(TyperGroup):
    """The root group: its commands are built on first use."""

    def list_commands(self, ctx: Any) -> list[str]:
        return sorted({*super().list_commands(ctx), *COMMANDS})

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        if cmd_name not in self.commands and cmd_name in COMMANDS:
            self.commands[cmd_name] = load_command(cmd_name)
        return super().get_command(ctx, cmd_name)


def _root() -> None:
    """Copy a Stripe account into a database you own, and keep it current."""


app = typer.Typer(
    name="stripe-sync",
    help="Copy a Stripe account into a database you own, and keep it current.",
    cls=LazyGroup,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


app.callback()(_root)


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
    except typer.BadParameter as exc:  # named after its option when the parser raised it
        named = exc.param is not None or exc.param_hint is not None
        print(f"stripe-sync: {exc.format_message() if named else exc}", file=sys.stderr)
        sys.exit(exit_codes.USAGE_ERROR)
    except typer.Abort as exc:
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
