"""`stripe-sync status` piped: no name is cut, and the run's mode is named as it ran."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.support.stripe import fake_stripe

CLI = [sys.executable, "-m", "stripe_sync.cli.main"]
LONG_NAMES = [
    "billing_credit_balance_transactions",
    "financial_connections_transactions",
    "payment_method_configurations",
]


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "80"}
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=180, env=env)


def test_status_piped_keeps_names_whole_and_names_the_runs_mode(tmp_path):
    database = f"sqlite:///{tmp_path / 'status.db'}"
    streams = ",".join(["customers", *LONG_NAMES])
    with fake_stripe({"customers": 30}) as fake:

        def sync(*extra: str) -> None:
            done = cli(
                "sync",
                "--api-key",
                "sk_test_status",
                "--base-url",
                fake.url,
                "--to",
                database,
                "--streams",
                streams,
                "--max-rps",
                "0",
                "--no-progress",
                *extra,
            )
            assert done.returncode == 0, done.stderr

        def status() -> list[str]:
            done = cli("status", "--to", database)
            assert done.returncode == 0, done.stderr
            return done.stdout.splitlines()

        sync()
        first = status()
        assert "(backfill)" in first[0]
        for name in ["customers", *LONG_NAMES]:
            assert any(f" {name} " in line for line in first), f"{name} cut:\n" + "\n".join(first)
        assert not any("…" in line for line in first)

        sync()
        assert "(incremental)" in status()[0]
        sync("--fresh")
        assert "(backfill)" in status()[0]
