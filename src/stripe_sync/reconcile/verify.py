"""`verify`: compare what a destination holds with what the API lists, stream by stream.

The API side is read with the Stripe source itself (same paging, same completed embedded lists),
bounded by the last run's ``started_at`` for time-range streams so objects created since then do
not count as missing; the destination side reads live (not deleted) rows of the same account in
the same window. Per stream the report has counts, counts per ``created`` month where they differ,
missing and extra ids, and a sampled comparison of whole objects.

With connected accounts (``accounts`` in the source config, or streams named by their
``"<account>/<stream>"`` keys) each account-stream is compared on its own, against the rows of
that account; an account the API refuses is reported as not verified. The printed report then
groups the account-streams under their account and counts equal and different accounts.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from stripe_sync.destinations.config import DestinationConfig
from stripe_sync.protocol.ranges import format_time
from stripe_sync.reconcile.destination_rows import DestinationReader
from stripe_sync.sources.stripe.catalog import StripeCatalog, load_catalog
from stripe_sync.sources.stripe.config import StripeSourceConfig
from stripe_sync.sources.stripe.source import StripeSource

SAMPLE_SIZE = 20
IDS_SHOWN = 5
MONTHS_SHOWN = 12


def month_of(created: int | None) -> str:
    if created is None:
        return "all"
    return datetime.fromtimestamp(created, UTC).strftime("%Y-%m")


@dataclass
class StreamReport:
    stream: str
    api_count: int = 0
    destination_count: int = 0
    missing: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)
    months: dict[str, tuple[int, int]] = field(default_factory=dict)
    sampled: int = 0
    differing: list[str] = field(default_factory=list)
    error: str | None = None

    @property
    def equal(self) -> bool:
        return not (self.missing or self.extra or self.differing or self.error)

    @property
    def account(self) -> str | None:
        """The connected account of an ``"<account>/<stream>"`` report (``"<account>/*"`` when the
        API refused the whole account)."""
        return self.stream.rpartition("/")[0] or None

    def lines(self) -> list[str]:
        if self.error:
            return [f"{self.stream}: not verified: {self.error}"]
        head = (
            f"{self.stream}: {self.api_count:,} in the API, {self.destination_count:,} in the "
            f"destination, {self.sampled} sampled"
        )
        if self.equal:
            return [head + ": equal"]
        lines = [head + ": DIFFERENT"]
        months = sorted(self.months.items())
        for month, (api, stored) in months[-MONTHS_SHOWN:]:
            lines.append(f"  {month}: {api:,} in the API, {stored:,} in the destination")
        if len(months) > MONTHS_SHOWN:
            lines.append(f"  … and {len(months) - MONTHS_SHOWN} earlier months that differ")
        if self.missing:
            lines.append(
                f"  missing ({len(self.missing):,}): {', '.join(self.missing[:IDS_SHOWN])}"
            )
        if self.extra:
            lines.append(f"  extra ({len(self.extra):,}): {', '.join(self.extra[:IDS_SHOWN])}")
        if self.differing:
            lines.append(
                f"  differing objects ({len(self.differing)}): {', '.join(self.differing[:IDS_SHOWN])}"
            )
        return lines


@dataclass
class AccountReport:
    """The reports of one connected account's streams."""

    account: str
    streams: list[StreamReport]

    @property
    def equal(self) -> bool:
        return all(report.equal for report in self.streams)

    def lines(self) -> list[str]:
        different = sum(not report.equal for report in self.streams)
        counted = f"{different} of {len(self.streams)}" if different else f"{len(self.streams)}"
        head = f"{self.account}: {counted} streams {'DIFFERENT' if different else 'equal'}"
        return [head, *("  " + line for report in self.streams for line in report.lines())]

    def difference(self) -> str:
        """One line naming what differs: ``acct_1: customers different, charges not verified``."""
        parts = []
        for report in self.streams:
            if not report.equal:
                name = report.stream.rpartition("/")[2].replace("*", "account")
                parts.append(f"{name} {'not verified' if report.error else 'different'}")
        return f"{self.account}: {', '.join(parts)}"


def by_account(reports: list[StreamReport]) -> list[AccountReport]:
    """The reports grouped by connected account, in order of first appearance; empty when the
    reports are not per account."""
    grouped: dict[str, list[StreamReport]] = {}
    for report in reports:
        if report.account is not None:
            grouped.setdefault(report.account, []).append(report)
    return [AccountReport(account, streams) for account, streams in grouped.items()]


def report_lines(reports: list[StreamReport]) -> list[str]:
    """The printed report: each stream's lines (grouped under their account with connected
    accounts, then a line per different account and the account counts), and last
    ``all N streams equal`` or ``differences in …``."""
    accounts = by_account(reports)
    lines = [line for report in reports if report.account is None for line in report.lines()]
    lines += [line for account in accounts for line in account.lines()]
    if accounts:
        different = [account for account in accounts if not account.equal]
        lines += [account.difference() for account in different]
        named = ", ".join(account.account for account in different[:IDS_SHOWN])
        if len(different) > IDS_SHOWN:
            named += ", …"
        total = f"accounts: {len(accounts) - len(different)} equal, {len(different)} different"
        lines.append(total + (f" ({named})" if different else ""))
    different_streams = [report.stream for report in reports if not report.equal]
    if different_streams:
        lines.append(
            f"differences in {len(different_streams)} of {len(reports)} streams: "
            f"{', '.join(different_streams)}"
        )
    else:
        lines.append(f"all {len(reports)} streams equal")
    return lines


