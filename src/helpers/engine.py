"""The heavy aggregations, written once as ibis expressions and run on an engine.

Order lines go in as a pandas frame, a Parquet/CSV path, or an ibis table. Frames and files
run on ibis's embedded DuckDB (files are scanned, not loaded, so they may be larger than
memory); an ibis table runs on its own backend, inside the database that holds it
(PostgreSQL, or any warehouse ibis reaches). The expressions are the same on every backend
and give the same numbers (tests compare DuckDB and PostgreSQL).

The engine reduces lines to one row per customer, or per cohort and period; what is left is
small and is finished in pandas by ``helpers.customers`` and ``helpers.cohorts``. Days are
calendar days: the time of day is dropped before anything is counted.
"""

from __future__ import annotations

from pathlib import Path

import ibis
import pandas as pd
import pyarrow as pa

from helpers.errors import InputError

def _arrow(frame: pd.DataFrame) -> pa.Table:
    """The frame as Arrow; text columns become Arrow strings once, here, so the engine does
    not re-encode Python strings row by row."""
    columns = {}
    for name, values in frame.items():
        if isinstance(values.dtype, pd.CategoricalDtype):
            values = values.astype(values.cat.categories.dtype)
        columns[str(name)] = pa.array(values.array if values.dtype == object or isinstance(values.dtype, pd.StringDtype)
                                      else values.to_numpy(), from_pandas=True)
    return pa.table(columns)


def lines_table(lines, columns: list[str] | None = None) -> ibis.Table:
    """Order lines as an ibis table: a pandas frame (``columns`` keeps those of them that it
    has), a ``.parquet`` or ``.csv`` path, or an ibis table, returned as it is."""
    if isinstance(lines, ibis.Table):
        return lines
    if isinstance(lines, pd.DataFrame):
        return ibis.memtable(_arrow(lines[[c for c in columns if c in lines]] if columns else lines))
    path = Path(lines)
    readers = {".parquet": ibis.read_parquet, ".csv": ibis.read_csv}
    if path.suffix.lower() not in readers:
        raise InputError(f"The engine reads Parquet and CSV files, not '{path.suffix}'.", path=path)
    return readers[path.suffix.lower()](path)


def late_lines(lines: ibis.Table, as_of: pd.Timestamp, limit: int = 5) -> tuple[int, pd.DataFrame]:
    """(customers with a purchase day after ``as_of``, up to ``limit`` of those lines)."""
    late = lines.filter(lines.order_date.date() > as_of.date())
    customers = int(late.customer_id.nunique().execute())
    if not customers:
        return 0, pd.DataFrame()
    shown = [c for c in ("source_row", "customer_id", "order_date") if c in late.columns]
    return customers, late.select(shown).order_by(shown).limit(limit).execute()


def customer_aggregates(lines: ibis.Table) -> pd.DataFrame:
    """One row per customer: first_purchase, last_purchase (days), purchase_days, revenue_total,
    first_day_revenue, n_orders (distinct order ids), total_quantity, and discount_total /
    cost_total when the lines have those columns. Sorted by customer_id."""
    t = lines.mutate(day=lines.order_date.date())
    daily = t.group_by(["customer_id", "day"]).aggregate(amount=t.amount.sum())
    per_day = daily.group_by("customer_id").aggregate(
        first_purchase=daily.day.min(), last_purchase=daily.day.max(), purchase_days=daily.count(),
        revenue_total=daily.amount.sum(), first_day_revenue=daily.amount.argmin(daily.day))
    sums = {"n_orders": t.order_id.nunique(), "total_quantity": t.quantity.sum()}
    sums |= {f"{c}_total": t[c].sum() for c in ("discount", "cost") if c in t.columns}
    per_line = t.group_by("customer_id").aggregate(**sums)
    out = per_day.join(per_line, "customer_id").execute()
    out = out.sort_values("customer_id", ignore_index=True)
    for column in ("first_purchase", "last_purchase"):
        out[column] = pd.to_datetime(out[column]).astype("datetime64[ns]")
    return out


def cohort_cells(lines: ibis.Table, as_of: pd.Timestamp, period: str) -> pd.DataFrame:
    """One row per (cohort, period) with a purchase, up to ``as_of``: cohort and period are the
    first days of the calendar periods (``"W"`` weeks from Monday, ``"M"``, ``"Q"``) of the
    customer's first purchase and of the purchases; ``active`` counts distinct customers,
    ``revenue`` sums amount."""
    t = lines.filter(lines.order_date.date() <= as_of.date())
    t = t.mutate(start=t.order_date.date().truncate(period))
    first = t.group_by("customer_id").aggregate(cohort=t.start.min())
    joined = t.join(first, "customer_id")
    cells = joined.group_by(["cohort", "start"]).aggregate(active=joined.customer_id.nunique(),
                                                           revenue=joined.amount.sum())
    out = cells.execute()
    for column in ("cohort", "start"):
        out[column] = pd.to_datetime(out[column]).dt.to_period(period)
    return out.sort_values(["cohort", "start"], ignore_index=True)


def database_table(url: str, name: str) -> ibis.Table:
    """The table ``name`` in the database at a SQLAlchemy ``url``, as an ibis table: the
    aggregations of this module then run inside that database (pushdown), and only their
    results travel. PostgreSQL needs the ``postgres`` extra."""
    from sqlalchemy.engine import make_url

    parts = make_url(url)
    backend = {"postgresql": "postgres"}.get(parts.get_backend_name(), parts.get_backend_name())
    con = getattr(ibis, backend).connect(host=parts.host, port=parts.port, user=parts.username,
                                         password=parts.password, database=parts.database)
    return con.table(name)
