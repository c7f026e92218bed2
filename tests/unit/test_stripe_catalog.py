"""The Stripe catalog derived from the OpenAPI spec: coverage, capabilities, events, file format."""

from __future__ import annotations

import gzip
import time
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest

from stripe_sync.engine.catalog_selection import select_streams
from stripe_sync.protocol.errors import ConfigError
from stripe_sync.sources.stripe.catalog import (
    EventRoute,
    FanOut,
    StripeCatalog,
    TimeFilter,
    load_catalog,
)
from stripe_sync.sources.stripe.catalog_generator import (
    DEFAULT_CATALOG_PATH,
    DEFAULT_SPEC_PATH,
    LICENCE,
    generate_catalog,
    read_spec,
)

REPO = Path(__file__).resolve().parents[2]
SPEC_PATH = DEFAULT_SPEC_PATH
V2_FRAGMENT_PATH = REPO / "tests/data/stripe_v2_fragment.json"
ALLOWED_REASONS = {"search duplicate", "alias", "preview", "no parent list"}


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    assert SPEC_PATH.exists(), f"the Stripe OpenAPI spec is expected at {SPEC_PATH}"
    return read_spec(SPEC_PATH)


@pytest.fixture(scope="module")
def catalog() -> StripeCatalog:
    return load_catalog()


def top_level_list_paths(spec: dict[str, Any]) -> list[str]:
    """Paths without parameters whose GET answers with a page of objects (``data`` + paging)."""
    paths = []
    for path, item in spec["paths"].items():
        content = item.get("get", {}).get("responses", {}).get("200", {}).get("content", {})
        properties = content.get("application/json", {}).get("schema", {}).get("properties", {})
        if "{" not in path and "data" in properties and "has_more" in properties:
            paths.append(path)
    return sorted(paths)


def test_committed_catalog_is_a_fresh_generation_and_generation_is_deterministic(spec):
    started = time.perf_counter()
    first = generate_catalog(spec).encode()
    elapsed = time.perf_counter() - started
    assert first == generate_catalog(read_spec(SPEC_PATH)).encode()
    assert first == DEFAULT_CATALOG_PATH.read_bytes(), (
        "catalog.json is stale: run `python -m stripe_sync.sources.stripe.catalog_generator`"
    )
    assert elapsed < 30


def test_catalog_file_is_compact_and_starts_with_the_version_and_licence(catalog):
    raw = DEFAULT_CATALOG_PATH.read_bytes()
    header = orjson.loads(raw.split(b"\n", 1)[0].removeprefix(b'{"header":').rstrip(b","))
    assert header["api_version"] == "2026-08-26.dahlia" == catalog.api_version
    assert header["licence"] == LICENCE
    assert "MIT" in LICENCE and "Stripe, Inc." in LICENCE
    assert len(raw) < 2_000_000


def test_loading_the_packaged_catalog_takes_under_100_ms():
    timings = []
    for _ in range(3):
        started = time.perf_counter()
        StripeCatalog.from_document(orjson.loads(DEFAULT_CATALOG_PATH.read_bytes()))
        timings.append(time.perf_counter() - started)
    assert min(timings) < 0.1


def test_every_top_level_list_endpoint_is_a_stream_or_excluded_with_a_reason(spec, catalog):
    listed = top_level_list_paths(spec)
    assert len(listed) == 102
    by_path = {stream.list_path: f"stream {name}" for name, stream in catalog.streams.items()}
    for exclusion in catalog.excluded:
        covered = (
            f" (covered by {exclusion.canonical_stream})" if exclusion.canonical_stream else ""
        )
        by_path[exclusion.path] = f"excluded: {exclusion.reason}{covered}"
    print(f"\n{'list endpoint':<45} outcome")
    for path in listed:
        print(f"{path:<45} {by_path.get(path, 'MISSING')}")
    reasons = Counter(exclusion.reason for exclusion in catalog.excluded)
    print(f"streams: {len(catalog.streams)}, excluded: {dict(reasons)}")

    assert sorted(by_path) == listed
    assert len(catalog.streams) + len(catalog.excluded) == 102
    assert set(reasons) <= ALLOWED_REASONS
    assert len(catalog.streams) >= 85


def test_exclusions_are_search_duplicates_aliases_and_the_credit_note_preview(catalog):
    reasons = {exclusion.path: exclusion.reason for exclusion in catalog.excluded}
    assert reasons["/v1/customers/search"] == "search duplicate"
    assert reasons["/v1/credit_notes/preview/lines"] == "preview"
    assert Counter(reasons.values()) == {"search duplicate": 7, "alias": 2, "preview": 1}
    assert catalog.aliases == {
        "balance_history": "balance_transactions",
        "linked_accounts": "financial_connections_accounts",
    }
    assert catalog.stream("balance_history") is catalog.streams["balance_transactions"]


