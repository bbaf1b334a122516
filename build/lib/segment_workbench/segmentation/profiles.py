"""Segment profiles: size, value, behaviour, cost-to-serve proxies and attribute mix."""

from __future__ import annotations

import pandas as pd


def segment_profiles(
    customers: pd.DataFrame, segment: pd.Series, features: pd.DataFrame, cost_per_order: float = 0.0
) -> pd.DataFrame:
    """One row per segment, largest revenue first.

    ``segment`` and ``features`` are aligned with ``customers`` rows. Net value per customer =
    revenue (or margin, when the data has costs) minus ``cost_per_order`` x orders (a
    cost-to-serve proxy: picking, packing, support). A segment whose net value per customer is
    not positive is flagged ``not_our_customer``: it costs more than it brings. (CLV per segment
    is 05_cltv's ``clv_by_segment.csv``: segmentation runs before the models.)
    """
    df = pd.DataFrame(
        {
            "segment": segment.to_numpy(),
            "revenue": customers["revenue_total"].to_numpy(),
            "orders": customers["n_orders"].to_numpy(),
            "days_since_last_order": customers["days_since_last_order"].to_numpy(),
            "avg_order_value": customers["avg_order_value"].to_numpy(),
            "margin": (
                customers["margin_total"] if "margin_total" in customers else customers["revenue_total"]
            ).to_numpy(),
        }
    )
    for col in ("discount_share", "return_rate"):
        if col in features:
            df[col] = features[col].to_numpy()
    grouped = df.groupby("segment", sort=False)
    out = grouped.agg(
        customers=("revenue", "size"),
        revenue=("revenue", "sum"),
        orders_mean=("orders", "mean"),
        orders_median=("orders", "median"),
        days_since_last_order_median=("days_since_last_order", "median"),
        avg_order_value_median=("avg_order_value", "median"),
        revenue_per_customer=("revenue", "mean"),
        margin_per_customer=("margin", "mean"),
    )
    for col in ("discount_share", "return_rate"):
        if col in df:
            out[f"{col}_mean"] = grouped[col].mean()
    out["share_customers"] = out["customers"] / out["customers"].sum()
    out["share_revenue"] = out["revenue"] / out["revenue"].sum()
    out["net_value_per_customer"] = out["margin_per_customer"] - cost_per_order * out["orders_mean"]
    out["not_our_customer"] = out["net_value_per_customer"] <= 0
    return out.sort_values("revenue", ascending=False).reset_index()


def attribute_mix(segment: pd.Series, attributes: pd.DataFrame, column: str) -> pd.DataFrame:
    """Share of each value of ``column`` within each segment (rows sum to 1). ``segment`` is
    indexed by customer_id; customers without attributes are left out."""
    joined = attributes.set_index("customer_id")[column].reindex(segment.index)
    known = joined.notna()
    return pd.crosstab(segment[known], joined[known], normalize="index").rename_axis(index="segment", columns=None)
