"""Acquisition cohorts: retention and revenue matrices.

A customer's cohort is the calendar period (month by default; ``"W"`` weeks, ``"Q"``
quarters) of their first purchase in the *cleaned* transactions — so a customer whose first
order was cancelled belongs to the cohort of their first kept order. Period k of a cohort is
the k-th calendar period after the cohort's own (k = 0 is the acquisition period).

- retention[c, k]: share of cohort c's customers with a purchase in period k.
- revenue[c, k]: revenue of cohort c in period k per acquired customer; ``cumulative`` sums it.

Cells after ``as_of`` are missing (not observed, never shown as a drop to 0). The period
that contains ``as_of`` is *partial* unless as_of is its last day; ``partial`` marks those
cells so plots can show them apart.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from segment_workbench.customers import engine


@dataclass
class CohortTables:
    sizes: pd.Series  # customers acquired per cohort
    retention: pd.DataFrame  # cohort x k, share active
    revenue: pd.DataFrame  # cohort x k, revenue per acquired customer
    cumulative: pd.DataFrame  # cohort x k, cumulative revenue per acquired customer
    partial: pd.DataFrame  # cohort x k, bool: True where the period is not complete at as_of
    period: str

    def long(self) -> pd.DataFrame:
        """One row per observed (cohort, k): size, retention, revenue, cumulative, partial."""
        frames = {
            "retention": self.retention,
            "revenue_per_customer": self.revenue,
            "cumulative_revenue_per_customer": self.cumulative,
            "partial": self.partial,
        }
        out = pd.concat({name: f.stack(future_stack=True) for name, f in frames.items()}, axis=1).reset_index()
        out.columns = ["cohort", "period_index"] + list(frames)
        out = out[out["retention"].notna()].astype({"partial": bool})
        out.insert(1, "cohort_size", out["cohort"].map(self.sizes).to_numpy())
        out["cohort"] = out["cohort"].astype(str)
        return out.reset_index(drop=True)


def cohort_tables(transactions, as_of, period: str = "M") -> CohortTables:
    """Cohort matrices from cleaned order lines up to ``as_of`` (see module docstring): a
    pandas frame, a Parquet file or an ibis table, aggregated by ``segment_workbench.customers.engine``,
    or their ``engine.PurchaseDays`` (the same matrices from fewer rows)."""
    as_of = pd.Timestamp(as_of).normalize()
    lines = engine.lines_table(transactions, ["customer_id", "order_date", "amount"])
    cells = engine.cohort_cells(lines, as_of, period)
    cells["k"] = (
        cells["start"].array.asi8 - cells["cohort"].array.asi8
    )  # period ordinals: the difference counts periods
    now = as_of.to_period(period)
    sizes = cells[cells["k"] == 0].set_index("cohort")["active"].rename("customer_id")
    active = cells.pivot(index="cohort", columns="k", values="active")
    revenue = cells.pivot(index="cohort", columns="k", values="revenue")
    age = now.ordinal - sizes.index.asi8  # periods from each cohort's own period to as_of's
    columns = pd.RangeIndex(int(age.max()) + 1 if len(age) else 0, name="k")
    k = columns.to_numpy()[None, :]
    observed = pd.DataFrame(k <= age[:, None], index=sizes.index, columns=columns)
    active = active.reindex(columns=columns).fillna(0).where(observed)
    revenue = revenue.reindex(columns=columns).fillna(0.0).where(observed)
    partial_now = as_of < now.to_timestamp(how="end").normalize()
    partial = pd.DataFrame((k == age[:, None]) & partial_now, index=sizes.index, columns=columns)
    retention = active.div(sizes, axis=0)
    per_customer = revenue.div(sizes, axis=0)
    return CohortTables(
        sizes=sizes,
        retention=retention,
        revenue=per_customer,
        cumulative=per_customer.cumsum(axis=1, skipna=False).where(observed),
        partial=partial,
        period=period,
    )


def second_period_return(retention: pd.DataFrame) -> float:
    """Share of new customers who buy again in the period after their first purchase: the
    retention at period 1 of the complete (not ``partial``) cohorts, weighted by cohort size.
    ``retention``: the long table (``CohortTables.long()`` or ``cohort_retention.csv``). NaN when
    no cohort has a complete second period."""
    complete = retention[(retention["period_index"] == 1) & ~retention["partial"].astype(bool)]
    if not len(complete):
        return float("nan")
    return float((complete["retention"] * complete["cohort_size"]).sum() / complete["cohort_size"].sum())
