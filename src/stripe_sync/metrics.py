"""Subscription metrics from the synced tables: MRR, its movements, subscribers and churn by month.

One SQL query, the same on SQLite and Postgres, reads ``subscriptions`` and ``subscription_items``:
it values every subscription at each month's end (MRR in the currency's minor unit, rounded to a
whole unit per subscription), sums them per customer and compares each customer's month with the
one before to sort the change into new, expansion, contraction, churn or reactivation. The
definitions are written out in ``docs/metrics.md``; :func:`monthly_metrics` runs the query.
"""

from __future__ import annotations

import calendar
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from stripe_sync.destinations.config import destination_type, sqlite_path
from stripe_sync.destinations.layout import check_identifier, quote
from stripe_sync.protocol.errors import ConfigError

PERIODS_PER_YEAR = {"day": 365, "week": 52, "month": 12, "year": 1}
"""Billing periods per year of each price interval (before dividing by ``interval_count``)."""
ROUNDING_SLACK = 1e-7
"""Added before rounding half up: float noise must not turn an exact x.5 into x.4999…"""
EXCLUDED_STATUSES = ("incomplete", "incomplete_expired")
"""Statuses of subscriptions that never started paying."""


@dataclass(frozen=True)
class MonthMetrics:
    """One month and currency: MRR at the month's end and how it moved since the month before."""

    month: str
    currency: str
    mrr: int
    subscribers: int
    new: int
    expansion: int
    contraction: int
    churn: int
    reactivation: int
    new_subscribers: int
    churned_subscribers: int
    logo_churn: float | None
    revenue_churn: float | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Month:
    """A calendar month and the instant its snapshot is taken (its last second, or now)."""

    label: str
    at: int


def months_between(first: int, now: int) -> list[Month]:
    """Every calendar month from the one holding ``first`` to the one holding ``now``."""
    start = datetime.fromtimestamp(min(first, now), UTC)
    year, month = start.year, start.month
    months: list[Month] = []
    while True:
        last_day = calendar.monthrange(year, month)[1]
        end = int(datetime(year, month, last_day, 23, 59, 59, tzinfo=UTC).timestamp())
        months.append(Month(f"{year:04d}-{month:02d}", min(end, now)))
        if end >= now:
            return months
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)


