"""Platform pipelines: a Stripe source with ``accounts`` other than ``"self"`` fans out into one
child per connected account.

- :func:`is_platform` tells a platform pipeline's spec from an ordinary one.
- :func:`account_pipeline` is the engine pipeline a child runs: the source in single-account mode
  for its account (``{**config, "accounts": "self", "account": acct}``, so live calls, events and
  webhooks work per account), named ``<pipeline id>/<account>`` (the key of its state). Its
  ``max_requests_per_second`` is the platform's (or the key's default): the children do not split
  the budget among themselves, every request of every child waits for the one budget of the
  platform's Stripe account (``service.account_budget``).
"""

from __future__ import annotations

from typing import Any

from stripe_sync.engine.pipeline import Pipeline
from stripe_sync.sources.stripe.config import StripeSourceConfig

DEFAULT_MAX_PARALLEL_ACCOUNTS = 4
SERVICE_FIELDS = ("max_parallel_accounts",)
"""Top-level spec fields the service reads and the engine's ``Pipeline`` does not know."""


def is_platform(spec: dict[str, Any]) -> bool:
    source = spec.get("source") or {}
    accounts = (source.get("config") or {}).get("accounts", "self")
    return source.get("type") == "stripe" and accounts != "self"


def max_parallel_accounts(spec: dict[str, Any]) -> int:
    return int(spec.get("max_parallel_accounts") or DEFAULT_MAX_PARALLEL_ACCOUNTS)


def engine_spec(spec: dict[str, Any]) -> dict[str, Any]:
    """The spec without the service's own fields: what the engine's ``Pipeline`` takes."""
    return {key: value for key, value in spec.items() if key not in SERVICE_FIELDS}


def state_name(pipeline_id: str, account: str | None) -> str:
    """The key of a pipeline's (or one of its accounts') state, progress and runs."""
    return pipeline_id if account is None else f"{pipeline_id}/{account}"


def account_pipeline(pipeline_id: str, spec: dict[str, Any], account: str) -> Pipeline:
    """The engine pipeline of one connected account of a platform pipeline."""
    config = spec["source"]["config"]
    rate = StripeSourceConfig.model_validate(config).account_rps
    source = {
        **spec["source"],
        "config": {
            **config,
            "accounts": "self",
            "account": account,
            "max_requests_per_second": rate,
        },
    }
    named = {**engine_spec(spec), "source": source, "name": state_name(pipeline_id, account)}
    return Pipeline.model_validate(named)
