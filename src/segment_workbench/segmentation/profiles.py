"""Segment profiles: size, value, behaviour, cost-to-serve proxies, attribute mix (demographic
and geographic, with coverage), spend and channel mix, and response rates to past campaigns."""

from __future__ import annotations

import numpy as np
import pandas as pd

from segment_workbench.customers import engine
from segment_workbench.io.attributes import MIX_KINDS

ALL = "All customers"
#: Geography read from the order lines when the customers file does not give it.
LINE_GEOGRAPHY = ["country", "city"]


def segment_profiles(
    customers: pd.DataFrame, segment: pd.Series, features: pd.DataFrame, cost_per_order: float = 0.0
) -> pd.DataFrame:
    """One row per segment, largest revenue first; with the quartiles (``_low``: 25%, ``_high``:
    75%) of orders, days since the last order and order value, the segment's centre that the
    owner's report describes it by.

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
    for col in ("orders", "days_since_last_order", "avg_order_value"):
        out[f"{col}_low"], out[f"{col}_high"] = grouped[col].quantile(0.25), grouped[col].quantile(0.75)
    for col in ("discount_share", "return_rate"):
        if col in df:
            out[f"{col}_mean"] = grouped[col].mean()
    out["share_customers"] = out["customers"] / out["customers"].sum()
    out["share_revenue"] = out["revenue"] / out["revenue"].sum()
    out["net_value_per_customer"] = out["margin_per_customer"] - cost_per_order * out["orders_mean"]
    out["not_our_customer"] = out["net_value_per_customer"] <= 0
    return out.sort_values("revenue", ascending=False).reset_index()


def line_geography(transactions, customer_ids: pd.Series) -> pd.DataFrame:
    """customer_id (``customer_ids``) and, where the order lines have them, each customer's
    country and city: the one most of their lines came from (ties: the first in sort order).
    ``transactions``: cleaned lines as ``segment_workbench.customers.engine`` takes them."""
    lines = engine.lines_table(transactions, ["customer_id", *LINE_GEOGRAPHY])
    out = pd.DataFrame({"customer_id": customer_ids.to_numpy()})
    for column in [c for c in LINE_GEOGRAPHY if c in lines.columns]:
        main = engine.main_value(lines, column)
        if len(main):
            out[column] = pd.Categorical(out["customer_id"].map(main).astype(object).to_numpy())
    return out


def with_line_geography(
    attributes: pd.DataFrame | None, kinds: dict[str, str], transactions, customer_ids: pd.Series
) -> tuple[pd.DataFrame | None, dict[str, str]]:
    """The attributes joined with ``line_geography`` for the places the attributes lack, and the
    kind of every column."""
    if transactions is None:
        return attributes, kinds
    geography = line_geography(transactions, customer_ids)
    new = [c for c in geography.columns if c != "customer_id" and (attributes is None or c not in attributes)]
    if not new:
        return attributes, kinds
    kinds = {**kinds, **dict.fromkeys(new, "geography")}
    if attributes is None:
        return geography[["customer_id", *new]], kinds
    return attributes.merge(geography[["customer_id", *new]], on="customer_id", how="outer"), kinds


def attribute_mix(
    segment: pd.Series, attributes: pd.DataFrame, kinds: dict[str, str], max_values: int = 8
) -> pd.DataFrame:
    """Long table of each attribute's mix per segment and overall (segment ``ALL``): attribute,
    kind, segment, value, share (of the segment's customers with a value; a segment's shares sum
    to 1), customers (in the segment), with_value (how many of them have a value: the coverage).
    ``segment`` is indexed by customer_id; attributes of customers not in it (no orders) are left
    out. Beyond ``max_values`` values, the rarer ones are pooled as "Other"; numbers are not
    mixes (see ``attribute_medians``)."""
    table = attributes.drop_duplicates("customer_id").set_index("customer_id").reindex(segment.index)
    rows = []
    for column, kind in kinds.items():
        if kind not in MIX_KINDS or column not in table:
            continue
        values = table[column].astype(object).where(table[column].notna())
        if kind == "flag":
            values = values.map({True: "yes", False: "no"})
        top = values.value_counts().index[:max_values]
        values = values.where(values.isin(top) | values.isna(), "Other")
        ordered = kind == "band" and isinstance(table[column].dtype, pd.CategoricalDtype)
        # bands in their order, other values commonest first; "Other" (pooled here or in the data) last
        order = list(dict.fromkeys([*(table[column].cat.categories if ordered else top), "Other"]))
        for name, part in [(ALL, values), *values.groupby(segment.to_numpy(), sort=False)]:
            shares = part.value_counts(normalize=True)
            shares = shares.reindex(
                [v for v in order if v in shares.index] + [v for v in shares.index if v not in order]
            )
            rows += [
                {
                    "attribute": column,
                    "kind": kind,
                    "segment": name,
                    "value": value,
                    "share": share,
                    "customers": len(part),
                    "with_value": int(part.notna().sum()),
                }
                for value, share in shares.items()
            ]
    return pd.DataFrame(rows, columns=["attribute", "kind", "segment", "value", "share", "customers", "with_value"])


def attribute_medians(segment: pd.Series, attributes: pd.DataFrame, kinds: dict[str, str]) -> pd.DataFrame:
    """The median of each number attribute per segment and overall (rows), with customers
    having a value; empty without number attributes."""
    numbers = [c for c, kind in kinds.items() if kind == "number" and c in attributes]
    if not numbers:
        return pd.DataFrame()
    table = attributes.drop_duplicates("customer_id").set_index("customer_id").reindex(segment.index)[numbers]
    by_segment = table.groupby(segment.to_numpy(), sort=False).median()
    overall = table.median().to_frame(ALL).T
    return pd.concat([overall, by_segment]).rename_axis("segment").reset_index()


def distinctive_traits(mix: pd.DataFrame, min_points: float = 0.1, min_ratio: float = 1.25) -> dict[str, list[str]]:
    """Per segment, the attribute values it holds clearly more often than customers overall (at
    least ``min_points`` more of its customers and ``min_ratio`` times the overall share), as
    phrases: "gender female: 62% (all customers: 49%)"; geography first, then by the difference."""
    overall = mix[mix["segment"] == ALL].set_index(["attribute", "value"])["share"]
    out: dict[str, list[tuple]] = {}
    for row in mix[mix["segment"] != ALL].itertuples():
        base = overall.get((row.attribute, row.value), np.nan)
        if row.value == "Other" or np.isnan(base) or row.with_value < 10:
            continue
        if row.share - base >= min_points and row.share >= min_ratio * base:
            phrase = f"{row.attribute.replace('_', ' ')} {row.value}: {row.share:.0%} (all customers: {base:.0%})"
            out.setdefault(row.segment, []).append((row.kind != "geography", base - row.share, phrase))
    return {segment: [p for *_, p in sorted(items)] for segment, items in out.items()}


def coverage_sentence(mix: pd.DataFrame, attribute: str) -> str:
    """ "801 of 2,377 customers have a gender." from ``attribute_mix``'s overall rows."""
    row = mix[(mix["attribute"] == attribute) & (mix["segment"] == ALL)].iloc[0]
    return f"{row.with_value:,} of {row.customers:,} customers have a {attribute.replace('_', ' ')}."


def share_mix(customers: pd.DataFrame, segment: pd.Series, prefix: str) -> pd.DataFrame:
    """Mean of each ``prefix`` column (a customer-level table's ``spend_share_`` or
    ``channel_share_``) per segment and overall; columns named by category or channel."""
    columns = [c for c in customers if c.startswith(prefix)]
    if not columns:
        return pd.DataFrame()
    table = customers[columns].set_axis([c.removeprefix(prefix).replace("_", " ") for c in columns], axis=1)
    by_segment = table.groupby(segment.to_numpy(), sort=False).mean()
    return pd.concat([table.mean().to_frame(ALL).T, by_segment]).rename_axis("segment").reset_index()


def response_rates(customers: pd.DataFrame, segment: pd.Series) -> pd.DataFrame:
    """Share of each segment (and of all customers) who responded to each past campaign (a
    customer-level table's ``response_`` columns), with the segment's size; empty without them."""
    rates = share_mix(customers, segment, "response_")
    if rates.empty:
        return rates
    sizes = pd.concat([pd.Series({ALL: len(customers)}), segment.value_counts()])
    return rates.assign(customers=sizes.reindex(rates["segment"]).to_numpy())
