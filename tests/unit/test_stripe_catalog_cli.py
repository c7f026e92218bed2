"""`stripe-sync streams`: the catalog as a table on a terminal, a `catalog` message when piped."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson
from rich.console import Console

from stripe_sync.cli.streams import render_catalog
from stripe_sync.sources.stripe.catalog import load_catalog

REPO = Path(__file__).resolve().parents[2]
V2_FRAGMENT_PATH = REPO / "tests/data/stripe_v2_fragment.json"


def run_streams(*args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "stripe_sync.cli.main", "streams", *args],
        capture_output=True,
        timeout=60,
        check=False,
    )


def test_piped_output_is_one_catalog_message_with_every_stream():
    result = run_streams()
    assert result.returncode == 0, result.stderr
    (line,) = result.stdout.splitlines()
    message = orjson.loads(line)
    assert message["type"] == "catalog"
    streams = {stream["name"]: stream for stream in message["catalog"]["streams"]}
    assert len(streams) == len(load_catalog().streams)
    assert streams["subscriptions"]["metadata"]["default_params"] == {"status": "all"}


def test_spec_option_uses_another_spec():
    result = run_streams("--spec", str(V2_FRAGMENT_PATH))
    assert result.returncode == 0, result.stderr
    names = [stream["name"] for stream in orjson.loads(result.stdout)["catalog"]["streams"]]
    assert names == ["core_event_destinations", "core_events", "money_management_transactions"]


def test_missing_spec_is_a_usage_error_with_one_line(tmp_path):
    result = run_streams("--spec", str(tmp_path / "missing.json"))
    assert result.returncode == 2
    assert result.stdout == b""
    assert result.stderr.decode().strip().count("\n") == 0
    assert "cannot read the OpenAPI spec" in result.stderr.decode()


def test_table_shows_time_range_parent_and_event_patterns():
    console = Console(record=True, width=200)
    console.print(render_catalog(load_catalog()))
    rows = {
        line.split("│")[1].strip(): line
        for line in console.export_text().splitlines()
        if "│" in line
    }
    assert "subscriptions (subscription=)" in rows["subscription_items"]
    assert "customer.subscription.*" in rows["subscriptions"]
    assert "yes" in rows["customers"] and "↻ customer.discount.*" in rows["customers"]
    assert "-" in rows["reporting_report_types"].split("│")[2]
    assert "balance_transactions" in rows["/v1/balance/history"]


def test_table_shows_what_a_per_parent_stream_costs_and_whether_it_is_synced_by_default():
    console = Console(record=True, width=260)
    console.print(render_catalog(load_catalog()))
    rows = {
        line.split("│")[1].strip(): line
        for line in console.export_text().splitlines()
        if "│" in line
    }
    assert "1 request per customer; not by default" in rows["entitlements_active_entitlements"]
    assert "1 request per setup_intent; not by default" in rows["setup_attempts"]
    assert "not by default" not in rows["treasury_transactions"]
    assert "request" not in rows["subscription_items"].split("│")[-2]  # items come embedded
    assert "request" not in rows["customers"].split("│")[-2]
