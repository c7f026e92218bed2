"""The CLI builds a command only when it is used: `sync` does not load servers or the fake."""

from __future__ import annotations

import os
import subprocess
import sys

from stripe_sync.cli.main import COMMANDS, load_command

HEAVY = ("fastapi", "uvicorn", "temporalio", "stripe_sync.fake_stripe", "stripe_sync.service")


def test_every_command_loads_under_its_name():
    for name in COMMANDS:
        assert load_command(name).name == name


def test_running_sync_imports_no_server_fake_or_service():
    probe = (
        "import sys\n"
        "from stripe_sync.cli.main import LazyGroup, app, load_command\n"
        "load_command('sync')\n"
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_help_lists_every_command():
    done = subprocess.run(
        [sys.executable, "-m", "stripe_sync.cli.main", "--help"],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "COLUMNS": "200"},
    )
    for name in COMMANDS:
        assert f" {name} " in done.stdout
