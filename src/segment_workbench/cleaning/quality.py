"""Data-quality overview of collected (typed, not yet cleaned) order lines, computed by the
engine: the lines may be a frame, raw.parquet, or a table in a database."""

from __future__ import annotations

import ibis
import numpy as np
import pandas as pd

from segment_workbench.customers import engine


def counts(raw) -> dict[str, int]:
    """Lines (``rows``), distinct customers and distinct orders."""
    t = engine.lines_table(raw, ["customer_id", "order_id"])
    row = t.aggregate(rows=t.count(), customers=t.customer_id.nunique(), orders=t.order_id.nunique())
    return row.to_pyarrow().to_pylist()[0]


def overview(raw) -> pd.DataFrame:
    """Headline counts as a two-column table (measure, value) for display; the value rows only
    when ``raw`` has ``amount`` and ``quantity`` (a visit log shown without them has neither)."""
    t = engine.lines_table(raw)
    sums = {
        "rows": t.count(),
        "customers": t.customer_id.nunique(),
        "orders": t.order_id.nunique(),
        "first": t.order_date.min(),
        "last": t.order_date.max(),
    }
    if "product_id" in t.columns:
        sums["products"] = t.product_id.nunique()
    if "amount" in t.columns:
        sums["revenue"] = engine.exact_sum(t.amount)
    if "quantity" in t.columns:
        sums["returns"] = (t.quantity < 0).ifelse(1, 0).sum()
    n = t.aggregate(**sums).to_pyarrow().to_pylist()[0]
    rows = [
        ("Rows (order lines)", f"{n['rows']:,}"),
        ("Customers (distinct ids)", f"{n['customers']:,}"),
        ("Orders (distinct ids)", f"{n['orders']:,}"),
        ("Products (distinct ids)", f"{n['products']:,}" if "products" in n else "no product column"),
        ("First order date", f"{n['first']:%Y-%m-%d}" if n["first"] else "none"),
        ("Last order date", f"{n['last']:%Y-%m-%d}" if n["last"] else "none"),
    ]
    if "revenue" in n:
        rows.append(("Revenue, all lines incl. returns", f"{n['revenue'] or 0:,.2f}"))
    if "returns" in n:
        rows.append(("Lines with a negative quantity (returns)", f"{n['returns'] or 0:,}"))
    return pd.DataFrame(rows, columns=["measure", "value"])


def missing_values(raw) -> pd.DataFrame:
    """Per column: missing or unparseable values, count and share of rows."""
    t = engine.lines_table(raw)
    columns = [c for c in t.columns if c != "source_row"]
    counts = t.aggregate(_rows=t.count(), **{c: t[c].isnull().ifelse(1, 0).sum() for c in columns})
    n = counts.to_pyarrow().to_pylist()[0]
    missing = np.array([n[c] or 0 for c in columns])
    return pd.DataFrame({"column": columns, "missing": missing, "share": missing / max(n["_rows"], 1)})


def monthly_activity(raw) -> pd.DataFrame:
    """Orders, revenue and active customers per calendar month (lines without a date skipped)."""
    t = engine.lines_table(raw, ["customer_id", "order_id", "order_date", "amount"])
    t = t.filter(t.order_date.notnull())
    months = t.group_by(month=t.order_date.date().truncate("M")).aggregate(
        orders=t.order_id.nunique(), revenue=engine.exact_sum(t.amount), customers=t.customer_id.nunique()
    )
    return engine.frame(months, ["month"])


def outlier_lines(raw, k: float = 6.0, top: int = 10) -> pd.DataFrame:
    """Lines whose absolute amount is more than ``k`` robust standard deviations above the
    median on the log scale (MAD-based). Flagged for review, not removed."""
    t = engine.lines_table(raw)
    positive = t.filter(t.amount.abs() > 0)
    log = positive.amount.abs().ln()
    median = positive.aggregate(m=log.median()).to_pyarrow().column(0)[0].as_py()
    cols = [
        c
        for c in ("source_row", "order_id", "order_date", "product_name", "quantity", "unit_price", "amount")
        if c in t.columns
    ]
    if median is None:
        return pd.DataFrame(columns=cols)
    mad = 1.4826 * positive.aggregate(m=(log - median).abs().median()).to_pyarrow().column(0)[0].as_py()
    if mad > 0:
        limit = float(np.exp(median + k * mad))
    else:
        limit = float(positive.aggregate(m=positive.amount.abs().max()).to_pyarrow().column(0)[0].as_py()) + 1
    flagged = t.filter(t.amount.abs() > limit).order_by([ibis.desc(t.amount.abs()), "source_row"]).limit(top)
    out = flagged.select(cols).to_pyarrow().to_pandas()
    return out.assign(limit=round(limit, 2))
