"""Sales month by month with the same month a year earlier, so a season is not read as growth."""

from __future__ import annotations

import numpy as np
import pandas as pd


def monthly_sales(totals: pd.Series, first_day: pd.Timestamp, as_of: pd.Timestamp, months: int = 12) -> pd.DataFrame:
    """The last ``months`` calendar months up to ``as_of``: month (a monthly Period), sales,
    sales_year_before (the same month a year earlier; NaN where the data do not cover that whole
    month) and partial (the month of ``as_of`` when it is not the month's last day, or a first
    month the data start inside). ``totals``: amounts summed by the month of their order date
    (``engine.monthly_amounts``); ``first_day``: the first order's day."""
    as_of = pd.Timestamp(as_of).normalize()
    last = as_of.to_period("M")
    periods = pd.period_range(last - (months - 1), last, freq="M")
    start = pd.Timestamp(first_day).normalize()
    covered_from = start.to_period("M") + (0 if start.day == 1 else 1)  # the first whole month of data
    before = periods - 12
    year_before = totals.reindex(before).fillna(0.0).to_numpy()
    return pd.DataFrame(
        {
            "month": periods,
            "sales": totals.reindex(periods).fillna(0.0).to_numpy(),
            "sales_year_before": np.where(before >= covered_from, year_before, np.nan),
            "partial": (periods == last) & (as_of < last.end_time.normalize()) | (periods < covered_from),
        }
    )
