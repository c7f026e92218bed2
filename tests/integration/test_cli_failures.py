"""What a user sees when a sync fails: the cause named once on stderr, with what to do about it,
and an exit code that tells a configuration mistake from a run to continue."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from tests.support.postgres import free_port
from tests.support.stripe import fake_stripe

from stripe_sync.cli.outcome import exit_code_for_end, failure_lines

CLI = [sys.executable, "-m", "stripe_sync.cli.main"]


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=180, env=env)


@pytest.mark.parametrize(
    "base_url", [f"http://127.0.0.1:{free_port()}", "http://stripe-api.invalid:8080"]
)
def test_a_dead_base_url_fails_at_once_and_names_the_url(tmp_path: Path, base_url: str):
    started = time.monotonic()
    done = cli(
        "sync",
        "--api-key",
        "sk_test_dead",
        "--base-url",
        base_url,
        "--to",
        f"sqlite:///{tmp_path / 'dead.db'}",
        "--no-progress",
    )
    elapsed = time.monotonic() - started
    assert done.returncode == 5, done.stderr
    assert elapsed <= 10, f"took {elapsed:.1f} s"
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith(f"stripe-sync: error: cannot connect to {base_url}"), done.stderr
    assert "--base-url" in last
    assert "retrying" not in done.stderr


@pytest.fixture(scope="module")
def fake():
    """An account whose restricted key may not read charges, and one accepted secret key."""
    with fake_stripe(
        {"customers": 40, "charges": 30, "products": 10},
        api_keys=["sk_test_right"],
        restricted_keys={"rk_test_nocharges": frozenset({"charges"})},
    ) as server:
        yield server


def sync_args(fake, database: Path, *extra: str) -> list[str]:
    return [
        "sync",
        "--base-url",
        fake.url,
        "--to",
        f"sqlite:///{database}",
        "--streams",
        "customers,charges,products",
        "--max-rps",
        "0",
        *extra,
    ]


@pytest.mark.parametrize("mode", ["--no-progress", "--plain"])
def test_a_stream_the_key_may_not_read_is_named_on_stderr_in_every_mode(fake, tmp_path, mode):
    done = cli(*sync_args(fake, tmp_path / "rk.db", "--api-key", "rk_test_nocharges", mode))
    assert done.returncode == 5, done.stderr
    contract = [line for line in done.stderr.splitlines() if line.startswith("stripe-sync:")]
    assert contract == [
        "stripe-sync: stream charges failed: permission_error: "
        + contract[0].split("permission_error: ", 1)[1]
    ]
    assert contract[0].endswith("(hint: grant the restricted key the 'rak_charge_read' permission)")
    if mode == "--no-progress":
        assert done.stderr.splitlines() == contract
    else:
        summary = [line for line in done.stderr.splitlines() if " records in " in line]
        assert summary and summary[-1].startswith("finished with errors: 50 records in ")
        assert "streams: 2 complete, 1 failed" in done.stderr
    assert "more to do" not in done.stderr


@pytest.mark.parametrize("source", ["flag", "environment"])
def test_a_refused_key_is_a_configuration_error_naming_where_the_key_came_from(
    fake, tmp_path, source
):
    args = sync_args(fake, tmp_path / "bad-key.db", "--plain")
    env = {**os.environ}
    env.pop("STRIPE_API_KEY", None)
    if source == "flag":
        args += ["--api-key", "sk_test_wrong"]
        named = "--api-key"
    else:
        env["STRIPE_API_KEY"] = "sk_test_wrong"
        named = "the environment variable STRIPE_API_KEY"
    done = cli(*args, env=env)
    assert done.returncode == 2, done.stderr
    assert "run the same command again" not in done.stderr
    assert "more to do" not in done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("stripe-sync: error: Stripe refused the API key"), done.stderr
    assert last.endswith(f"(Stripe refused the key given by {named}; check or replace it)")
    assert "sk_test_wrong" not in done.stderr


def test_refused_database_credentials_are_a_configuration_error_with_their_own_hint():
    refused = {
        "level": "global",
        "failure_type": "auth_error",
        "message": "the database refused the credentials",
        "hint": "check the user and password in --to",
    }
    end = {"reason": "error", "has_more": True, "run_progress": {"errors": [refused]}}
    assert exit_code_for_end(end) == 2
    assert failure_lines(end, "--api-key") == [
        "stripe-sync: error: the database refused the credentials "
        "(check the user and password in --to)"
    ]
