"""Customer totals at a series of dates from one pass over the purchase days.

06_campaign places every customer in a segment at the start of each month, from their orders
before it. Aggregating all the purchase days before each date anew costs a pass over millions of
rows per month; ``RunningTotals`` adds only the purchase days since the previous date to totals
kept in numpy arrays, one slot per customer.
"""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from segment_workbench.customers import engine
from segment_workbench.io.dtypes import TEXT

#: Totals that add up from one stretch of days to the next.
_SUMMED = ["purchase_days", "revenue_total", "log_gaps", "n_orders", "total_quantity"]
#: Totals whose days may all be missing (a customer without a discount or cost): NaN then.
_OPTIONAL = ["discount_total", "cost_total"]


class RunningTotals:
    """``engine.customer_totals`` of the purchase days before a date, for dates in increasing
    order at the cost of one pass: each date aggregates, on the engine holding ``days``, only the
    days since the date before (an earlier date starts again from the first day). Money is
    summed exactly per stretch and the stretches in double precision, so the totals equal the
    one-pass ones to about 1e-15 of their value. ``days``: an ``engine.PurchaseDays`` read from a
    file or cached (each date reads it once)."""

    def __init__(self, days: engine.PurchaseDays):
        self.days = days
        t = days.table
        ids = t.select("customer_id").distinct().to_pyarrow()
        ids = duckdb.from_arrow(ids).order("customer_id").to_arrow_table().column(0).combine_chunks()
        self.ids = ids  # every customer, sorted as ``engine.frame`` sorts (byte order)
        self._codes = pa.table({"customer_id": ids, "_code": np.arange(len(ids))})
        self._optional = [c for c in _OPTIONAL if c.removesuffix("_total") in t.columns]
        self._start()

    def _start(self) -> None:
        n = len(self.ids)
        self._until: pd.Timestamp | None = None
        self._seen = np.zeros(n, dtype=bool)
        self._days = {c: np.zeros(n, dtype=np.int64) for c in ("first_purchase", "last_purchase")}
        self._sums = {c: np.zeros(n) for c in ["first_day_revenue", *_SUMMED, *self._optional]}
        self._has = {c: np.zeros(n, dtype=bool) for c in self._optional}

    def before(self, date: pd.Timestamp) -> pd.DataFrame:
        """``engine.customer_totals(days.before(date))``: one row per customer with a purchase
        day before ``date``, sorted by customer_id."""
        day = pd.Timestamp(date).normalize()
        if self._until is not None and day < self._until:
            self._start()
        if self._until is None or day > self._until:
            self._add(self._until, day)
            self._until = day
        return self._frame()

    def _add(self, start: pd.Timestamp | None, end: pd.Timestamp) -> None:
        """Add the purchase days in [start, end) (from the first when ``start`` is None)."""
        t = self.days.table
        stretch = t.day < end.date() if start is None else (t.day >= start.date()) & (t.day < end.date())
        t = t.filter(stretch)
        sums = t.group_by("customer_id").aggregate(**engine.totals(t)).to_pyarrow()
        joined = duckdb.from_arrow(sums).join(duckdb.from_arrow(self._codes), "customer_id").to_arrow_table()
        code = joined.column("_code").to_numpy()
        fresh = ~self._seen[code]  # customers whose first purchase day is in the stretch
        self._seen[code] = True
        first, last = (joined.column(c).cast(pa.int32()).to_numpy().astype(np.int64) for c in self._days)
        self._days["first_purchase"][code[fresh]] = first[fresh]
        self._days["last_purchase"][code] = last  # the stretch comes after every earlier day
        self._sums["first_day_revenue"][code[fresh]] = joined.column("first_day_revenue").to_numpy()[fresh]
        for column in _SUMMED:
            self._sums[column][code] += joined.column(column).to_numpy()
        for column in self._optional:
            values = joined.column(column)
            self._sums[column][code] += values.fill_null(0.0).to_numpy()
            self._has[column][code] |= values.is_valid().to_numpy(zero_copy_only=False)

    def _frame(self) -> pd.DataFrame:
        seen = self._seen
        ids = pc.filter(self.ids, pa.array(seen)).cast(pa.string())
        columns = {"customer_id": ids.to_pandas(types_mapper={pa.string(): TEXT}.get)}
        for column, values in self._days.items():
            columns[column] = values[seen].astype("datetime64[D]").astype("datetime64[ns]")
        for column, values in self._sums.items():
            kept = values[seen]
            if column in self._has:
                kept = np.where(self._has[column][seen], kept, np.nan)
            columns[column] = kept.astype(np.int64) if column in ("purchase_days", "n_orders") else kept
        order = ["customer_id", *engine.totals(self.days.table)]  # engine.customer_totals' columns
        return pd.concat([pd.Series(columns[c], name=c) for c in order], axis=1, copy=False)