def test_stream_names_follow_the_path(catalog):
    assert {
        "checkout_sessions",
        "invoiceitems",
        "test_helpers_test_clocks",
    } <= catalog.streams.keys()
    for name, stream in catalog.streams.items():
        assert name == stream.list_path.removeprefix("/v1/").replace("/", "_")
    assert list(catalog.streams) == sorted(catalog.streams)


def test_customers(catalog):
    customers = catalog.streams["customers"]
    assert customers.object == "customer"
    assert customers.supports_time_range
    assert customers.time_filter == TimeFilter("created[gte]", "created[lt]", "unix")
    assert customers.created_field == "created"
    assert (customers.cursor, customers.supports_limit) == ("starting_after", True)
    assert customers.fan_out is None and customers.default_params == {}
    assert customers.retrieve_path == "/v1/customers/{id}"
    assert customers.event_types == ("customer.created", "customer.deleted", "customer.updated")
    assert customers.deletable and customers.is_deletion("customer.deleted")
    assert not customers.is_deletion("customer.updated")
    assert customers.sub_object_events["customer.discount.deleted"] == "customer"
    assert customers.sub_object_events["customer.source.deleted"] == "customer"


def test_subscriptions_list_every_status_and_page_their_items(catalog):
    subscriptions = catalog.streams["subscriptions"]
    assert subscriptions.default_params == {"status": "all"}
    assert subscriptions.supports_time_range
    assert subscriptions.embedded_lists == {"items": "/v1/subscription_items?subscription={id}"}
    assert set(subscriptions.event_types) == {
        f"customer.subscription.{action}"
        for action in (
            "created",
            "deleted",
            "paused",
            "pending_update_applied",
            "pending_update_expired",
            "resumed",
            "trial_will_end",
            "updated",
        )
    }
    # Stripe cancels a subscription on DELETE; the object stays listed with status=all.
    assert not subscriptions.deletable
    assert not subscriptions.is_deletion("customer.subscription.deleted")


def test_invoices_page_their_lines(catalog):
    invoices = catalog.streams["invoices"]
    assert invoices.embedded_lists == {"lines": "/v1/invoices/{id}/lines"}
    assert invoices.supports_time_range and invoices.created_field == "created"
    assert "invoice.paid" in invoices.event_types
    assert invoices.is_deletion("invoice.deleted")
    lines = invoices.json_schema["properties"]["lines"]
    assert lines["properties"]["has_more"] == {"type": "boolean"}
    assert lines["properties"]["data"]["items"]["properties"]["object"]["enum"] == ["line_item"]


def test_other_embedded_lists_point_at_their_paging_paths(catalog):
    embedded = {
        name: stream.embedded_lists
        for name, stream in catalog.streams.items()
        if stream.embedded_lists
    }
    assert embedded == {
        "application_fees": {"refunds": "/v1/application_fees/{id}/refunds"},
        "credit_notes": {"lines": "/v1/credit_notes/{id}/lines"},
        "invoices": {"lines": "/v1/invoices/{id}/lines"},
        "radar_value_lists": {"list_items": "/v1/radar/value_list_items?value_list={id}"},
        "subscriptions": {"items": "/v1/subscription_items?subscription={id}"},
        "transfers": {"reversals": "/v1/transfers/{id}/reversals"},
    }


def test_subscription_items_fan_out_from_subscriptions(catalog):
    items = catalog.streams["subscription_items"]
    assert items.fan_out == FanOut("subscription", "subscriptions", "id")
    assert not items.supports_time_range
    assert items.retrieve_path == "/v1/subscription_items/{id}"
    assert items.deletable


def test_every_parent_or_scope_requiring_list_is_served(catalog):
    fan_outs = {
        name: (stream.fan_out.param, stream.fan_out.parent_stream)
        for name, stream in catalog.streams.items()
        if stream.fan_out
    }
    treasury = {
        f"treasury_{name}": ("financial_account", "treasury_financial_accounts")
        for name in (
            "credit_reversals",
            "debit_reversals",
            "inbound_transfers",
            "outbound_payments",
            "outbound_transfers",
            "received_credits",
            "received_debits",
            "transaction_entries",
            "transactions",
        )
    }
    assert fan_outs == {
        **treasury,
        "entitlements_active_entitlements": ("customer", "customers"),
        "financial_connections_transactions": ("account", "financial_connections_accounts"),
        "issuing_tokens": ("card", "issuing_cards"),
        "payment_attempt_records": ("payment_record", "payment_records"),
        "payment_methods": ("customer", "customers"),  # without it, Treasury's only
        "radar_value_list_items": ("value_list", "radar_value_lists"),
        "setup_attempts": ("setup_intent", "setup_intents"),
        "subscription_items": ("subscription", "subscriptions"),
    }
    # The 18th required parameter is a scope, not a parent: account-level secrets.
    assert catalog.streams["apps_secrets"].default_params == {"scope[type]": "account"}
    for stream in catalog.streams.values():
        if stream.fan_out:
            assert stream.fan_out.parent_stream in catalog.streams
            assert catalog.streams[stream.fan_out.parent_stream].fan_out is None


