"""The Stripe source's configuration (the keys of the CLI contract) and its defaults."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

DEFAULT_BASE_URL = "https://api.stripe.com"
TEST_KEY_RPS = 10.0
LIVE_KEY_RPS = 20.0
DEFAULT_ENDPOINT_RPS = 25.0


class StripeSourceConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    api_key: SecretStr = Field(
        description="secret or restricted key (sk_… / rk_…)", json_schema_extra={"secret": True}
    )
    base_url: str = Field(
        default=DEFAULT_BASE_URL, description="API origin; a fake server in tests"
    )
    api_version: str | None = Field(
        default=None, description="Stripe-Version; default: the catalog's"
    )
    spec_path: str | None = Field(
        default=None, description="derive the catalog from this OpenAPI spec"
    )
    account: str | None = Field(default=None, description="connected account to sync (acct_…)")
    accounts: Literal["self", "all"] | list[str] = Field(
        default="self",
        description="self: the key's account (or `account`); all: every connected account "
        "(GET /v1/accounts); or a list of connected account ids (acct_…)",
    )
    max_requests_per_second: float | None = Field(
        default=None,
        ge=0,
        description="request budget; default 20 for live keys, 10 for test keys (room for the "
        "account's own traffic under Stripe's 100/s and 25/s); 0 = learnt from Stripe's 429s",
    )
    max_requests_per_second_per_endpoint: float | None = Field(
        default=None, ge=0, description="per-endpoint cap; default 25, unlimited with a budget of 0"
    )
    max_concurrent_streams: int = Field(default=5, ge=1)
    start: int | None = Field(default=None, description="earliest created (unix) to backfill")
    poll_interval: float = Field(default=10.0, gt=0, description="seconds between event polls")
    catch_up_events: bool = Field(
        default=True,
        description="a backfill read also applies events since the saved events cursor (an "
        "incremental run's changes); off for reads that want the lists alone, such as verify",
    )
    event_refetch: Literal["auto", "always", "never"] = Field(
        default="auto",
        description="retrieve an event's object again: auto = when the event has another API "
        "version or an embedded list with more pages",
    )
    events_lag_s: int = Field(
        default=60,
        ge=0,
        description="seconds an event may take to become listable after its created time: each "
        "poll looks again at the events of this window, and every event in it is applied once",
    )
    webhook_secrets: list[SecretStr] = Field(default=[], json_schema_extra={"secret": True})
    request_timeout: float = Field(default=30.0, gt=0)
    max_retries: int = Field(default=8, ge=0)

    @field_validator("api_key")
    @classmethod
    def _key_shape(cls, value: SecretStr) -> SecretStr:
        key = value.get_secret_value()
        if not key.startswith(("sk_", "rk_")):
            raise ValueError("must be a secret (sk_…) or restricted (rk_…) key")
        return value

    @field_validator("accounts")
    @classmethod
    def _account_ids(cls, value: str | list[str]) -> str | list[str]:
        if isinstance(value, list):
            bad = [item for item in value if not item.startswith("acct_")]
            if bad or not value:
                raise ValueError(f"expected connected account ids (acct_…), got {bad or value}")
        return value

    @model_validator(mode="after")
    def _one_way_to_name_accounts(self) -> StripeSourceConfig:
        if self.account and self.accounts != "self":
            raise ValueError("give either `account` or `accounts`, not both")
        return self

    @field_validator("base_url")
    @classmethod
    def _url_scheme(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")

    @property
    def account_rps(self) -> float:
        """The account budget in requests per second (0 = unlimited)."""
        if self.max_requests_per_second is not None:
            return self.max_requests_per_second
        live = "_live_" in self.api_key.get_secret_value()
        return LIVE_KEY_RPS if live else TEST_KEY_RPS

    @property
    def endpoint_rps(self) -> float:
        """The per-endpoint cap (0 = unlimited)."""
        if self.max_requests_per_second_per_endpoint is not None:
            return self.max_requests_per_second_per_endpoint
        return 0.0 if self.account_rps == 0 else DEFAULT_ENDPOINT_RPS