def metrics_sql(months: Sequence[Month], now: int, dialect: str, schema: str | None) -> str:
    """The query: one row per (month index, currency) with the summed movements.

    ``dialect`` is ``sqlite`` or ``postgres``; they differ only in rounding and table names.
    """
    table = (lambda name: f"{quote(schema)}.{quote(name)}") if schema else quote
    values = ", ".join(f"({index}, {month.at})" for index, month in enumerate(months))
    per_year = " ".join(
        f"WHEN '{interval}' THEN {_double(str(periods))}"
        for interval, periods in PERIODS_PER_YEAR.items()
    )

    def rounded(expression: str) -> str:  # half up, for the non-negative amounts used here
        if dialect == "postgres":
            return f"CAST(FLOOR({expression} + {0.5 + ROUNDING_SLACK}) AS BIGINT)"
        return f"CAST({expression} + {0.5 + ROUNDING_SLACK} AS INTEGER)"

    discount = "s.discounts -> 0"
    coupon = f"{discount} -> 'coupon'"
    excluded = ", ".join(f"'{status}'" for status in EXCLUDED_STATUSES)
    return f"""
WITH months(idx, at_) AS (VALUES {values}),
subs AS (
  SELECT s._account_id AS account, s.id, s.customer, lower(s.currency) AS currency,
    s.start_date, COALESCE(s.ended_at, s.cancel_at,
      CASE WHEN s.status = 'canceled' OR s._deleted THEN s.canceled_at END) AS ended,
    s.status = 'canceled' OR s._deleted AS gone,
    s.trial_start, s.trial_end,
    s.status = 'paused' OR s.pause_collection IS NOT NULL AS paused,
    {_double(f"{coupon} ->> 'percent_off'")} AS percent_off,
    {_double(f"{coupon} ->> 'amount_off'")} AS amount_off,
    lower({coupon} ->> 'currency') AS amount_off_currency,
    CAST({discount} ->> 'start' AS BIGINT) AS discount_start,
    CAST({discount} ->> 'end' AS BIGINT) AS discount_end
  FROM {table("subscriptions")} s
  WHERE s.status NOT IN ({excluded})
),
items AS (
  SELECT i._account_id AS account, i.subscription, i.created,
    CASE i.price -> 'recurring' ->> 'interval' {per_year} END AS per_year,
    12 * {_double("i.price -> 'recurring' ->> 'interval_count'")} AS months,
    {_double("i.price ->> 'unit_amount'")} * {_double("COALESCE(i.quantity, 1)")} AS amount
  FROM {table("subscription_items")} i
  WHERE NOT i._deleted AND i.price ->> 'unit_amount' IS NOT NULL
    AND COALESCE(i.price -> 'recurring' ->> 'usage_type', 'licensed') = 'licensed'
),
gross AS (
  SELECT m.idx, m.at_, s.account, s.customer, s.currency, s.percent_off, s.amount_off,
    s.amount_off_currency, s.discount_start, s.discount_end,
    SUM(i.amount * i.per_year / i.months) AS gross, MAX(i.per_year / i.months) AS per_month
  FROM months m
  JOIN subs s ON s.start_date <= m.at_ AND (s.ended IS NULL OR s.ended > m.at_)
    AND NOT (s.gone AND s.ended IS NULL)
    AND NOT (COALESCE(s.trial_start, s.start_date) <= m.at_ AND COALESCE(s.trial_end, 0) > m.at_)
    AND NOT (s.paused AND m.at_ = {now})
  JOIN items i ON i.account = s.account AND i.subscription = s.id AND i.created <= m.at_
  WHERE i.per_year IS NOT NULL
  GROUP BY m.idx, m.at_, s.account, s.id, s.customer, s.currency, s.percent_off, s.amount_off,
    s.amount_off_currency, s.discount_start, s.discount_end
),
valued AS (
  SELECT idx, account, customer, currency,
    CASE
      WHEN discount_start IS NULL OR discount_start > at_
        OR (discount_end IS NOT NULL AND discount_end <= at_) THEN gross
      WHEN percent_off IS NOT NULL THEN gross * (100 - percent_off) / 100
      WHEN amount_off IS NOT NULL AND amount_off_currency = currency
        THEN gross - amount_off * per_month
      ELSE gross
    END AS net
  FROM gross
),
customer_months AS (
  SELECT idx, account, customer, currency, SUM(mrr) AS mrr
  FROM (SELECT idx, account, customer, currency,
          {rounded("CASE WHEN net > 0 THEN net ELSE 0 END")} AS mrr FROM valued) v
  GROUP BY idx, account, customer, currency
  HAVING SUM(mrr) > 0
),
ordered AS (
  SELECT idx, currency, mrr,
    LAG(idx) OVER (PARTITION BY account, customer, currency ORDER BY idx) AS prev_idx,
    LAG(mrr) OVER (PARTITION BY account, customer, currency ORDER BY idx) AS prev_mrr,
    LEAD(idx) OVER (PARTITION BY account, customer, currency ORDER BY idx) AS next_idx
  FROM customer_months
),
moves AS (
  SELECT idx, currency, mrr, 1 AS subscribers,
    CASE WHEN prev_idx IS NULL THEN mrr ELSE 0 END AS new,
    CASE WHEN prev_idx = idx - 1 AND prev_mrr < mrr THEN mrr - prev_mrr ELSE 0 END AS expansion,
    CASE WHEN prev_idx = idx - 1 AND prev_mrr > mrr THEN mrr - prev_mrr ELSE 0 END AS contraction,
    0 AS churn,
    CASE WHEN prev_idx < idx - 1 THEN mrr ELSE 0 END AS reactivation,
    CASE WHEN prev_idx IS NULL THEN 1 ELSE 0 END AS new_subscribers,
    0 AS churned_subscribers
  FROM ordered
  UNION ALL
  SELECT idx + 1, currency, 0, 0, 0, 0, 0, -mrr, 0, 0, 1
  FROM ordered
  WHERE (next_idx IS NULL OR next_idx > idx + 1) AND idx < {len(months) - 1}
)
SELECT idx, currency, SUM(mrr), SUM(subscribers), SUM(new), SUM(expansion), SUM(contraction),
  SUM(churn), SUM(reactivation), SUM(new_subscribers), SUM(churned_subscribers)
FROM moves GROUP BY idx, currency ORDER BY idx, currency
"""


