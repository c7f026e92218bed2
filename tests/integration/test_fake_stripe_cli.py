"""`stripe-sync fake-stripe`: announces its URL, serves the flags' data, stops cleanly on SIGTERM."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx

STRIPE_SYNC = str(Path(sys.executable).with_name("stripe-sync"))


def test_serves_what_the_flags_say_until_terminated():
    command = [
        STRIPE_SYNC,
        "fake-stripe",
        "--port",
        "0",
        "--seed",
        "1",
        "--now",
        "2026-01-01T00:00:00Z",
        "--objects",
        "customers=150,*=0",
        "--api-key",
        "sk_test_cli",
        "--restricted-key",
        "rk_test_cli:deny=charges",
        "--not-available",
        "topups",
    ]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        line = process.stdout.readline().strip()
        assert line.startswith("listening http://127.0.0.1:")
        url = line.removeprefix("listening ")

        def get(path: str, key: str = "sk_test_cli") -> httpx.Response:
            return httpx.get(url + path, headers={"Authorization": f"Bearer {key}"})

        page = get("/v1/customers?limit=100").json()
        assert len(page["data"]) == 100 and page["has_more"] is True
        assert page["data"][-1]["created"] >= 1767225600 - 5 * 365 * 86_400
        assert get("/v1/charges").json()["data"] == []
        assert get("/v1/customers", "sk_test_other").status_code == 401
        assert get("/v1/charges", "rk_test_cli").status_code == 403
        assert get("/v1/customers", "rk_test_cli").status_code == 200
        assert get("/v1/topups").status_code == 400
    finally:
        process.terminate()
        assert process.wait(timeout=10) == 0


def test_bad_flags_exit_2_with_one_line():
    result = subprocess.run(
        [STRIPE_SYNC, "fake-stripe", "--port", "0", "--objects", "custmers=5"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.strip().splitlines() == ["stripe-sync: unknown streams: custmers"]
