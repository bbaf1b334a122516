"""The heavy work over order lines, written once as ibis expressions and run on an engine.

Order lines go in as a pandas frame, a Parquet/CSV path, or an ibis table. Frames and files
run on ibis's embedded DuckDB (files are scanned, not loaded, so they may be larger than
memory; DuckDB spills to disk past its memory limit); an ibis table runs on its own backend,
inside the database that holds it (PostgreSQL, or any warehouse ibis reaches) or on Spark
(``spark_session``, ``spark_table``). The expressions are the same on every backend and give
the same numbers (tests compare DuckDB, PostgreSQL and Spark); the cleaning rules
(``segment_workbench.cleaning.rules``) are written the same way.

The engine reduces lines to one row per customer, per cohort and period, or per month; what
is left is small and is finished in pandas by ``segment_workbench.customers.table``,
``segment_workbench.lifecycle`` and the other steps. Days are calendar days: the time of day is
dropped before anything is counted.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import duckdb
import ibis
import numpy as np
import pandas as pd
import pyarrow as pa

from segment_workbench.errors import InputError
from segment_workbench.io.dtypes import TEXT


def arrow(frame: pd.DataFrame, names: list[str]) -> pa.Table:
    """Those columns of the frame as Arrow; text becomes Arrow strings (zero-copy for ``TEXT``
    columns), so the engine does not re-encode Python strings row by row. Missing values
    (None, NaN, NaT) become nulls; numbers without NaN are not copied."""
    columns = {}
    for name in names:
        values = frame[name]
        if isinstance(values.dtype, pd.CategoricalDtype):
            values = values.astype(values.cat.categories.dtype)
        if values.dtype == object or isinstance(values.dtype, pd.StringDtype):
            columns[str(name)] = pa.array(values.array, from_pandas=True)
        else:  # NaT is null anyway; a NaN only when asked for (which copies)
            array = values.to_numpy()
            columns[str(name)] = pa.array(array, from_pandas=array.dtype.kind == "f" and bool(np.isnan(array).any()))
    return pa.table(columns)


_configured: set[int] = set()
#: The embedded DuckDB's share of the machine's memory: up to three step kernels run side by
#: side, each with its own; past it DuckDB spills to the system's temporary folder.
MEMORY_SHARE = 0.25


def _configure_duckdb() -> None:
    """ibis's embedded DuckDB: no progress bar (it would print into logs), a memory limit
    (``MEMORY_SHARE`` of the machine, or ``SEGMENT_WORKBENCH_DUCKDB_MEMORY``, e.g. ``6GB``) and a
    temporary folder to spill to; a limit or folder already set on the connection is kept."""
    backend = ibis.get_backend()
    if backend.name == "duckdb" and id(backend) not in _configured:
        con = backend.con
        no_progress_bar(con)
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        limit, folder = con.execute(
            "SELECT current_setting('memory_limit'), current_setting('temp_directory')"
        ).fetchall()[0]
        if _bytes(limit) > 0.5 * memory:  # DuckDB's own default, 80% of the machine
            wanted = os.environ.get("SEGMENT_WORKBENCH_DUCKDB_MEMORY") or f"{int(MEMORY_SHARE * memory / 1e6)}MB"
            con.execute(f"SET memory_limit = '{wanted}'")
        if folder in ("", ".tmp"):
            con.execute(
                f"SET temp_directory = '{(Path(tempfile.gettempdir()) / 'segment-workbench-duckdb').as_posix()}'"
            )
        _configured.add(id(backend))


def _bytes(setting: str) -> float:
    """A DuckDB size setting ("18.8 GiB", "190.7 MiB") in bytes."""
    number, _, unit = setting.partition(" ")
    return float(number) * {"KiB": 2**10, "MiB": 2**20, "GiB": 2**30, "TiB": 2**40}.get(unit, 1)


def no_progress_bar(con) -> None:
    """Switch a DuckDB connection's progress bar off. In a Jupyter kernel without ipywidgets
    DuckDB refuses the setting — and draws no bar there anyway."""
    with contextlib.suppress(duckdb.InvalidInputException):
        con.execute("SET enable_progress_bar = false")


def lines_table(lines, columns: list[str] | None = None) -> ibis.Table:
    """Order lines as an ibis table: a pandas frame (``columns`` keeps those of them that it
    has), a ``.parquet`` or ``.csv`` path, or an ibis table, returned as it is; for a
    ``PurchaseDays``, its ``daily_lines`` (no order ids). Files need the cleaned lines' column
    names (amount, or quantity and unit_price), ISO dates and plain numbers; DuckDB scans them
    in pieces (spilling to disk past its memory limit), so they may be larger than memory."""
    if isinstance(lines, ibis.Table):
        return lines
    if isinstance(lines, PurchaseDays):
        return lines.daily_lines()
    _configure_duckdb()
    table = _read(lines, columns)
    if "amount" not in table.columns and {"quantity", "unit_price"} <= set(table.columns):
        table = table.mutate(amount=table.quantity * table.unit_price)  # as segment_workbench.io.schema does
    return table


def read_parquet(path: Path, **options) -> ibis.Table:
    """A Parquet file on the embedded DuckDB, as it is (``options``: DuckDB's ``read_parquet``'s,
    e.g. ``file_row_number=True``)."""
    _configure_duckdb()
    return ibis.read_parquet(path, **options)


def _read(lines, columns: list[str] | None) -> ibis.Table:
    if isinstance(lines, pd.DataFrame):
        wanted = columns + (["quantity", "unit_price"] if "amount" not in lines else []) if columns else list(lines)
        return ibis.memtable(arrow(lines, [c for c in dict.fromkeys(wanted) if c in lines]))
    path = Path(lines)
    if path.suffix.lower() == ".parquet":
        return ibis.read_parquet(path)
    if path.suffix.lower() == ".csv":  # ids stay text even when they look like numbers
        return ibis.read_csv(path, types={"customer_id": "VARCHAR", "order_id": "VARCHAR"})
    raise InputError(f"The engine reads Parquet and CSV files, not '{path.suffix}'.", file=str(path))


def late_lines(lines: ibis.Table, as_of: pd.Timestamp, limit: int = 5) -> tuple[int, pd.DataFrame]:
    """(customers with a purchase day after ``as_of``, up to ``limit`` of those lines), for
    the message of an error."""
    late = lines.filter(lines.order_date.date() > as_of.date())
    customers = int(late.customer_id.nunique().execute())
    shown = [c for c in ("source_row", "customer_id", "order_date") if c in late.columns]
    return customers, late.select(shown).order_by(shown).limit(limit).execute()


def exact(column: ibis.Column) -> ibis.Column:
    """The numbers as decimals with 9 places: their sums are exact, so they do not depend on
    the order in which the engine's threads add them up (a double's sum does, in its last
    bits, which made runs differ) and are the same on every backend."""
    return column.cast(ibis.expr.datatypes.Decimal(38, 9))


def exact_sum(column: ibis.Column) -> ibis.Column:
    return exact(column).sum().cast("float64")


def frame(expr: ibis.Table, order: list[str]) -> pd.DataFrame:
    """Run ``expr`` on its backend and return it sorted by ``order``, text as ``TEXT``, days
    as datetime64[ns]. The result is sorted locally, in the embedded DuckDB (byte order of
    text, whatever the database's collation; Arrow's own sort is twice as slow on text)."""
    result = duckdb.from_arrow(expr.to_pyarrow()).order(", ".join(f'"{c}"' for c in order)).to_arrow_table()
    days = [i for i, kind in enumerate(result.schema.types) if pa.types.is_date(kind)]
    for i in days:
        result = result.set_column(i, result.field(i).name, result.column(i).cast(pa.timestamp("ns")))
    return result.to_pandas(types_mapper={pa.string(): TEXT, pa.large_string(): TEXT}.get)


#: The columns of cleaned order lines a customer table reads (those the lines have).
LINE_COLUMNS = ["source_row", "customer_id", "order_id", "order_date", "quantity", "amount", "discount", "cost"]


@dataclass(frozen=True)
class PurchaseDays:
    """Order lines summed per customer and purchase day (the BTYD purchase unit), from which
    every column of the customer table comes: ``table`` holds customer_id, day, amount and
    quantity (discount and cost when the lines have them) as exact decimals, new_orders (orders
    whose first line is on that day) and log_gap (the natural log of the days since the
    customer's previous purchase day; null on the first). A customer table as of an earlier day
    is a filter of these rows (``before``), so ``cache()`` it once and build customer tables at
    many dates from it rather than from the lines. ``lines``: the lines, for error messages."""

    table: ibis.Table
    lines: ibis.Table

    def before(self, date: pd.Timestamp) -> PurchaseDays:
        """The purchase days before ``date`` (its time of day ignored), and their lines."""
        day = ibis.date(pd.Timestamp(date).date())
        return PurchaseDays(
            self.table.filter(self.table.day < day), self.lines.filter(self.lines.order_date.date() < day)
        )

    def cache(self) -> PurchaseDays:
        """Kept by the engine (a temporary table) until released or garbage-collected."""
        return PurchaseDays(self.table.cache(), self.lines)

    def daily_lines(self) -> ibis.Table:
        """One line per customer and purchase day: customer_id, order_date (the day, at
        midnight), amount and quantity (exact decimals); no order ids. What needs only purchase
        days and amounts (cohort cells, gaps between purchase days, activity in a window) gives
        the same numbers from it as from the lines, from a fraction of the rows."""
        t = self.table
        return t.select("customer_id", order_date=t.day.cast("timestamp"), amount=t.amount, quantity=t.quantity)

    def saved(self, path: Path) -> PurchaseDays:
        """Written to ``path`` (Parquet) and scanned from there, so later steps read the days
        rather than summing the lines again. Sorted by day and customer: the same bytes on every
        run, and a filter on days skips the row groups outside them."""
        self.table.order_by(["day", "customer_id"]).to_parquet(path)
        return PurchaseDays(read_parquet(path), self.lines)


def left_join(t: ibis.Table, right: ibis.Table, keys: list[str]) -> ibis.Table:
    """``t`` with ``right``'s other columns (null where no key matches)."""
    joined = t.left_join(right, [t[k] == right[k] for k in keys])
    return joined.select(*(t[c] for c in t.columns), *(right[c] for c in right.columns if c not in keys))


def purchase_days(lines) -> PurchaseDays:
    """``lines`` (as ``lines_table`` takes them; a ``PurchaseDays`` is returned as it is) summed
    per customer and purchase day."""
    if isinstance(lines, PurchaseDays):
        return lines
    lines = lines_table(lines, LINE_COLUMNS)
    summed = ["amount", "quantity", *(c for c in ("discount", "cost") if c in lines.columns)]
    t = lines.mutate(day=lines.order_date.date())
    daily = t.group_by(["customer_id", "day"]).aggregate(**{c: exact(t[c]).sum() for c in summed})
    orders = t.filter(t.order_id.notnull()).group_by(["customer_id", "order_id"]).aggregate(day=t.day.min())
    started = orders.group_by(["customer_id", "day"]).aggregate(new_orders=orders.count())
    daily = left_join(daily, started, ["customer_id", "day"])
    previous = daily.day.lag().over(ibis.window(group_by="customer_id", order_by="day"))
    return PurchaseDays(
        daily.mutate(
            new_orders=daily.new_orders.fill_null(0),
            log_gap=exact(daily.day.delta(previous, unit="day").cast("float64").ln()),
        ),
        lines,
    )


def customer_totals(days: PurchaseDays) -> pd.DataFrame:
    """One row per customer, sorted by customer_id, from their purchase days: first_purchase,
    last_purchase, purchase_days, revenue_total, first_day_revenue, log_gaps (the sum of the
    natural logs of the days between consecutive purchase days; 0 without repeats), n_orders
    (distinct order ids), total_quantity, and discount_total / cost_total when the lines have
    those columns."""
    d = days.table
    return frame(d.group_by("customer_id").aggregate(**totals(d)), ["customer_id"])


def totals(d: ibis.Table) -> dict[str, ibis.Value]:
    """``customer_totals``' aggregations of purchase days ``d`` (``PurchaseDays.table``)."""
    extra = {f"{c}_total": d[c].sum().cast("float64") for c in ("discount", "cost") if c in d.columns}
    return {
        "first_purchase": d.day.min(),
        "last_purchase": d.day.max(),
        "purchase_days": d.count(),
        "revenue_total": d.amount.sum().cast("float64"),
        "first_day_revenue": d.amount.argmin(d.day).cast("float64"),
        "log_gaps": d.log_gap.sum().cast("float64").coalesce(0.0),
        "n_orders": d.new_orders.sum().cast("int64"),
        "total_quantity": d.quantity.sum().cast("float64"),
        **extra,
    }


def _purchase_days(lines: ibis.Table) -> ibis.Table:
    """customer_id and day: one row per day on which a customer bought (the BTYD purchase unit)."""
    return lines.select("customer_id", day=lines.order_date.date()).distinct()


def gap_quantiles(lines: ibis.Table, quantiles: list[float]) -> list[float | None]:
    """Quantiles (interpolated, as pandas') of the days between consecutive purchase days of the
    same customer; None when nobody bought on two days."""
    days = _purchase_days(lines)
    previous = days.day.lag().over(ibis.window(group_by="customer_id", order_by="day"))
    gaps = days.mutate(gap=days.day.delta(previous, unit="day").cast("float64"))
    gaps = gaps.filter(gaps.gap.notnull())
    row = gaps.aggregate(**{f"q{i}": gaps.gap.quantile(q) for i, q in enumerate(quantiles)}).to_pyarrow()
    return [row.column(i)[0].as_py() for i in range(len(quantiles))]


def activity_between(lines: ibis.Table, after: pd.Timestamp, until: pd.Timestamp, orders: bool = False) -> pd.DataFrame:
    """Per customer with a purchase day in (after, until]: ``days`` (distinct purchase days),
    ``revenue`` (amount summed) and, with ``orders``, ``orders`` (distinct order ids). Sorted by
    customer_id."""
    day = lines.order_date.date()
    t = lines.filter((day > pd.Timestamp(after).date()) & (day <= pd.Timestamp(until).date()))
    sums = {"days": t.order_date.date().nunique(), "revenue": exact_sum(t.amount)}
    if orders:
        sums["orders"] = t.order_id.nunique()
    return frame(t.group_by("customer_id").aggregate(**sums), ["customer_id"])


def repeat_days_per_period(
    lines: ibis.Table, start: pd.Timestamp, first_by: pd.Timestamp, end: pd.Timestamp, per: float
) -> np.ndarray:
    """Repeat purchase days (after the customer's first) up to ``end`` of the customers whose
    first purchase day is on or before ``first_by``, counted per period of ``per`` days from
    ``start``: index k holds days in [start + k per, start + (k+1) per)."""
    days = _purchase_days(lines.filter(lines.order_date.date() <= end.date()))
    days = days.mutate(first=days.day.min().over(ibis.window(group_by="customer_id")))
    repeat = days.filter((days.day > days.first) & (days.first <= first_by.date()))
    period = (repeat.day.delta(ibis.date(start.date()), unit="day").cast("float64") / per).floor().cast("int64")
    counts = frame(repeat.group_by(period=period).aggregate(n=repeat.count()), ["period"])
    n_periods = int(np.ceil(((end - start).days + 1) / per))
    out = np.zeros(n_periods, dtype=np.int64)
    inside = counts["period"].between(0, n_periods - 1)
    out[counts.loc[inside, "period"].to_numpy()] = counts.loc[inside, "n"].to_numpy()
    return out


def main_value(lines: ibis.Table, column: str, weight: str | None = None) -> pd.Series:
    """Each customer's most frequent non-missing ``column`` over their lines (with ``weight``: the
    one with the largest sum of that column), ties to the first in sort order; indexed by
    customer_id."""
    t = lines.filter(lines[column].notnull())
    counts = t.group_by(["customer_id", column]).aggregate(n=t.count() if weight is None else exact_sum(t[weight]))
    rank = ibis.row_number().over(
        ibis.window(group_by="customer_id", order_by=[ibis.desc("n"), counts[column].cast("string")])
    )
    main = counts.mutate(rank=rank).filter(lambda c: c.rank == 0).select("customer_id", column)
    return frame(main, ["customer_id"]).set_index("customer_id")[column]


def activity_by_period(lines, until: pd.Timestamp, period: str = "M") -> ibis.Table:
    """Per customer and calendar period (``"W"`` weeks from Monday, ``"M"``, ``"Q"``) with a
    purchase day up to ``until``: ``period_start`` (its first day), ``days`` (purchase days),
    ``revenue`` (amount summed, exact) and ``orders`` (orders placed in it: an order whose lines
    span two periods counts in the first), as an expression: one pass serves every period
    (``cache()`` it, then filter). ``lines``: as ``purchase_days`` takes them, or their
    ``PurchaseDays``."""
    d = purchase_days(lines).table
    t = d.filter(d.day <= pd.Timestamp(until).date()).mutate(period_start=d.day.truncate(period))
    return t.group_by(["customer_id", "period_start"]).aggregate(
        days=t.count(), revenue=t.amount.sum().cast("float64"), orders=t.new_orders.sum().cast("int64")
    )


def monthly_amounts(lines: ibis.Table) -> pd.Series:
    """Amount summed by calendar month of the order date (a monthly PeriodIndex)."""
    month = lines.order_date.date().truncate("M")
    out = frame(lines.group_by(month=month).aggregate(amount=exact_sum(lines.amount)), ["month"])
    return pd.Series(out["amount"].to_numpy(), index=out["month"].dt.to_period("M"), name="amount")


def top_values(lines: ibis.Table, column: str, by: str = "amount", n: int = 3) -> list:
    """The ``n`` values of ``column`` with the largest sum of ``by`` (ties: sort order)."""
    t = lines.filter(lines[column].notnull())
    totals = t.group_by(column).aggregate(total=exact_sum(t[by]))
    return totals.order_by([ibis.desc("total"), column]).limit(n)[column].to_pyarrow().to_pylist()


def netted_returns(removed, before: pd.Timestamp | None = None) -> pd.Series:
    """Return lines netted against a purchase (the cleaning's ``return_netted``) per customer,
    from the removed rows (a frame, a Parquet path or an ibis table); only those dated before
    ``before`` when given. Indexed by customer_id; customers without any are absent."""
    if isinstance(removed, pd.DataFrame) and "reason" not in removed:
        return pd.Series(dtype="int64")
    t = lines_table(removed, ["customer_id", "order_date", "reason"])
    t = t.filter(t.reason == "return_netted")
    if before is not None:
        t = t.filter(t.order_date < before)
    counts = frame(t.group_by("customer_id").aggregate(n=t.count()), ["customer_id"])
    return counts.set_index("customer_id")["n"]


def align(values: pd.Series, ids: pd.Index) -> np.ndarray:
    """``values`` (indexed by customer_id) at each of ``ids``, in their order; NaN where absent.
    A hash join in the embedded DuckDB: pandas' reindex hashes millions of text ids in one
    thread, three to four times slower."""
    left = duckdb.from_arrow(pa.table({"customer_id": pa.array(ids.array), "_at": np.arange(len(ids))}))
    right = duckdb.from_arrow(pa.table({"customer_id": pa.array(values.index.array), "_value": values.to_numpy(float)}))
    joined = left.join(right, "customer_id", how="left").order("_at").select("_value").to_arrow_table()
    return joined.column(0).to_numpy(zero_copy_only=False).astype(float)


def first_day_lines(lines: ibis.Table) -> ibis.Table:
    """Each customer's lines on the day of their first purchase (a group-by joined back: a window
    over the customers would sort every line)."""
    firsts = lines.group_by(_customer=lines.customer_id).aggregate(_first=lines.order_date.date().min())
    joined = lines.join(firsts, [lines.customer_id == firsts._customer, lines.order_date.date() == firsts._first])
    return joined.select(*(lines[c] for c in lines.columns))


def customer_ids(lines) -> pd.Series:
    """The distinct customer ids of the lines (a frame, a Parquet path or an ibis table), sorted."""
    t = lines_table(lines, ["customer_id"])
    return frame(t.select("customer_id").distinct().filter(lambda t: t.customer_id.notnull()), ["customer_id"])[
        "customer_id"
    ]


def examples(rows, by: str = "reason", n: int = 3) -> pd.DataFrame:
    """Up to ``n`` rows per value of ``by`` (the first in source order), from a frame, a Parquet
    path or an ibis table; in source order."""
    t = lines_table(rows)
    first = ibis.row_number().over(ibis.window(group_by=by, order_by="source_row"))
    return frame(t.mutate(_n=first).filter(lambda t: t._n < n).drop("_n"), ["source_row"])


def day_span(lines: ibis.Table) -> tuple[int, pd.Timestamp | None, pd.Timestamp | None]:
    """(lines, first day, last day) of the lines with a date."""
    day = lines.order_date.date()
    row = lines.aggregate(n=lines.count(), first=day.min(), last=day.max()).to_pyarrow().to_pylist()[0]
    return row["n"], *(pd.Timestamp(row[k]) if row[k] is not None else None for k in ("first", "last"))


def cohort_cells(lines: ibis.Table, as_of: pd.Timestamp, period: str) -> pd.DataFrame:
    """One row per (cohort, period) with a purchase, up to ``as_of``: cohort and period are the
    first days of the calendar periods (``"W"`` weeks from Monday, ``"M"``, ``"Q"``) of the
    customer's first purchase and of the purchases; ``active`` counts distinct customers,
    ``revenue`` sums amount."""
    t = lines.filter(lines.order_date.date() <= as_of.date())
    t = t.mutate(start=t.order_date.date().truncate(period))
    first = t.group_by("customer_id").aggregate(cohort=t.start.min())
    joined = t.join(first, "customer_id")
    cells = joined.group_by(["cohort", "start"]).aggregate(
        active=joined.customer_id.nunique(), revenue=exact_sum(joined.amount)
    )
    out = frame(cells, ["cohort", "start"])
    for column in ("cohort", "start"):
        out[column] = out[column].dt.to_period(period)
    return out


def database_table(url: str, name: str) -> ibis.Table:
    """The table ``name`` in the database at a SQLAlchemy ``url``, as an ibis table: the
    aggregations of this module then run inside that database (pushdown), and only their
    results travel. PostgreSQL needs the ``postgres`` extra."""
    return connect_database(url).table(name)


def connect_database(url: str):
    """An ibis connection to the database at a SQLAlchemy ``url`` (the password comes with the
    URL, which the caller reads from the environment, never from a file it writes)."""
    from sqlalchemy.engine import make_url

    parts = make_url(url)
    backend = {"postgresql": "postgres"}.get(parts.get_backend_name(), parts.get_backend_name())
    return getattr(ibis, backend).connect(
        host=parts.host, port=parts.port, user=parts.username, password=parts.password, database=parts.database
    )


def spark_session(master: str = "local[2]", **conf: str):
    """A Spark session fit for the engine (``pip install segment-workbench[spark]``, Java 17):
    the session clock in UTC, so order dates without a zone keep their wall-clock time as on
    DuckDB; no web UI, no progress bars. ``master``: ``local[N]`` (N cores of this machine) or a
    cluster's URL (``spark://host:7077``, ``yarn``); ``conf``: more Spark settings."""
    from pyspark.sql import SparkSession

    settings = {
        "spark.sql.session.timeZone": "UTC",
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.sql.shuffle.partitions": "8",
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        **conf,
    }
    builder = SparkSession.builder.master(master).appName("segment-workbench")
    for key, value in settings.items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    return session


def spark_table(session, lines) -> ibis.Table:
    """Order lines on Spark as an ibis table: ``lines`` is the name of a table or view in the
    session's catalog (a warehouse table, a Delta or Parquet table registered there), or a
    pandas frame / Arrow table, sent to the session as a temporary view. The engine's
    expressions then run as Spark jobs."""
    con = ibis.pyspark.connect(session)
    if isinstance(lines, str):
        return con.table(lines)
    if isinstance(lines, pd.DataFrame):
        lines = arrow(lines, list(lines.columns))
    return con.create_view(f"lines_{id(lines):x}", ibis.memtable(lines), overwrite=True)
