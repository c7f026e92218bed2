"""A platform pipeline's progress: its accounts' latest progress documents folded into one.

Each child of a platform pipeline saves the progress of its own calls (single-account payloads
under ``<pipeline id>/<account>``). The API, its server-sent events and the dashboard show the
platform as one multi-account run instead: stream keys ``"<account>/<stream>"`` with ``account``,
counts, writes and rates summed, the errors tagged with their account, and the ``accounts`` map
(``engine.progress.account_summaries``). A child's ``global`` error is its account's, so it is
shown at ``account`` level.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from stripe_sync.engine.progress import (
    ACCOUNT_ERRORS_KEPT,
    COUNT_FIELDS,
    ERRORS_KEPT,
    WRITE_FIELDS,
    account_summaries,
)

RATE_FIELDS = ("records_per_second", "window_records_per_second", "requests_per_second")


def combined_document(present: dict[str, dict[str, Any]]) -> dict[str, Any] | None:
    """One progress document for the accounts' latest documents (None before any reported).
    It is ``live`` once no account is still in a backfill (one parked by an error is not)."""
    if not present:
        return None
    payloads = {a: d["progress"] for a, d in present.items() if d.get("progress") is not None}
    backfilling = [
        document
        for document in present.values()
        if document.get("mode") != "live" and not document.get("error")
    ]
    names = [name for document in present.values() for name in document.get("catalog") or []]
    return {
        "mode": "backfill" if backfilling else "live",
        "catalog": list(dict.fromkeys(names)),  # the streams each account has
        "progress": combined_progress(payloads) if payloads else None,
        "end": None,
        "error": None,  # an account's error is shown on its account
    }


def combined_progress(payloads: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """One ProgressPayload of the accounts' payloads (account → its payload)."""
    streams: dict[str, dict[str, Any]] = {}
    errors: list[dict[str, Any]] = []
    account_errors: dict[str, list[dict[str, Any]]] = {}
    totals: Counter[str] = Counter()
    writes: Counter[str] = Counter()
    lifetime: Counter[str] = Counter()
    for account, payload in payloads.items():
        for name, entry in (payload.get("streams") or {}).items():
            streams[f"{account}/{name}"] = {**entry, "account": account}
        own = [_of_account(error, account) for error in payload.get("errors") or []]
        errors.extend(own)
        kept = [error for error in own if error["level"] != "transient"]
        if kept:
            account_errors[account] = kept[-ACCOUNT_ERRORS_KEPT:]
        totals.update({name: payload.get(name) or 0 for name in (*COUNT_FIELDS, *RATE_FIELDS)})
        writes.update(payload.get("writes") or {})
        lifetime.update(payload.get("lifetime") or {})
    firsts = [payload["started_at"] for payload in payloads.values() if payload.get("started_at")]
    combined: dict[str, Any] = {
        "started_at": min(firsts) if firsts else None,
        "elapsed_ms": max(payload.get("elapsed_ms") or 0 for payload in payloads.values()),
        **{name: int(totals[name]) for name in COUNT_FIELDS},
        **{name: round(float(totals[name]), 3) for name in RATE_FIELDS},
        "writes": {name: int(writes[name]) for name in WRITE_FIELDS},
        "lifetime": dict(lifetime),
        "streams": streams,
        "errors": errors[-ERRORS_KEPT:],
        "accounts": account_summaries(streams, account_errors),
    }
    budgets = [payload["budget_rps"] for payload in payloads.values() if payload.get("budget_rps")]
    if budgets:
        combined["budget_rps"] = round(sum(budgets), 3)
    return combined


def _of_account(error: dict[str, Any], account: str) -> dict[str, Any]:
    level = "account" if error.get("level") == "global" else error.get("level")
    return {**error, "level": level, "account": account}