def test_events_stream(catalog):
    events = catalog.streams["events"]
    assert events.object == "event"
    assert events.supports_time_range and events.cursor == "starting_after"
    assert events.retrieve_path == "/v1/events/{id}"
    assert events.event_types == () and not events.deletable


def test_checkout_sessions_follow_checkout_session_events(catalog):
    sessions = catalog.streams["checkout_sessions"]
    assert sessions.object == "checkout.session"
    assert sessions.supports_time_range
    assert set(sessions.event_types) == {
        "checkout.session.async_payment_failed",
        "checkout.session.async_payment_succeeded",
        "checkout.session.completed",
        "checkout.session.expired",
    }
    assert catalog.routes_for_event_type("checkout.session.completed") == (
        EventRoute("checkout_sessions"),
    )


def test_created_field_comes_from_the_schema(catalog):
    assert catalog.streams["invoiceitems"].created_field == "date"
    assert catalog.streams["invoiceitems"].supports_time_range
    assert catalog.streams["billing_alerts"].created_field is None
    time_ranged = [name for name, stream in catalog.streams.items() if stream.supports_time_range]
    assert len(time_ranged) == 48  # 49 created filters; balance/history is an alias


def test_endpoints_without_paging_are_read_in_one_request(catalog):
    report_types = catalog.streams["reporting_report_types"]
    assert (report_types.cursor, report_types.supports_limit) == ("none", False)


def test_event_routes_cover_sub_objects_and_distinguish_deletions(catalog):
    assert catalog.routes_for_event_type("person.deleted") == (EventRoute("accounts", "account"),)
    assert catalog.routes_for_event_type("application_fee.refund.updated") == (
        EventRoute("application_fees", "fee"),
    )
    assert catalog.routes_for_event_type("charge.refund.updated") == (EventRoute("refunds"),)
    assert catalog.routes_for_event_type("charge.dispute.created") == (EventRoute("disputes"),)
    assert catalog.routes_for_event_type("balance.available") == ()
    # A Reserve plan is not a billing plan, although both objects are called "plan".
    assert catalog.routes_for_event_type("reserve.plan.created") == ()
    prices = catalog.streams["prices"]
    assert "price.deleted" in prices.event_types and not prices.is_deletion("price.deleted")
    assert catalog.streams["tax_ids"].is_deletion("customer.tax_id.deleted")


def test_event_types_for_streams_fit_the_events_filter(catalog):
    selected = catalog.event_types_for(["customers", "subscriptions"])
    assert "customer.subscription.updated" in selected and "customer.discount.created" in selected
    assert selected == sorted(selected)
    for name in catalog.streams:
        assert len(catalog.event_types_for([name])) <= 20  # one `types[]` request per stream


def test_schemas_keep_types_nullability_enums_and_unix_times(catalog):
    properties = catalog.streams["customers"].json_schema["properties"]
    assert properties["id"] == {"type": "string"}
    assert properties["created"] == {"type": "integer", "format": "unix-time"}
    assert properties["email"] == {"type": ["string", "null"]}
    assert properties["tax_exempt"] == {
        "type": ["string", "null"],
        "enum": ["exempt", "none", "reverse"],
    }
    assert properties["test_clock"] == {
        "type": ["string", "null"],
        "x-expandable": ["test_helpers.test_clock"],
    }
    assert properties["metadata"] == {"type": "object", "additionalProperties": {"type": "string"}}
    assert properties["address"]["properties"]["city"] == {"type": ["string", "null"]}
    assert {"id", "object", "created"} <= set(catalog.streams["customers"].json_schema["required"])


def test_protocol_streams_have_the_composite_key_and_capabilities(catalog):
    (stream,) = catalog.protocol_streams(["subscription_items"])
    assert stream["name"] == "subscription_items"
    assert stream["primary_key"] == [["id"], ["_account_id"]]
    assert stream["supports_time_range"] is False
    assert stream["json_schema"]["properties"]["_account_id"] == {"type": "string"}
    assert "_account_id" in stream["json_schema"]["required"]
    assert stream["metadata"]["fan_out"] == {
        "param": "subscription",
        "parent_stream": "subscriptions",
        "parent_field": "id",
    }
    assert stream["metadata"]["list_path"] == "/v1/subscription_items"
    assert len(catalog.protocol_streams()) == len(catalog.streams)
    orjson.dumps(catalog.protocol_streams())


