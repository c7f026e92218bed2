"""The Stripe source's batched read: a page's records arrive as one batch, and ``read`` yields the
same messages one at a time."""

from __future__ import annotations

from tests.support.stripe import fake_stripe

from stripe_sync.engine.registry import validate_config
from stripe_sync.sources.stripe.source import StripeSource


def shape(message: dict) -> tuple:
    """What two reads of the same data share (states depend on how the ranges were split)."""
    kind = message["type"]
    if kind == "record":
        return kind, message["record"]["stream"], message["record"]["data"]["id"]
    if kind == "stream_status":
        return kind, message["stream_status"]["stream"], message["stream_status"]["status"]
    return (kind,)


async def test_pages_arrive_as_batches_and_read_flattens_them():
    with fake_stripe({"customers": 250, "reporting_report_types": 3}) as fake:
        source = StripeSource()
        config = validate_config(
            source,
            # one stream at a time and one request in flight: the two reads see the same pages
            {"api_key": "sk_test_1", "base_url": fake.url, "max_requests_per_second": 0,
             "max_concurrent_streams": 1},
            "source",
        )  # fmt: skip
        streams = (await source.discover(config))["streams"]
        wanted = [s for s in streams if s["name"] in ("customers", "reporting_report_types")]
        catalog = {"streams": [{**s} for s in wanted]}

        batches = [batch async for batch in source.read_batches(config, catalog, {})]
        messages = [message async for message in source.read(config, catalog, {})]

    record_batches = [b for b in batches if any(m["type"] == "record" for m in b)]
    assert record_batches, "no records"
    for batch in record_batches:
        assert all(m["type"] == "record" for m in batch)
        assert len({m["record"]["stream"] for m in batch}) == 1
        assert len(batch) <= 100
    ids = [m["record"]["data"]["id"] for b in record_batches for m in b]
    assert len(ids) == len(set(ids)) == 253
    flattened = [message for batch in batches for message in batch]
    kept = ("record", "stream_status")
    assert sorted(shape(m) for m in flattened if m["type"] in kept) == sorted(
        shape(m) for m in messages if m["type"] in kept
    )
    assert any(m["type"] == "source_state" for m in messages)
