"""Progress accounting for one sync call: run, request and lifetime counts, rates, coverage, ETA.

The tracker is fed every message the engine sees (records on the hot path only bump integers) and
renders ``ProgressPayload`` dicts for the run (all calls of the run) or for this request (call).
A snapshot rebuilds only the stream entries (and account summaries) that changed since the last
snapshot of its scope, plus the running streams (their ETA moves with time): a run of hundreds of
connected accounts has thousands of keys, and the engine takes a snapshot for every confirmed state.
With connected accounts the snapshot also groups the account-streams by account (``accounts``).
"""

from __future__ import annotations

import copy
import time
from collections import Counter, deque
from collections.abc import Callable
from typing import Any

from stripe_sync.protocol.ranges import coverage, merge_ranges

WINDOW_S = 10.0
ETA_MIN_OBSERVED_S = 2.0
ERRORS_KEPT = 20
ACCOUNT_ERRORS_KEPT = 5
COUNT_FIELDS = ("record_count", "state_count", "request_count", "retry_count", "rate_limited_count")
WRITE_FIELDS = ("inserted", "updated", "unchanged", "deleted")


def _rate(count: float, seconds: float) -> float:
    return round(count / seconds, 3) if seconds > 0 else 0.0


class Totals:
    """Counters of one scope (run or request)."""

    def __init__(self, base: dict[str, Any] | None = None) -> None:
        base = base or {}
        self.counts = {name: int(base.get(name, 0)) for name in COUNT_FIELDS}
        self.writes = {name: int((base.get("writes") or {}).get(name, 0)) for name in WRITE_FIELDS}
        self.event_count = int((base.get("live") or {}).get("event_count", 0))
        self.elapsed_ms = int(base.get("elapsed_ms", 0))
        self.streams: dict[str, dict[str, int]] = {
            key: {name: int(entry.get(name, 0)) for name in COUNT_FIELDS[:3]}
            for key, entry in (base.get("streams") or {}).items()
        }

    def stream(self, key: str) -> dict[str, int]:
        entry = self.streams.get(key)
        if entry is None:
            entry = self.streams[key] = {name: 0 for name in COUNT_FIELDS[:3]}
        return entry