@dataclass
class _ApiSide:
    stream: str
    account: str | None = None
    created: dict[str, int | None] = field(default_factory=dict)
    sample: dict[str, dict[str, Any]] = field(default_factory=dict)
    seen: int = 0
    account_id: str = ""
    failure: str | None = None


async def _read_api(
    source_config: dict[str, Any],
    catalog: StripeCatalog,
    streams: list[str],
    lt: int,
    rng: random.Random,
) -> dict[str, _ApiSide]:
    """Every object of ``streams`` created before ``lt``, with a reservoir sample of whole objects."""
    configured = []
    for name in streams:
        entry = catalog.stream(name).to_protocol_stream()
        if entry["supports_time_range"]:
            entry["time_range"] = {"lt": format_time(lt)}
        configured.append(entry)
    per_account = source_config.get("accounts", "self") != "self"
    sides = {} if per_account else {name: _ApiSide(name) for name in streams}

    def side_of(payload: dict[str, Any]) -> _ApiSide:
        account = payload.get("account")
        key = f"{account}/{payload['stream']}" if account else payload["stream"]
        if key not in sides:
            sides[key] = _ApiSide(payload["stream"], account, account_id=account or "")
        return sides[key]

    source = StripeSource()
    # the lists alone: no events applied on top of them
    config = {**source_config, "catch_up_events": False}
    async for message in source.read(config, {"streams": configured}, {}):
        kind = message["type"]
        if kind == "record":
            record = message["record"]
            side = side_of(record)
            data = record["data"]
            side.account_id = data.pop("_account_id", side.account_id)
            definition = catalog.stream(record["stream"])
            created = data.get(definition.created_field) if definition.created_field else None
            side.created[str(data["id"])] = int(created) if isinstance(created, int) else None
            side.seen += 1
            if len(side.sample) < SAMPLE_SIZE:
                side.sample[str(data["id"])] = data
            elif (slot := rng.randrange(side.seen)) < SAMPLE_SIZE:
                del side.sample[list(side.sample)[slot]]
                side.sample[str(data["id"])] = data
        elif kind == "stream_status" and message["stream_status"]["status"] in (
            "failed",
            "skipped",
        ):
            status = message["stream_status"]
            side_of(status).failure = f"{status['status']}: {status.get('reason')}"
        elif kind == "stream_status" and message["stream_status"]["status"] == "started":
            side_of(message["stream_status"])
        elif kind == "error" and message["error"]["level"] == "global":
            raise VerifyError(message["error"]["message"])
        elif kind == "error" and message["error"]["level"] == "account":
            error = message["error"]
            refused = _ApiSide("*", error.get("account"), failure=f"account: {error['message']}")
            sides[f"{error.get('account')}/*"] = refused
    return sides


class VerifyError(Exception):
    """The API could not be read at all (e.g. a refused key)."""


def _compare(
    name: str,
    api: _ApiSide,
    stored: dict[str, int | None],
    stored_raw: dict[str, Any],
) -> StreamReport:
    report = StreamReport(name, api_count=len(api.created), destination_count=len(stored))
    report.missing = sorted(set(api.created) - set(stored))
    report.extra = sorted(set(stored) - set(api.created))
    api_months = Counter(month_of(created) for created in api.created.values())
    stored_months = Counter(month_of(created) for created in stored.values())
    for month in set(api_months) | set(stored_months):
        if api_months[month] != stored_months[month]:
            report.months[month] = (api_months[month], stored_months[month])
    sampled = [object_id for object_id in api.sample if object_id in stored_raw]
    report.sampled = len(sampled)
    report.differing = [i for i in sampled if stored_raw[i] != api.sample[i]]
    return report


async def verify(
    source_config: dict[str, Any],
    destination_config: dict[str, Any],
    streams: Iterable[str],
    *,
    lt: int,
    seed: int = 0,
) -> list[StreamReport]:
    """Compare ``streams`` in the destination with the API for objects created before ``lt``."""
    keys = list(streams)
    accounts = sorted({key.rpartition("/")[0] for key in keys} - {""})
    if accounts:  # "<account>/<stream>" keys: read just those accounts
        source_config = {**source_config, "accounts": accounts, "account": None}
    parsed = StripeSourceConfig.model_validate(source_config)
    catalog = load_catalog(parsed.spec_path)
    names = list(dict.fromkeys(catalog.stream(key.rpartition("/")[2]).name for key in keys))
    sides = await _read_api(source_config, catalog, names, lt, random.Random(seed))
    if accounts:
        wanted = set(keys)
        sides = {k: v for k, v in sides.items() if k in wanted or k.endswith("/*")}
    reader = DestinationReader(DestinationConfig.model_validate(destination_config))
    own = next((side.account_id for side in sides.values() if side.account_id), None)
    reports = []
    for key, api in sides.items():
        name = api.stream
        account = api.account or own
        if api.failure is not None:
            reports.append(StreamReport(key, error=api.failure))
            continue
        definition = catalog.stream(name)
        window = lt if definition.supports_time_range else None
        rows = await reader.rows(name, account, definition.created_field, window)
        if not rows.table_exists:
            reports.append(
                StreamReport(key, api_count=len(api.created), error="no table in the destination")
            )
            continue
        raw = await reader.raw_objects(name, account, list(api.sample))
        reports.append(_compare(key, api, rows.created, raw))
    return reports
