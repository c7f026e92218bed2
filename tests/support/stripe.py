"""Helpers for tests against the fake Stripe server: pipelines and the ids it seeded."""

from __future__ import annotations

from typing import Any

from stripe_sync.fake_stripe.server import FakeStripe
from stripe_sync.sources.stripe.catalog import load_catalog

NOW = 1767225600  # 2026-01-01T00:00:00Z


def fake_stripe(objects: dict[str, int], **settings: Any) -> FakeStripe:
    """A fake seeded with exactly ``objects`` (every other stream empty)."""
    return FakeStripe(seed=1, now=NOW, objects={"*": 0, **objects}, **settings)


def seeded_ids(fake: FakeStripe, stream: str) -> set[str]:
    """Every id the fake serves for ``stream`` (fan-out children of every parent included)."""
    data = fake.data
    fan_out = load_catalog().streams[stream].fan_out
    if fan_out is not None:
        children = data.children[stream]
        parents = range(len(data.streams[fan_out.parent_stream]))
        return {
            children.object_id(parent, position)
            for parent in parents
            for position in range(children.size(parent))
        }
    collection = data.streams[stream]
    return {collection.object_id(index) for index in range(len(collection))}


def stripe_pipeline(
    url: str,
    streams: list[str] | None,
    *,
    name: str = "stripe",
    destination: dict[str, Any] | None = None,
    **source: Any,
) -> dict[str, Any]:
    config = {"api_key": "sk_test_123", "base_url": url, "max_requests_per_second": 0, **source}
    pipeline: dict[str, Any] = {
        "name": name,
        "source": {"type": "stripe", "config": config},
        "destination": destination or {"type": "test", "config": {"name": name}},
    }
    if streams is not None:
        pipeline["streams"] = streams
    return pipeline
