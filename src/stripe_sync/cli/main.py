"""Entry point of the `stripe-sync` command: builds the Typer app from the command modules."""

from __future__ import annotations

import sys

import typer

from stripe_sync.cli import exit_codes

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


def main() -> None:
    """Run the CLI; usage errors exit 2, unexpected exceptions exit 1 with a one-line message."""
    try:
        app(standalone_mode=False)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except (typer.BadParameter, typer.Abort) as exc:
        print(f"stripe-sync: {exc}", file=sys.stderr)
        sys.exit(exit_codes.USAGE_ERROR)
    except Exception as exc:  # click usage errors and bugs
        import click

        if isinstance(exc, click.ClickException):
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