def test_document_round_trip_gives_the_same_catalog(catalog):
    assert StripeCatalog.from_document(catalog.to_document()) == catalog


def test_v2_list_paths_page_by_token_and_filter_by_iso_time():
    catalog = load_catalog(V2_FRAGMENT_PATH)
    assert catalog.api_version == "2099-01-01.fragment"
    assert list(catalog.streams) == [
        "core_event_destinations",
        "core_events",
        "money_management_transactions",
    ]
    events = catalog.streams["core_events"]
    assert events.cursor == "page" and events.supports_limit
    assert events.time_filter == TimeFilter("gte", "lt", "iso")
    assert events.supports_time_range and events.created_field == "created"
    assert events.json_schema["properties"]["created"] == {"type": "string", "format": "date-time"}
    transactions = catalog.streams["money_management_transactions"]
    assert transactions.time_filter == TimeFilter("created_gte", "created_lt", "iso")
    destinations = catalog.streams["core_event_destinations"]
    assert destinations.cursor == "page" and not destinations.supports_time_range
    assert destinations.retrieve_path == "/v2/core/event_destinations/{id}"
    assert destinations.deletable


def test_a_required_parameter_no_stream_lists_is_excluded():
    spec = orjson.loads(V2_FRAGMENT_PATH.read_bytes())
    spec["paths"]["/v1/gadget_parts"] = {
        "get": {
            "parameters": [{"in": "query", "name": "gadget", "required": True, "schema": {}}],
            "responses": {
                "200": {
                    "content": {
                        "application/json": {
                            "schema": {
                                "properties": {
                                    "data": {
                                        "type": "array",
                                        "items": {"$ref": "#/components/schemas/v2.core.event"},
                                    },
                                    "has_more": {"type": "boolean"},
                                }
                            }
                        }
                    }
                }
            },
        }
    }
    catalog = generate_catalog(spec)
    assert [(e.name, e.reason) for e in catalog.excluded] == [("gadget_parts", "no parent list")]
    assert "gadget_parts" not in catalog.streams


@pytest.mark.parametrize(
    ("content", "message"),
    [(None, "cannot read"), (b"{not json", "is not JSON"), (b'{"openapi": "3"}', "not an OpenAPI")],
)
def test_an_unusable_spec_is_a_config_error(tmp_path, content, message):
    path = tmp_path / "spec.json"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(ConfigError, match=message):
        load_catalog(path)


def test_the_spec_travels_with_the_repository_and_reads_compressed_or_plain(tmp_path, spec):
    assert DEFAULT_SPEC_PATH.is_relative_to(REPO), "the spec is read from inside the repository"
    notice = (DEFAULT_SPEC_PATH.parent / "NOTICE.md").read_text()
    assert "MIT License" in notice and "Stripe, Inc." in notice
    assert DEFAULT_SPEC_PATH.stat().st_size < 1_000_000, "the committed spec stays small"
    assert spec["info"]["version"] == load_catalog().api_version
    plain = tmp_path / "spec3.json"
    plain.write_bytes(orjson.dumps(spec))
    gzipped = tmp_path / "spec3.json.gz"
    gzipped.write_bytes(gzip.compress(plain.read_bytes()))
    assert read_spec(plain) == read_spec(gzipped) == spec
    broken = tmp_path / "spec3.json.xz"
    broken.write_bytes(b"not xz")
    with pytest.raises(ConfigError, match="cannot read"):
        read_spec(broken)


def test_no_test_or_source_reads_outside_the_repository():
    outside = []
    for folder in ("src", "tests", "benchmarks"):
        for path in (REPO / folder).rglob("*.py"):
            if path != Path(__file__).resolve() and "../shared" in path.read_text():
                outside.append(str(path.relative_to(REPO)))
    assert outside == []


def test_streams_costing_a_request_per_customer_are_left_out_of_the_default_selection():
    discovered = {"streams": load_catalog().protocol_streams()}
    default = {stream["name"] for stream in select_streams(discovered, None)}
    assert "setup_attempts" not in default and "entitlements_active_entitlements" not in default
    assert {"customers", "subscription_items", "treasury_transactions"} <= default
    named = select_streams(discovered, ["customers", "setup_attempts"])
    assert [stream["name"] for stream in named] == ["customers", "setup_attempts"]
