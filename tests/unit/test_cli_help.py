"""Every option of every command explains itself, and help stays readable at 80 columns."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import typer

from stripe_sync.cli.main import COMMANDS, load_command


def leaf_commands() -> Iterator[tuple[str, Any]]:
    """(``"service api"``, click command) for every command that runs, sub-commands included."""

    def walk(command: Any, path: str) -> Iterator[tuple[str, Any]]:
        if hasattr(command, "commands"):
            for name, sub in command.commands.items():
                yield from walk(sub, f"{path} {name}")
        else:
            yield path, command

    for name in COMMANDS:
        yield from walk(load_command(name), name)


def options(command: Any) -> list[Any]:
    return [param for param in command.params if param.param_type_name == "option"]


def test_the_walk_reaches_every_command_and_its_options():
    found = dict(leaf_commands())
    assert {"sync", "status", "demo", "service api", "webhooks serve", "pipeline sync"} <= set(
        found
    )
    assert len(found) >= 15
    assert {"--time-limit", "--max-concurrent-streams"} <= {
        name for option in options(found["sync"]) for name in option.opts
    }


def test_every_option_of_every_command_has_one_line_of_help():
    missing = [
        f"{path} {option.opts[0]}"
        for path, command in leaf_commands()
        for option in options(command)
        if not (option.help or "").strip() or "\n" in option.help
    ]
    assert missing == []


def test_help_at_80_columns_keeps_every_option_name_whole():
    for path, command in leaf_commands():
        context = typer.Context(command, info_name=f"stripe-sync {path}", terminal_width=80)
        text = command.get_help(context)
        assert max(len(line) for line in text.splitlines()) <= 80, path
        for option in options(command):
            for name in option.opts + option.secondary_opts:
                assert f"{name} " in text or f"{name}\n" in text, f"{path}: {name} cut"


def test_sync_help_in_a_terminal_of_80_columns():
    done = subprocess.run(
        [sys.executable, "-m", "stripe_sync.cli.main", "sync", "--help"],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "COLUMNS": "80"},
    )
    lines = done.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80
    for name in (
        "--max-concurrent-streams N",
        "--time-limit SECONDS",
        "--progress / --no-progress",
    ):
        assert any(line.lstrip().startswith(name) for line in lines), name
    assert "read at once (default: 5)" in " ".join(done.stdout.split())
