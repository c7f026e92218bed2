"""Schemathesis against the live `stripe-sync serve-engine` (its own /openapi.json): no request,
however malformed, gets a 5xx.

The server runs with an empty PATH in a scratch directory: generated pipelines may name `exec`
commands or files, and those must not find anything to run or overwrite. Schemathesis runs as its
CLI (its pytest plugin does not support this pytest yet), for a fixed time budget.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.support.engine_api import serve_engine

HOOKS = Path(__file__).parents[1] / "support" / "schemathesis_hooks.py"
BUDGET_S = 30


def test_no_request_gets_a_server_error(tmp_path):
    (tmp_path / "no-commands").mkdir()
    env = {**os.environ, "PATH": str(tmp_path / "no-commands")}
    with serve_engine("--api-token", "fuzz", cwd=tmp_path, env=env) as engine:
        url = engine.url
        done = subprocess.run(
            [
                *(sys.executable, "-m", "schemathesis.cli", "run", f"{url}/openapi.json"),
                *("--header", "Authorization: Bearer fuzz"),
                *("--checks", "not_a_server_error,ignored_auth"),
                *("--max-time", str(BUDGET_S), "--request-timeout", "30", "--seed", "1"),
            ],
            capture_output=True,
            text=True,
            timeout=BUDGET_S + 60,
            env={**os.environ, "SCHEMATHESIS_HOOKS": str(HOOKS), "NO_COLOR": "1"},
            cwd=tmp_path,
        )
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
    assert "passed" in done.stdout
