"""The customer table: one row per customer, relative to ``as_of``, in an explicit time unit.

Columns are described in ``COLUMNS`` (the single place they are documented).

Durations count calendar days between dates (times of day are ignored); ``as_of`` is the
last day included. The table does not carry its ``as_of`` and ``time_unit``: 02_clean writes
them with it as the run's metadata (``segment_workbench.io.artifacts.RunMeta``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from segment_workbench.config import unit_days
from segment_workbench.customers import engine
from segment_workbench.customers.running import RunningTotals
from segment_workbench.errors import InputError

COLUMNS = {
    "customer_id": "the customer's id",
    "first_purchase": "date of the first purchase",
    "last_purchase": "date of the last purchase",
    "n_orders": "number of distinct orders",
    "frequency": "repeat purchases (BTYD convention): distinct purchase days minus 1",
    "recency": "time from the first to the last purchase day, in the time unit (BTYD t_x)",
    "T": "time from the first purchase day to as_of, in the time unit (BTYD T)",
    "litt": "sum of the logs of the times between consecutive purchase days, in the time unit; 0 without "
    "repeats (the regularity models' input, BTYDplus litt)",
    "days_since_last_order": "whole days from the last purchase day to as_of (RFM recency)",
    "tenure_days": "whole days from the first purchase day to as_of",
    "revenue_total": "total revenue, in the shop's currency",
    "avg_order_value": "revenue_total / n_orders",
    "monetary_value": "mean revenue per repeat purchase day, first day excluded; 0 without repeats (Gamma-Gamma input)",
    "total_quantity": "units bought",
    "discount_share": "discount / (revenue + discount), when the data has a discount column",
    "margin_total": "revenue minus cost, when the data has a cost column (cost of the line, currency)",
}
#: Columns of a customer table given at customer level (``source.level: customers``), by prefix.
PREFIXED = {
    "spend_share_": "share of spend on {}",
    "channel_share_": "share of purchases via {}",
    "spend_": "spend on {}, in the shop's currency",
    "purchases_": "purchases via {}",
    "response_": "responded to {} (1 = yes)",
}
#: What the value columns mean in a visit log without prices (``RunMeta.value_unit`` visits).
IN_VISITS = {
    "revenue_total": "number of visits (a visit log: each visit counts 1)",
    "avg_order_value": "1 (a visit log: each order is one visit)",
    "monetary_value": "1 for repeat visitors (a visit log)",
}


def check_as_of(transactions, as_of: pd.Timestamp, file: str = "transactions") -> None:
    """Stop when ``as_of`` lies far past the last purchase: more than a year, or more than three
    times the median gap between a customer's purchase days (and at least 90 days, so a shop
    whose customers buy every few days can still report a few weeks after its export). Every
    customer would then look lapsed and the repeat-purchase models could not fit: a forgotten
    ``as_of`` (another data set's date) is the usual cause, and it is named here rather than in a
    failed model. ``transactions``: cleaned lines as ``segment_workbench.customers.engine`` takes them."""
    lines = engine.lines_table(transactions, ["customer_id", "order_date"])
    _, _, last = engine.day_span(lines)
    if last is None:
        return
    idle = (pd.Timestamp(as_of).normalize() - last).days
    if idle <= 90:  # within every limit: the gaps (a pass over every line) are not needed
        return
    (median,) = engine.gap_quantiles(lines, [0.5])
    limit = min(365.0, max(90.0, 3 * median)) if median is not None else 365.0
    if idle > limit:
        raise InputError(
            f"as_of {pd.Timestamp(as_of):%Y-%m-%d} is {idle:,} days after the last order in the data "
            f"({last:%Y-%m-%d}); more than {limit:,.0f} days, so every customer would look lapsed.",
            file=file,
            column="order_date",
            hint="Remove as_of from the config to use the day of the last order, or set it to a date "
            "at the end of the data (or run on a newer export).",
        )


def check_span(transactions, file: str = "transactions") -> None:
    """Stop when every purchase (or visit) falls on one day: nobody can have come back, so
    there is nothing to segment by recency or frequency and no repeat-purchase model to fit."""
    lines = engine.lines_table(transactions, ["source_row", "customer_id", "order_date"])
    n, first, last = engine.day_span(lines)
    if n and first == last:
        raise InputError(
            f"Every one of the {n:,} purchases or visits is dated {first:%Y-%m-%d}: with a single "
            "day, nobody can have come back.",
            file=file,
            column="order_date",
            rows=lines.select("source_row", "customer_id", "order_date").order_by("source_row").limit(3).execute(),
            hint="Export a longer period (at least several weeks), or check that the date column holds the "
            "date of each purchase rather than the export date.",
        )


def build_customer_table(transactions, as_of: pd.Timestamp | str, time_unit: str = "weeks") -> pd.DataFrame:
    """One row per customer (columns in ``COLUMNS``; the purchase-day ones are what BTYD models
    need, and what ``lifetimes``' summary computes) from cleaned order lines (customer_id,
    order_id, order_date, quantity, amount; discount and cost when present): a pandas frame, a
    Parquet file or an ibis table, aggregated by ``segment_workbench.customers.engine`` (inside
    the database for an ibis table), or their ``engine.PurchaseDays``."""
    as_of = pd.Timestamp(as_of).normalize()
    days = engine.purchase_days(transactions)
    totals = engine.customer_totals(days)
    if (totals["last_purchase"] > as_of).any():
        late_customers, late = engine.late_lines(days.lines, as_of)
        raise InputError(
            f"{late_customers} customer(s) have purchases after as_of {as_of.date()}.",
            column="order_date",
            rows=late,
            hint="Use the cleaned transactions (the future_date rule removes these) or a later as_of.",
        )
    return _from_totals(totals, as_of, time_unit)


def table_before(transactions, date: pd.Timestamp, time_unit: str = "weeks") -> pd.DataFrame:
    """The customer table from the orders before ``date``, as of the day before it.
    ``transactions``: as ``build_customer_table`` takes them, or their ``RunningTotals`` (many
    dates, in increasing order, from one pass)."""
    date = pd.Timestamp(date).normalize()
    if isinstance(transactions, RunningTotals):
        return _from_totals(transactions.before(date), date - pd.Timedelta(days=1), time_unit)
    return build_customer_table(engine.purchase_days(transactions).before(date), date - pd.Timedelta(days=1), time_unit)


def _from_totals(totals: pd.DataFrame, as_of: pd.Timestamp, time_unit: str) -> pd.DataFrame:
    """The customer table from ``engine.customer_totals``' frame."""
    per_unit = unit_days(time_unit)
    first, last = _day_numbers(totals["first_purchase"]), _day_numbers(totals["last_purchase"])
    now = np.datetime64(as_of.date(), "D").astype(np.int64)
    tenure = now - first
    frequency = totals["purchase_days"].to_numpy() - 1
    revenue = totals["revenue_total"].to_numpy()
    repeat_revenue = revenue - totals["first_day_revenue"].to_numpy()
    columns = {
        "customer_id": totals["customer_id"],
        "first_purchase": totals["first_purchase"],
        "last_purchase": totals["last_purchase"],
        "n_orders": totals["n_orders"],
        "frequency": frequency,
        "recency": (last - first) / per_unit,
        "T": tenure / per_unit,
        "litt": totals["log_gaps"].to_numpy() - frequency * np.log(per_unit),
        "days_since_last_order": now - last,
        "tenure_days": tenure,
        "revenue_total": revenue,
        "avg_order_value": revenue / totals["n_orders"].to_numpy(),
        "monetary_value": np.divide(repeat_revenue, frequency, out=np.zeros(len(totals)), where=frequency > 0),
        "total_quantity": totals["total_quantity"],
    }
    if "discount_total" in totals:
        discount = totals["discount_total"].to_numpy()
        with np.errstate(invalid="ignore", divide="ignore"):
            share = discount / (revenue + discount)
        columns["discount_share"] = np.where(np.isnan(share), 0.0, share)
    if "cost_total" in totals:
        columns["margin_total"] = revenue - totals["cost_total"].to_numpy()
    # side by side, not consolidated into 2-D blocks: at 5M customers that copy took 5 s a table
    return pd.concat([pd.Series(v, name=k) for k, v in columns.items()], axis=1, copy=False)


def _day_numbers(days: pd.Series) -> np.ndarray:
    """Midnight timestamps as whole days since 1970-01-01 (int64)."""
    return days.to_numpy().astype("datetime64[D]").astype(np.int64)


def _meaning(column: str, in_visits: bool) -> str | None:
    if in_visits and column in IN_VISITS:
        return IN_VISITS[column]
    if column in COLUMNS:
        return COLUMNS[column]
    prefix = next((p for p in PREFIXED if column.startswith(p)), None)
    return PREFIXED[prefix].format(column.removeprefix(prefix).replace("_", " ")) if prefix else None


def data_dictionary(customers: pd.DataFrame, time_unit: str, in_visits: bool = False) -> pd.DataFrame:
    """The table's columns with their meaning, ``time_unit`` filled in, for display; the value
    columns in visits when ``in_visits``."""
    rows = [
        (c, meaning.replace("the time unit", time_unit))
        for c in customers.columns
        if (meaning := _meaning(c, in_visits)) is not None
    ]
    return pd.DataFrame(rows, columns=["column", "meaning"])


def from_customer_level(rows: pd.DataFrame, as_of: pd.Timestamp) -> pd.DataFrame:
    """The customer table from a cleaned customer-level source (``segment_workbench.io.customer_level``):
    recency in days and as a date, tenure (from the first purchase or sign-up, when given;
    never shorter than the recency), average order value, and each customer's shares of spend
    per category and of purchases per channel. Columns: ``COLUMNS`` and ``PREFIXED``."""
    as_of = pd.Timestamp(as_of).normalize()
    out = rows.drop(columns="source_row").reset_index(drop=True)
    if "days_since_last_order" not in out:
        out["days_since_last_order"] = (as_of - out["last_purchase"].dt.normalize()).dt.days.astype(float)
    out["last_purchase"] = as_of - pd.to_timedelta(out["days_since_last_order"], unit="D")
    if "first_purchase" in out:
        tenure = (as_of - out["first_purchase"].dt.normalize()).dt.days.astype(float)
        out["tenure_days"] = np.fmax(tenure, out["days_since_last_order"])
    out["avg_order_value"] = out["revenue_total"] / out["n_orders"]
    for prefix, share, total in (("spend_", "spend_share_", "revenue_total"), ("purchases_", "channel_share_", None)):
        parts = [c for c in out.columns if c.startswith(prefix) and not c.startswith(share)]
        if not parts:
            continue
        denominator = out[total] if total else out[parts].sum(axis=1)
        for column in parts:
            out[share + column.removeprefix(prefix)] = (out[column] / denominator.replace(0, np.nan)).fillna(0.0)
    first = ["customer_id", "first_purchase", "last_purchase", "n_orders", "days_since_last_order", "tenure_days"]
    first += ["revenue_total", "avg_order_value"]
    ordered = [c for c in first if c in out] + [c for c in out.columns if c not in first]
    return out[ordered]
