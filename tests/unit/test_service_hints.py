"""The service's hints name the pipeline's fields, not the CLI's options; live calls' own figures."""

from __future__ import annotations

from stripe_sync.service.call_progress import call_figures
from stripe_sync.service.hints import reason_hint, reword_view, with_service_hint
from stripe_sync.sources.stripe.errors import AuthenticationFailed, error_payload


def test_an_invalid_stripe_key_names_the_source_api_key_field():
    payload = error_payload(AuthenticationFailed("Invalid API Key provided"), None, "global")
    assert "--api-key" in payload["hint"]  # the CLI's words, from the source
    hint = with_service_hint(payload)["hint"]
    assert "--api-key" not in hint and "STRIPE_API_KEY" not in hint
    assert hint.startswith("edit the pipeline's source api_key")


def test_database_errors_get_a_hint_naming_the_destination_url():
    down = {"failure_type": "transient_error", "message": "cannot reach Postgres: refused"}
    assert "destination url" in with_service_hint(down)["hint"]
    assert "does not answer" in with_service_hint(down)["hint"]
    refused = "auth_error: Postgres refused the credentials: password authentication failed"
    assert reason_hint(refused).startswith("edit the pipeline's destination url")
    missing = {"failure_type": "config_error", "message": 'Postgres: database "x" does not exist'}
    assert "create that database" in with_service_hint(missing)["hint"]


def test_other_hints_are_kept_and_a_parked_reason_always_gets_one():
    denied = {"failure_type": "permission_error", "message": "no", "hint": "grant 'rak_x'"}
    assert with_service_hint(denied) == denied
    assert with_service_hint({"failure_type": "system_error", "message": "boom"}) == {
        "failure_type": "system_error",
        "message": "boom",
    }
    assert (
        reason_hint("config_error: something odd")
        == "fix the cause (edit the pipeline), then Resume"
    )
    assert reason_hint(None) is None


def test_a_view_s_errors_are_reworded_everywhere():
    auth = {"level": "global", "failure_type": "auth_error", "message": "m", "hint": "--api-key"}
    view = {
        "error": auth,
        "rows": [{"errors": [auth]}],
        "accounts": [{"last_error": auth, "streams": [{"errors": [auth]}]}],
    }
    shown = reword_view(view)
    hints = [
        shown["error"]["hint"],
        shown["rows"][0]["errors"][0]["hint"],
        shown["accounts"][0]["last_error"]["hint"],
        shown["accounts"][0]["streams"][0]["errors"][0]["hint"],
    ]
    assert all(hint.startswith("edit the pipeline's source api_key") for hint in hints)


def test_a_live_call_shows_its_own_counts_and_rates():
    start = {
        "elapsed_ms": 60_000,
        "record_count": 5000,
        "request_count": 50,
        "records_per_second": 83.3,
        "window_records_per_second": 0.0,
        "writes": {"inserted": 5000, "updated": 0},
        "streams": {"customers": {"status": "complete", "record_count": 5000, "request_count": 50}},
        "live": {"event_count": 2, "events_per_second": 0.1},
        "lifetime": {"record_count": 5000},
    }
    later = {
        **start,
        "elapsed_ms": 70_000,
        "record_count": 5010,
        "request_count": 55,
        "window_records_per_second": 1.0,
        "writes": {"inserted": 5000, "updated": 10},
        "streams": {"customers": {"status": "complete", "record_count": 5010, "request_count": 55}},
        "live": {"event_count": 12, "events_per_second": 0.2, "lag_seconds": 1.5},
        "lifetime": {"record_count": 5010},
    }
    shown = call_figures(later, start)
    assert shown["record_count"] == 10 and shown["request_count"] == 5
    assert shown["elapsed_ms"] == 10_000
    assert shown["records_per_second"] == 1.0 and shown["requests_per_second"] == 0.5
    assert shown["writes"] == {"inserted": 0, "updated": 10}
    assert shown["streams"]["customers"]["record_count"] == 10
    assert shown["streams"]["customers"]["status"] == "complete"
    assert shown["live"] == {"event_count": 10, "events_per_second": 1.0, "lag_seconds": 1.5}
    assert shown["window_records_per_second"] == 1.0  # already the call's
    assert shown["lifetime"] == {"record_count": 5010}  # the pipeline's, as before
    assert call_figures(start, start)["record_count"] == 0
