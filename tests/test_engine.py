"""The engine's aggregations: the same numbers from a pandas frame, a Parquet file and a
PostgreSQL table (run inside the database), and every line accounted for."""

import os

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from segment_workbench.cleaning import rules as cleaning
from segment_workbench.customers import engine
from segment_workbench.customers import table as customers
from segment_workbench.io.collect import collect
from segment_workbench.lifecycle import cohorts

AS_OF = "2025-12-31"


@pytest.fixture(scope="module")
def lines():
    collected = collect({"kind": "synthetic", "n_customers": 400, "seed": 11})
    tx = cleaning.clean(collected.transactions, AS_OF).transactions
    return tx[["source_row", "customer_id", "order_id", "order_date", "quantity", "amount", "discount"]]


def _same_tables(a: pd.DataFrame, b: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(a.reset_index(drop=True), b.reset_index(drop=True), check_exact=False, rtol=1e-12)


def _same_cohorts(a: cohorts.CohortTables, b: cohorts.CohortTables) -> None:
    pd.testing.assert_series_equal(a.sizes, b.sizes)
    for name in ("retention", "revenue", "cumulative", "partial"):
        pd.testing.assert_frame_equal(getattr(a, name), getattr(b, name), check_exact=False, rtol=1e-12, obj=name)


def test_parquet_file_gives_the_frame_s_numbers(lines, tmp_path):
    path = tmp_path / "lines.parquet"
    lines.to_parquet(path)
    _same_tables(customers.build_customer_table(path, AS_OF), customers.build_customer_table(lines, AS_OF))
    _same_cohorts(cohorts.cohort_tables(path, AS_OF), cohorts.cohort_tables(lines, AS_OF))


@pytest.mark.xdist_group("runner")  # shares the worker's PostgreSQL server with the source test
def test_postgres_pushdown_equals_duckdb(lines, postgres):
    import sqlalchemy

    db = sqlalchemy.create_engine(postgres)
    lines.to_sql("clean_lines", db, index=False)
    db.dispose()
    table = engine.database_table(postgres, "clean_lines")
    for unit in ("weeks", "days"):
        in_db = customers.build_customer_table(table, AS_OF, unit)
        _same_tables(in_db, customers.build_customer_table(lines, AS_OF, unit))
    assert in_db["discount_share"].gt(0).any()  # the optional columns came through too
    for period in ("W", "M", "Q"):
        _same_cohorts(cohorts.cohort_tables(table, AS_OF, period), cohorts.cohort_tables(lines, AS_OF, period))
    with pytest.raises(Exception, match="after as_of 2025-06-30"):  # the late-purchase check runs in the database too
        customers.build_customer_table(table, "2025-06-30")
    history = engine.purchase_days(table).cache()  # a temporary table inside PostgreSQL
    earlier = pd.Timestamp("2025-07-01")
    _same_tables(
        customers.build_customer_table(history.before(earlier), "2025-06-30"),
        customers.build_customer_table(lines[lines["order_date"] < earlier], "2025-06-30"),
    )


def test_week_cohorts_start_on_monday():
    tx = pd.DataFrame(
        {
            "customer_id": ["a", "a", "b"],
            "order_id": ["1", "2", "3"],
            "quantity": 1.0,
            "amount": 10.0,
            "order_date": pd.to_datetime(["2025-12-07 23:00", "2025-12-08 01:00", "2025-12-08 00:00"]),
        }
    )  # Sun, Mon, Mon
    t = cohorts.cohort_tables(tx, "2025-12-14", "W")
    assert list(t.sizes) == [1, 1] and t.retention.iloc[0].tolist() == [1.0, 1.0]


def test_activity_per_month_counts_an_order_once_in_the_month_it_was_placed():
    """Order 1's lines span 31 January and 1 February: one order in January, its February line's
    revenue in February; every order is counted once over the months."""
    tx = pd.DataFrame(
        {
            "customer_id": ["a", "a", "a", "a", "b"],
            "order_id": ["1", "1", "2", "3", "4"],
            "amount": [10.0, 5.0, 7.0, 3.0, 4.0],
            "quantity": [1.0, 1.0, 1.0, 1.0, 1.0],
            "order_date": pd.to_datetime(
                ["2025-01-31 23:00", "2025-02-01 00:10", "2025-02-01 12:00", "2025-02-15 09:00", "2025-03-01 09:00"]
            ),
        }
    )
    t = engine.lines_table(tx)
    activity = engine.frame(engine.activity_by_period(t, pd.Timestamp("2025-02-28")), ["customer_id", "period_start"])
    assert activity["period_start"].tolist() == [pd.Timestamp("2025-01-01"), pd.Timestamp("2025-02-01")]
    assert activity[["days", "revenue", "orders"]].to_numpy().tolist() == [[1, 10.0, 1], [2, 15.0, 2]]  # b: after
    by_days = engine.activity_by_period(engine.purchase_days(t), pd.Timestamp("2025-02-28"))
    pd.testing.assert_frame_equal(engine.frame(by_days, ["customer_id", "period_start"]), activity)


def test_missing_numbers_in_a_frame_are_nulls_for_the_engine():
    tx = pd.DataFrame(
        {
            "customer_id": ["a", "a", "b"],
            "amount": [10.0, np.nan, 5.0],
            "order_date": pd.to_datetime(["2025-01-01", "2025-01-02", None]),
        }
    )
    lines = engine.lines_table(tx)
    assert lines.amount.count().execute() == 2  # a NaN would be counted
    assert lines.order_date.count().execute() == 2
    assert engine.lines_table(tx.dropna()).amount.count().execute() == 1


rows = st.lists(
    st.tuples(
        st.sampled_from(["a", "b", "B", "Z", "aa", "a b", "é", "ü"]),
        st.integers(0, 59),
        st.integers(0, 23),
        st.floats(0.01, 500, allow_nan=False),
    ),
    min_size=1,
    max_size=60,
)


@settings(max_examples=40, deadline=None)
@given(rows)
def test_every_line_is_accounted_for(sample):
    tx = pd.DataFrame(sample, columns=["customer_id", "day", "hour", "amount"])
    tx["order_date"] = pd.Timestamp("2025-01-01") + pd.to_timedelta(tx["day"], "D") + pd.to_timedelta(tx["hour"], "h")
    tx["order_id"] = tx.index.astype(str)
    tx["quantity"] = 1.0
    table = customers.build_customer_table(tx, "2025-03-31", "days")
    assert table["customer_id"].tolist() == sorted(tx["customer_id"].unique())  # code-point (UTF-8 byte) order
    assert np.isclose(table["revenue_total"].sum(), tx["amount"].sum())
    assert table["n_orders"].sum() == len(tx)
    assert (table["frequency"] + 1).sum() == len(tx[["customer_id", "day"]].drop_duplicates())
    first_day = (
        tx.loc[tx.groupby("customer_id")["day"].transform("min") == tx["day"]].groupby("customer_id")["amount"].sum()
    )
    repeat = table.set_index("customer_id")["monetary_value"] * table.set_index("customer_id")["frequency"]
    assert np.allclose(repeat.sort_index(), (tx.groupby("customer_id")["amount"].sum() - first_day).sort_index())
    months = cohorts.cohort_tables(tx, "2025-03-31")
    assert months.sizes.sum() == tx["customer_id"].nunique()
    assert np.isclose((months.revenue.mul(months.sizes, axis=0)).sum().sum(), tx["amount"].sum())


CHILD = """
import re, resource, sys
from pathlib import Path
import ibis
from segment_workbench.customers import table as customers
from segment_workbench.io.collect import collect
from segment_workbench.errors import InputError
used = int(re.search(r"VmSize:\\s+(\\d+) kB", Path("/proc/self/status").read_text()).group(1)) * 1024
resource.setrlimit(resource.RLIMIT_AS, (used + 2**30, resource.RLIM_INFINITY))
try:
    collect({"kind": "csv", "path": sys.argv[1]})
    print("collected")
except InputError as e:
    print("refused:", str(e).splitlines()[0])
# DuckDB does not survive an address-space limit (it crashes instead of failing an allocation);
# its own memory limit is the one it honours, spilling to disk beyond it
resource.setrlimit(resource.RLIMIT_AS, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
ibis.get_backend().raw_sql("SET threads=1; SET memory_limit='200MB'; SET temp_directory='spill'")
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
table = customers.build_customer_table(Path(sys.argv[1]), "2025-12-31")
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - before)
table.to_parquet(sys.argv[2])
"""


@pytest.mark.slow
def test_a_file_larger_than_memory_is_aggregated_by_duckdb(tmp_path):
    """A 0.5 GB CSV: collecting it as a frame would need ~9x its size, which the child may not
    allocate (refused with the message); DuckDB, limited to 100 MB, scans it, and the process
    grows by far less than the file. The table equals the one built from the frame."""
    import subprocess
    import sys

    rng = np.random.default_rng(0)
    n = 500_000
    block = pd.DataFrame(
        {
            "customer_id": np.char.add("#", rng.integers(0, 20_000, n).astype(str)),
            "order_id": np.char.add("#", rng.integers(0, 10**8, n).astype(str)),
            "order_date": pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 700 * 86400, n), "s"),
            "quantity": rng.integers(1, 5, n).astype(float),
            "amount": rng.gamma(2, 20, n).round(2),
        }
    )
    text = block.to_csv(index=False, header=False)
    path, out = tmp_path / "lines.csv", tmp_path / "table.parquet"
    with path.open("w") as f:  # 20 copies of the block, each with its own customers and orders
        f.write(",".join(block.columns) + "\n")
        for copy in range(20):
            f.write(text.replace("#", f"C{copy}-"))
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(path), str(out)], capture_output=True, text=True, timeout=600, cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    refused, grown = proc.stdout.splitlines()
    assert refused.startswith("refused: The file is too large to read here"), refused
    assert int(grown) < path.stat().st_size / 2, f"grew by {int(grown) / 1e6:.0f} MB: the file was held in memory"
    table = pd.read_parquet(out)
    assert len(table) == 20 * block["customer_id"].nunique()
    assert table["revenue_total"].sum() == pytest.approx(20 * block["amount"].sum(), rel=1e-9)
    first = table[table["customer_id"].str.startswith("C0-")].reset_index(drop=True)
    expected = customers.build_customer_table(
        block.assign(
            customer_id=block["customer_id"].str.replace("#", "C0-"), order_id=block["order_id"].str.replace("#", "C0-")
        ),
        "2025-12-31",
    )
    _same_tables(first.astype({"customer_id": expected["customer_id"].dtype}), expected)


def test_the_duckdb_memory_limit_comes_from_the_environment():
    """The runner gives each step's kernel its DuckDB memory through the environment."""
    import subprocess
    import sys

    code = (
        "import ibis; from segment_workbench.customers import engine; engine._configure_duckdb(); "
        "print(ibis.get_backend().con.execute(\"SELECT current_setting('memory_limit')\").fetchone()[0])"
    )
    env = {**os.environ, "SEGMENT_WORKBENCH_DUCKDB_MEMORY": "3000MB"}
    shown = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    assert engine._bytes(shown.strip()) == pytest.approx(3000e6, rel=0.05)  # DuckDB shows it as '2.7 GiB'