class ProgressTracker:
    """Accumulates progress for one ``sync`` call and renders ProgressPayload dicts."""

    def __init__(
        self,
        *,
        run_started_at: str,
        request_started_at: str,
        stream_keys: list[str],
        run_base: dict[str, Any] | None,
        lifetime_base: dict[str, Any] | None,
        stream_history: dict[str, dict[str, Any]],
        terminal: dict[str, str],
        labels: dict[str, str] | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.labels = labels or {}
        self.monotonic = monotonic
        self.started = monotonic()
        self.run_started_at = run_started_at
        self.request_started_at = request_started_at
        self.run = Totals(run_base)
        self.request = Totals()
        self.lifetime_base = {
            k: int((lifetime_base or {}).get(k, 0))
            for k in ("record_count", "request_count", "elapsed_ms")
        }
        base_streams = (run_base or {}).get("streams") or {}
        self.status: dict[str, dict[str, Any]] = {}
        for key in stream_keys:
            previous = base_streams.get(key) or {}
            entry: dict[str, Any] = {"status": terminal.get(key, "pending")}
            for name in ("reason", "account", "total_range"):
                if previous.get(name) is not None:
                    entry[name] = previous[name]
            entry["completed_ranges"] = list(
                (stream_history.get(key) or {}).get("completed_ranges") or []
            )
            entry["errors"] = list(previous.get("errors") or [])
            self.status[key] = entry
        self.errors: deque[dict[str, Any]] = deque(maxlen=ERRORS_KEPT)
        self.account_errors: dict[str, list[dict[str, Any]]] = {
            account: list(entry.get("errors") or [])
            for account, entry in ((run_base or {}).get("accounts") or {}).items()
        }
        self.error_counts: Counter[tuple[str, str, str]] = Counter()
        self.budget_rps: float | None = None
        self.live: dict[str, Any] | None = None
        self.samples: deque[tuple[float, int]] = deque()
        self.coverage_start: dict[str, tuple[float, float]] = {}
        self.account_keys: dict[str, list[str]] = {}
        for key, entry in self.status.items():
            if entry.get("account"):
                self.account_keys.setdefault(entry["account"], []).append(key)
        self.entries: dict[str, dict[str, dict[str, Any]]] = {"run": {}, "request": {}}
        self.summaries: dict[str, dict[str, dict[str, Any]]] = {"run": {}, "request": {}}
        self.changed: dict[str, set[str]] = {"run": set(), "request": set()}
        """Per scope, the keys whose entry changed since that scope's last snapshot."""
        self.changed_accounts: dict[str, set[str]] = {
            scope: set(self.account_errors) for scope in ("run", "request")
        }

    def _touch(self, key: str) -> None:
        self.changed["run"].add(key)
        self.changed["request"].add(key)

    # -- feeding -------------------------------------------------------------------------------

    def record(self, key: str) -> None:
        self.records(key, 1)

    def records(self, key: str, count: int) -> None:
        """``count`` records of one stream (the engine counts a page at a time)."""
        self.run.counts["record_count"] += count
        self.request.counts["record_count"] += count
        self.run.stream(key)["record_count"] += count
        self.request.stream(key)["record_count"] += count
        self._touch(key)

    def state(self, key: str | None) -> None:
        for totals in (self.run, self.request):
            totals.counts["state_count"] += 1
            if key is not None:
                totals.stream(key)["state_count"] += 1
        if key is not None:
            self._touch(key)

    def source_stats(self, stats: dict[str, Any], key: str | None) -> None:
        for totals in (self.run, self.request):
            totals.counts["request_count"] += int(stats.get("request_count") or 0)
            totals.counts["retry_count"] += int(stats.get("retry_count") or 0)
            totals.counts["rate_limited_count"] += int(stats.get("rate_limited_count") or 0)
            totals.event_count += int(stats.get("event_count") or 0)
            if key is not None and key in self.status:
                totals.stream(key)["request_count"] += int(stats.get("request_count") or 0)
        if key is not None and key in self.status:
            self._touch(key)
        if stats.get("budget_rps") is not None:
            self.budget_rps = float(stats["budget_rps"])
        if stats.get("live_lag_s") is not None or stats.get("last_event_at") is not None:
            self.live = self.live or {}
            if stats.get("live_lag_s") is not None:
                self.live["lag_seconds"] = float(stats["live_lag_s"])
            if stats.get("last_event_at") is not None:
                self.live["cursor"] = stats["last_event_at"]
        if stats.get("webhooks_rejected"):
            self.live = self.live or {}
            rejected = int(stats["webhooks_rejected"]) + self.live.get("webhooks_rejected", 0)
            self.live["webhooks_rejected"] = rejected

    def write_stats(self, stats: dict[str, Any]) -> None:
        for totals in (self.run, self.request):
            for name in WRITE_FIELDS:
                totals.writes[name] += int(stats.get(name) or 0)

    def stream_status(self, key: str, payload: dict[str, Any]) -> None:
        entry = self.status.setdefault(
            key, {"status": "pending", "completed_ranges": [], "errors": []}
        )
        status = payload["status"]
        self._touch(key)
        if payload.get("account") and entry.get("account") != payload["account"]:
            entry["account"] = payload["account"]
            self.account_keys.setdefault(payload["account"], []).append(key)
        if status == "started":
            entry["status"] = "started"
            entry.pop("reason", None)
            if payload.get("total_range"):
                entry["total_range"] = payload["total_range"]
        elif status == "range_complete":
            entry["completed_ranges"] = merge_ranges([*entry["completed_ranges"], payload["range"]])
        elif status == "reset":
            entry["completed_ranges"] = []
            entry["status"] = "pending"  # until its re-backfill starts
            if payload.get("reason"):
                entry["reason"] = payload["reason"]
        else:
            self.terminal(key, status, payload.get("reason"))

    def terminal(self, key: str, status: str, reason: str | None = None) -> None:
        entry = self.status.setdefault(key, {"completed_ranges": [], "errors": []})
        entry["status"] = status
        if reason:
            entry["reason"] = reason
        self._touch(key)

    def error(self, payload: dict[str, Any], key: str | None) -> None:
        self.errors.append(payload)
        self.error_counts[(payload["level"], payload["failure_type"], key or "")] += 1
        if key is not None and key in self.status:
            errors = self.status[key]["errors"]
            errors.append(payload)
            del errors[:-ERRORS_KEPT]
            self._touch(key)
        if payload.get("account") and payload["level"] in ("account", "stream"):
            errors = self.account_errors.setdefault(payload["account"], [])
            errors.append(payload)
            del errors[:-ACCOUNT_ERRORS_KEPT]
            for changed in self.changed_accounts.values():
                changed.add(payload["account"])

    def completed_ranges(self, key: str) -> list[dict[str, Any]]:
        return list(self.status.get(key, {}).get("completed_ranges") or [])

    # -- rendering -----------------------------------------------------------------------------

    def elapsed_s(self) -> float:
        return self.monotonic() - self.started

    def _window_rate(self, now: float) -> float:
        count = self.request.counts["record_count"]
        self.samples.append((now, count))
        while len(self.samples) > 1 and now - self.samples[1][0] >= WINDOW_S:
            self.samples.popleft()
        first_t, first_count = self.samples[0]
        span = now - first_t
        if span <= 0:
            return _rate(count, now - self.started)
        return _rate(count - first_count, span)

    def _stream_entry(self, key: str, totals: Totals, now: float) -> dict[str, Any]:
        entry = copy.copy(self.status[key])
        entry.update(totals.stream(key))
        entry["completed_ranges"] = list(entry["completed_ranges"])
        entry["errors"] = list(entry["errors"])
        total = entry.get("total_range")
        if entry["status"] == "complete":
            entry["coverage"] = 1.0
        elif total:
            entry["coverage"] = round(coverage(entry["completed_ranges"], total), 6)
            eta = self._eta(key, entry["coverage"], now)
            if eta is not None:
                entry["eta_seconds"] = eta
        return entry

    def _eta(self, key: str, fraction: float, now: float) -> float | None:
        first = self.coverage_start.setdefault(key, (now, fraction))
        seconds = now - first[0]
        gained = fraction - first[1]
        if seconds < ETA_MIN_OBSERVED_S or gained <= 0:
            return None
        return round((1.0 - fraction) * seconds / gained, 1)

    def _stream_entries(self, scope: str, totals: Totals, now: float) -> dict[str, Any]:
        """Every stream's entry; rebuilt when it changed since this scope's last snapshot or is
        running, else the one built before (entries are never changed once handed out)."""
        entries = self.entries[scope]
        changed = self.changed[scope]
        for key, status in self.status.items():
            if key in changed or key not in entries or status["status"] == "started":
                entries[key] = self._stream_entry(key, totals, now)
                if status.get("account"):
                    self.changed_accounts[scope].add(status["account"])
        changed.clear()
        return dict(entries)

    def _account_summaries(
        self, scope: str, streams: dict[str, dict[str, Any]]
    ) -> dict[str, dict[str, Any]]:
        """The ``accounts`` map, rebuilt for the accounts whose streams or errors changed."""
        summaries = self.summaries[scope]
        changed = self.changed_accounts[scope]
        if changed:
            own = {key: streams[key] for a in changed for key in self.account_keys.get(a, [])}
            errors = {a: self.account_errors[a] for a in changed if a in self.account_errors}
            summaries.update(account_summaries(own, errors))
            changed.clear()
        order = dict.fromkeys([*self.account_keys, *summaries])  # as the accounts appeared
        return {account: summaries[account] for account in order if account in summaries}

    def snapshot(self, scope: str = "run") -> dict[str, Any]:
        """A complete ProgressPayload of the run (``"run"``) or of this call (``"request"``)."""
        now = self.monotonic()
        call_elapsed_ms = int((now - self.started) * 1000)
        totals = self.run if scope == "run" else self.request
        elapsed_ms = totals.elapsed_ms + call_elapsed_ms
        seconds = elapsed_ms / 1000
        streams = self._stream_entries(scope, totals, now)
        payload: dict[str, Any] = {
            **self.labels,
            "started_at": self.run_started_at if scope == "run" else self.request_started_at,
            "elapsed_ms": elapsed_ms,
            **totals.counts,
            "records_per_second": _rate(totals.counts["record_count"], seconds),
            "window_records_per_second": self._window_rate(now),
            "requests_per_second": _rate(totals.counts["request_count"], seconds),
            "budget_rps": self.budget_rps,
            "writes": dict(totals.writes),
            "lifetime": {
                "record_count": self.lifetime_base["record_count"]
                + self.request.counts["record_count"],
                "request_count": self.lifetime_base["request_count"]
                + self.request.counts["request_count"],
                "elapsed_ms": self.lifetime_base["elapsed_ms"] + call_elapsed_ms,
            },
            "streams": streams,
            "errors": list(self.errors),
            "error_counts": [
                {"level": level, "failure_type": kind, "stream": stream or None, "count": count}
                for (level, kind, stream), count in sorted(self.error_counts.items())
            ],
        }
        if self.live is not None or totals.event_count:
            payload["live"] = {
                **(self.live or {}),
                "events_per_second": _rate(totals.event_count, seconds),
                "event_count": totals.event_count,
            }
        accounts = self._account_summaries(scope, streams)
        if accounts:
            payload["accounts"] = accounts
        etas = [s["eta_seconds"] for s in streams.values() if "eta_seconds" in s]
        if etas:
            payload["eta_seconds"] = max(etas)
        if payload["budget_rps"] is None:
            del payload["budget_rps"]
        return payload


def account_status(statuses: Counter[str], refused: bool) -> str:
    """One account's status from its streams' statuses and whether it had an account-level error.

    ``failed``: an account-level error, or every stream terminal with at least one failed.
    ``started``: a stream is running, or some are terminal while others still wait.
    ``complete``: every stream terminal, none failed (skipped counts as done).
    ``pending``: nothing started yet (or no stream of the account is known yet).
    """
    waiting = statuses["started"] + statuses["pending"]
    if refused or (statuses["failed"] and not waiting):
        return "failed"
    if statuses["started"] or (statuses["pending"] and waiting < statuses.total()):
        return "started"
    if statuses["pending"] or not statuses:
        return "pending"
    return "complete"


def account_summaries(
    streams: dict[str, dict[str, Any]], account_errors: dict[str, list[dict[str, Any]]]
) -> dict[str, dict[str, Any]]:
    """The ``accounts`` map: each account's status, stream counts, totals, errors and coverage.

    An account's coverage is the mean over its streams that are not skipped (a stream without a
    known coverage counts as 0), absent when none of them reports one. Empty without accounts.
    """
    grouped: dict[str, list[dict[str, Any]]] = {}
    for entry in streams.values():
        if entry.get("account"):
            grouped.setdefault(entry["account"], []).append(entry)
    for account in account_errors:
        grouped.setdefault(account, [])
    accounts = {}
    for account, entries in grouped.items():
        statuses = Counter(str(entry["status"]) for entry in entries)
        errors = account_errors.get(account, [])
        summary: dict[str, Any] = {
            "status": account_status(statuses, any(e["level"] == "account" for e in errors)),
            "streams": dict(statuses),
            "record_count": sum(entry.get("record_count", 0) for entry in entries),
            "request_count": sum(entry.get("request_count", 0) for entry in entries),
            "errors": list(errors),
        }
        measured = [entry for entry in entries if entry["status"] != "skipped"]
        if any("coverage" in entry for entry in measured):
            covered = sum(entry.get("coverage", 0.0) for entry in measured)
            summary["coverage"] = round(covered / len(measured), 6)
        accounts[account] = summary
    return accounts
