"""Platform pipelines without Temporal: which accounts are admitted next, and what a child runs."""

from __future__ import annotations

from typing import Any

import pytest

from stripe_sync.protocol.errors import ConfigError
from stripe_sync.service.admission import Admission
from stripe_sync.service.connector_policy import ConnectorPolicy
from stripe_sync.service.pipeline_specs import apply_patch, validate_spec
from stripe_sync.service.platform import is_platform
from stripe_sync.service.store import StoredPipeline

ACCOUNTS = [f"acct_{n}" for n in range(6)]
SPEC: dict[str, Any] = {
    "name": "platform",
    "source": {
        "type": "stripe",
        "config": {"api_key": "sk_test_1", "base_url": "http://127.0.0.1:1", "accounts": "all"},
    },
    "destination": {"type": "sqlite", "config": {"url": "sqlite:////tmp/p.db"}},
    "max_parallel_accounts": 2,
}


def test_accounts_are_admitted_in_list_order_within_the_limit():
    admission = Admission()
    assert admission.add_listed(ACCOUNTS[:4]) == ACCOUNTS[:4]
    assert admission.to_admit(2) == ACCOUNTS[:2]
    for account in admission.to_admit(2):
        admission.admit(account)
    assert admission.to_admit(2) == []
    assert admission.backfilling() == ACCOUNTS[:2]


def test_a_slot_frees_when_a_first_backfill_ends_live_or_in_error():
    admission = Admission(listed=ACCOUNTS[:4], admitted=ACCOUNTS[:2])
    admission.report(ACCOUNTS[0], "backfilling")
    admission.report(ACCOUNTS[1], "paused")
    assert admission.to_admit(2) == []
    admission.report(ACCOUNTS[1], "error")  # a refused account must not block the others
    assert admission.to_admit(2) == [ACCOUNTS[2]]
    admission.admit(ACCOUNTS[2])
    admission.report(ACCOUNTS[0], "live")
    admission.report(ACCOUNTS[0], "backfilling")  # a later run holds no slot
    assert admission.to_admit(2) == [ACCOUNTS[3]]
    assert admission.finished == [ACCOUNTS[1], ACCOUNTS[0]]
    assert not admission.complete


def test_reports_of_accounts_not_admitted_are_ignored_and_listing_again_adds_only_new_ones():
    admission = Admission()
    admission.add_listed(ACCOUNTS[:2])
    admission.report(ACCOUNTS[0], "live")
    assert admission.finished == []
    assert admission.add_listed([ACCOUNTS[1], ACCOUNTS[2], ACCOUNTS[2], ACCOUNTS[0]]) == [
        ACCOUNTS[2]
    ]
    assert admission.listed == ACCOUNTS[:3]
    assert admission.to_admit(5) == ACCOUNTS[:3]


def test_complete_once_every_listed_account_finished():
    admission = Admission(listed=ACCOUNTS[:2], admitted=ACCOUNTS[:2], finished=ACCOUNTS[:2])
    assert admission.complete
    admission.add_listed([ACCOUNTS[2]])
    assert not admission.complete


def test_a_child_runs_its_account_alone_with_the_platform_s_budget():
    stored = StoredPipeline("pl_1", SPEC, "active", 1, "", "")
    child = stored.engine_pipeline(ACCOUNTS[3])
    assert child.name == "pl_1/acct_3"
    config = child.source.config
    assert (config["accounts"], config["account"]) == ("self", ACCOUNTS[3])
    # the test key's default, not split: every child waits for the account's one shared budget
    assert config["max_requests_per_second"] == 10.0
    assert config["api_key"] == "sk_test_1"
    whole = stored.engine_pipeline()
    assert whole.name == "pl_1" and whole.source.config["accounts"] == "all"

    limited = {**SPEC, "source": {"type": "stripe", "config": {**SPEC["source"]["config"]}}}
    limited["source"]["config"]["max_requests_per_second"] = 0
    unlimited = StoredPipeline("pl_1", limited, "active", 1, "", "").engine_pipeline(ACCOUNTS[0])
    assert unlimited.source.config["max_requests_per_second"] == 0


def test_platform_pipelines_are_told_apart_and_cannot_switch():
    assert is_platform(SPEC)
    single = {**SPEC, "source": {"type": "stripe", "config": {"api_key": "sk_test_1"}}}
    assert not is_platform(single)
    assert not is_platform({**SPEC, "source": {"type": "test", "config": {"accounts": "all"}}})
    listed = apply_patch(SPEC, {"source": {"config": {"accounts": ACCOUNTS[:2]}}})
    assert is_platform(listed)
    with pytest.raises(ConfigError, match="cannot switch"):
        apply_patch(SPEC, {"source": {"config": {"accounts": "self"}}})
    assert apply_patch(SPEC, {"max_parallel_accounts": 3})["max_parallel_accounts"] == 3


async def test_max_parallel_accounts_is_validated_and_kept():
    assert (await validate_spec(SPEC, ConnectorPolicy()))["max_parallel_accounts"] == 2
    with pytest.raises(ConfigError, match="max_parallel_accounts"):
        await validate_spec({**SPEC, "max_parallel_accounts": 0}, ConnectorPolicy())