def _double(expression: str) -> str:
    """A cast both databases read as an 8-byte float (SQLite: REAL affinity)."""
    return f"CAST({expression} AS DOUBLE PRECISION)"


def monthly_metrics(
    url: str,
    *,
    months: int = 12,
    currency: str | None = None,
    schema: str = "stripe",
    now: int | None = None,
) -> list[MonthMetrics]:
    """The last ``months`` months (the current one last) of every currency, or of ``currency``."""
    if months < 1:
        raise ConfigError("--months must be at least 1")
    now = int(time.time()) if now is None else now
    kind = destination_type(url)
    check_identifier(schema, "schema")
    query = _SqliteQuery(url) if kind == "sqlite" else _PostgresQuery(url, schema)
    try:
        first = query.first_start()
        if first is None:
            return []
        all_months = months_between(first, now)
        sql = metrics_sql(all_months, now, kind, schema if kind == "postgres" else None)
        rows = query.rows(sql)
    finally:
        query.close()
    return _table(rows, all_months, months, currency.lower() if currency else None)


def _table(
    rows: Sequence[Sequence[Any]], months: list[Month], shown: int, currency: str | None
) -> list[MonthMetrics]:
    """Fill months without any row with zeros, and add the churn rates (from the month before)."""
    by_key = {(int(row[0]), str(row[1])): [int(value or 0) for value in row[2:]] for row in rows}
    currencies = sorted({key[1] for key in by_key} if currency is None else {currency})
    zero = [0] * 9
    result: list[MonthMetrics] = []
    for index in range(max(0, len(months) - shown), len(months)):
        for name in currencies:
            mrr, subscribers, new, expansion, contraction, churn, reactivation, new_subs, lost = (
                by_key.get((index, name), zero)
            )
            before = by_key.get((index - 1, name), zero)
            result.append(
                MonthMetrics(
                    month=months[index].label,
                    currency=name,
                    mrr=mrr,
                    subscribers=subscribers,
                    new=new,
                    expansion=expansion,
                    contraction=contraction,
                    churn=churn,
                    reactivation=reactivation,
                    new_subscribers=new_subs,
                    churned_subscribers=lost,
                    logo_churn=_rate(lost, before[1]),
                    revenue_churn=_rate(-(churn + contraction), before[0]),
                )
            )
    return result


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


class _SqliteQuery:
    def __init__(self, url: str) -> None:
        path = sqlite_path(url)
        try:
            self.conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
            self.conn.execute("SELECT 1 FROM sqlite_master LIMIT 1")
        except sqlite3.Error as exc:
            raise ConfigError(f"cannot open SQLite database {path}: {exc}") from None

    def first_start(self) -> int | None:
        return _first_start(self.rows, '"subscriptions"')

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        try:
            return self.conn.execute(sql).fetchall()
        except sqlite3.OperationalError as exc:
            raise _missing_table(str(exc)) from None

    def close(self) -> None:
        self.conn.close()


class _PostgresQuery:
    def __init__(self, url: str, schema: str) -> None:
        import psycopg

        self.schema = schema
        try:
            self.conn = psycopg.connect(url, autocommit=True, connect_timeout=10)
        except psycopg.Error as exc:
            message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ConfigError(f"cannot connect to the database: {message}") from None

    def first_start(self) -> int | None:
        return _first_start(self.rows, f"{quote(self.schema)}.{quote('subscriptions')}")

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        import psycopg

        try:
            return list(self.conn.execute(sql).fetchall())
        except psycopg.errors.UndefinedTable as exc:
            raise _missing_table(str(exc)) from None

    def close(self) -> None:
        self.conn.close()


def _first_start(rows: Any, table: str) -> int | None:
    found = rows(f"SELECT MIN(start_date) FROM {table}")
    return int(found[0][0]) if found and found[0][0] is not None else None


def _missing_table(message: str) -> ConfigError:
    first = message.strip().splitlines()[0]
    return ConfigError(
        f"no subscription data to measure ({first}): sync the subscriptions and "
        "subscription_items streams first"
    )
