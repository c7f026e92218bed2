"""No command prints a password: URLs are shown redacted in output, logs, status and errors."""

from __future__ import annotations

import subprocess
import sys

import pytest
from tests.support.postgres import free_port
from tests.support.stripe import fake_stripe

from stripe_sync.protocol.urls import redact_url

CLI = [sys.executable, "-m", "stripe_sync.cli.main"]
PASSWORD = "pw-Xy7s3cret"


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=180)


def test_redact_url_hides_passwords_and_keeps_the_rest():
    assert redact_url(f"postgresql://app:{PASSWORD}@db:5432/x?sslmode=require") == (
        "postgresql://app:***@db:5432/x?sslmode=require"
    )
    assert redact_url(f"postgres://db/x?user=app&password={PASSWORD}") == (
        "postgres://db/x?user=app&password=***"
    )
    assert redact_url("sqlite:////tmp/stripe.db") == "sqlite:////tmp/stripe.db"
    assert redact_url("postgresql://app@db/x") == "postgresql://app@db/x"


@pytest.mark.postgres
def test_sync_status_verify_and_their_errors_never_show_the_password(postgres_db_url):
    url = postgres_db_url.replace("postgresql://postgres@", f"postgresql://postgres:{PASSWORD}@")
    missing = url.rsplit("/", 1)[0] + "/no_such_database"
    dead = f"http://stripe:{PASSWORD}@127.0.0.1:{free_port()}"
    with fake_stripe({"customers": 40, "products": 5}) as fake:
        common = ["--api-key", "sk_test_pw", "--base-url", fake.url, "--streams", "customers"]
        runs = {
            "sync": cli("sync", *common, "--to", url, "--plain", "--max-rps", "0"),
            "status": cli("status", "--to", url),
            "status --json": cli("status", "--to", url, "--json"),
            "verify": cli("verify", *common, "--to", url),
            "sync, missing database": cli("sync", *common, "--to", missing, "--no-progress"),
            "status, missing database": cli("status", "--to", missing),
            "sync, dead base URL": cli(
                "sync", "--api-key", "sk_test_pw", "--base-url", dead, "--to", url, "--plain"
            ),
        }
    assert runs["sync"].returncode == 0, runs["sync"].stderr
    assert runs["verify"].returncode == 0, runs["verify"].stderr
    assert runs["sync, missing database"].returncode != 0
    assert "no_such_database" in runs["sync, missing database"].stderr
    assert "stripe:***@127.0.0.1" in runs["sync, dead base URL"].stderr
    for what, done in runs.items():
        assert PASSWORD not in done.stdout + done.stderr, what
