"""Connected accounts: which accounts a multi-account read covers.

``connected_accounts`` answers with the configured list as given, or every account connected to
the platform (``GET /v1/accounts``, paged). ``list_connected_accounts`` does the same from a raw
source config with a client of its own (the service's fan-out uses it).
"""

from __future__ import annotations

from typing import Any

from stripe_sync.protocol.connector import Config
from stripe_sync.sources.stripe.catalog import load_catalog
from stripe_sync.sources.stripe.client import StripeClient, make_client
from stripe_sync.sources.stripe.config import StripeSourceConfig

PAGE_SIZE = 100


async def connected_accounts(config: StripeSourceConfig, client: StripeClient) -> list[str]:
    """The configured account ids, or every connected account, without duplicates, in order."""
    if isinstance(config.accounts, list):
        return list(dict.fromkeys(config.accounts))
    ids: list[str] = []
    params: dict[str, Any] = {"limit": PAGE_SIZE}
    while True:
        body = (await client.get("/v1/accounts", params, stream="_accounts")).body
        data = body.get("data") or []
        ids.extend(str(item["id"]) for item in data)
        if not body.get("has_more") or not data:
            return list(dict.fromkeys(ids))
        params = {"limit": PAGE_SIZE, "starting_after": data[-1]["id"]}


async def list_connected_accounts(config: Config) -> list[str]:
    """The accounts a source config with ``accounts`` covers (raises ``StripeError``)."""
    parsed = StripeSourceConfig.model_validate(config)
    client = make_client(parsed, load_catalog(parsed.spec_path))
    try:
        return await connected_accounts(parsed, client)
    finally:
        await client.aclose()
        await client.budget.close()
