"""Data-quality overview of collected (typed, not yet cleaned) transactions."""

from __future__ import annotations

import numpy as np
import pandas as pd


def overview(raw: pd.DataFrame) -> pd.DataFrame:
    """Headline counts as a two-column table (measure, value) for display; the value rows only
    when ``raw`` has ``amount`` and ``quantity`` (a visit log shown without them has neither)."""
    dates = raw["order_date"].dropna()
    rows = [
        ("Rows (order lines)", f"{len(raw):,}"),
        ("Customers (distinct ids)", f"{raw['customer_id'].nunique():,}"),
        ("Orders (distinct ids)", f"{raw['order_id'].nunique():,}"),
        ("Products (distinct ids)", f"{raw['product_id'].nunique():,}" if "product_id" in raw else "no product column"),
        ("First order date", f"{dates.min():%Y-%m-%d}" if len(dates) else "none"),
        ("Last order date", f"{dates.max():%Y-%m-%d}" if len(dates) else "none"),
    ]
    if "amount" in raw:
        rows.append(("Revenue, all lines incl. returns", f"{raw['amount'].sum():,.2f}"))
    if "quantity" in raw:
        rows.append(("Lines with a negative quantity (returns)", f"{int((raw['quantity'] < 0).sum()):,}"))
    return pd.DataFrame(rows, columns=["measure", "value"])


def missing_values(raw: pd.DataFrame) -> pd.DataFrame:
    """Per column: missing or unparseable values, count and share of rows."""
    columns = [c for c in raw.columns if c != "source_row"]
    missing = raw[columns].isna().sum()
    return pd.DataFrame(
        {"column": columns, "missing": missing.to_numpy(), "share": (missing / max(len(raw), 1)).to_numpy()}
    )


def monthly_activity(transactions: pd.DataFrame) -> pd.DataFrame:
    """Orders, revenue and active customers per calendar month (lines without a date skipped)."""
    tx = transactions.dropna(subset=["order_date"])
    month = tx["order_date"].dt.to_period("M").rename("month")
    out = tx.groupby(month).agg(
        orders=("order_id", "nunique"), revenue=("amount", "sum"), customers=("customer_id", "nunique")
    )
    return out.reset_index().assign(month=lambda d: d["month"].dt.to_timestamp())


def outlier_lines(raw: pd.DataFrame, k: float = 6.0, top: int = 10) -> pd.DataFrame:
    """Lines whose absolute amount is more than ``k`` robust standard deviations above the
    median on the log scale (MAD-based). Flagged for review, not removed."""
    amount = raw["amount"].abs()
    positive = amount[amount > 0]
    if positive.empty:
        return raw.iloc[:0]
    log = np.log(positive)
    mad = 1.4826 * (log - log.median()).abs().median()
    limit = float(np.exp(log.median() + k * mad)) if mad > 0 else float(positive.max()) + 1
    flagged = raw[amount > limit]
    cols = [
        c
        for c in ("source_row", "order_id", "order_date", "product_name", "quantity", "unit_price", "amount")
        if c in raw
    ]
    return flagged.sort_values("amount", key=abs, ascending=False)[cols].head(top).assign(limit=round(limit, 2))
