"""`stripe-sync verify` after a real sync: equal → exit 0; rows removed behind its back → exit 6."""

from __future__ import annotations

import sqlite3
import subprocess
import sys

from tests.support.stripe import fake_stripe

STREAMS = "customers,charges,invoices,subscription_items,reporting_report_types"


def cli(*args: str, **kwargs):
    return subprocess.run(
        [sys.executable, "-m", "stripe_sync.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=180,
        **kwargs,
    )


def test_verify_passes_after_a_sync_and_finds_rows_deleted_behind_its_back(tmp_path):
    objects = {
        "customers": 700,
        "charges": 500,
        "invoices": 150,
        "subscriptions": 60,
        "subscription_items": 120,
        "reporting_report_types": 4,
    }
    with fake_stripe(objects) as fake:
        target = f"sqlite:///{tmp_path / 'v.db'}"
        common = ["--api-key", "sk_test_verify", "--base-url", fake.url, "--to", target]
        done = cli("sync", *common, "--streams", STREAMS, "--max-rps", "0", "--no-progress")
        assert done.returncode == 0, done.stderr
        ok = cli("verify", *common)
        assert ok.returncode == 0, ok.stdout + ok.stderr
        assert "all 5 streams equal" in ok.stdout

        with sqlite3.connect(tmp_path / "v.db") as connection:
            gone = [row[0] for row in connection.execute("SELECT id FROM charges LIMIT 3")]
            connection.execute("DELETE FROM charges WHERE id IN (?, ?, ?)", gone)
            connection.execute(
                "UPDATE customers SET _raw_data = json_set(_raw_data, '$.name', 'x')"
            )
        bad = cli("verify", *common)
        assert bad.returncode == 6, bad.stdout + bad.stderr
        assert "charges: 500 in the API, 497 in the destination" in bad.stdout
        assert gone[0] in bad.stdout or "missing (3)" in bad.stdout
        assert "differing objects" in bad.stdout
        assert "customers" in bad.stdout.splitlines()[-1]


def test_verify_without_any_completed_run_is_a_usage_error(tmp_path):
    with fake_stripe({"customers": 5}) as fake:
        done = cli(
            "verify",
            "--api-key",
            "sk_test_x",
            "--base-url",
            fake.url,
            "--to",
            f"sqlite:///{tmp_path / 'empty.db'}",
        )
        assert done.returncode == 2
        assert len(done.stderr.strip().splitlines()) == 1
