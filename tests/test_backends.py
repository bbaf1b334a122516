"""The same cleaning and aggregation expressions on every backend: on DuckDB (the lines as a
frame), inside PostgreSQL and on Spark (local mode), the demo shop and a messy export give the
same cleaning log, the same removed rows with the same rule and reason, the same customer table
and the same cohort matrices."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import pytest
from support import TEST_DATA

from segment_workbench.cleaning import rules as cleaning
from segment_workbench.customers import engine
from segment_workbench.customers import table as customers
from segment_workbench.io.collect import collect
from segment_workbench.lifecycle import cohorts

MESSY_SETTINGS = {"non_product_codes": ["POST"], "max_line_amount": 2000}


@dataclass
class Source:
    raw: pd.DataFrame
    as_of: str
    settings: dict
    source_columns: dict


@dataclass
class Outcome:
    log: pd.DataFrame
    removed: pd.DataFrame  # source_row, rule, reason
    customers: pd.DataFrame
    cohorts: dict[str, cohorts.CohortTables]


@pytest.fixture(scope="module", params=["demo", "messy"])
def source(request) -> Source:
    return Source(*_demo_parts()) if request.param == "demo" else messy()


def _demo_parts() -> tuple:
    collected = collect({"kind": "synthetic", "n_customers": 300, "seed": 11})
    return collected.transactions, "2025-12-31", {}, collected.source_columns


def messy() -> Source:
    """tests/data/messy_orders.csv: 40 customers' lines with every kind of dirt planted at the end."""
    collected = collect({"kind": "csv", "path": str(TEST_DATA / "messy_orders.csv")})
    return Source(collected.transactions, "2024-12-31", MESSY_SETTINGS, collected.source_columns)


def outcome(lines, source: Source) -> Outcome:
    """Clean ``lines`` where they live, then build the customer table and the cohort matrices
    from the kept lines there."""
    result = cleaning.clean_lines(lines, source.as_of, source.settings, source_columns=source.source_columns)
    try:
        removed = engine.frame(result.removed.select("source_row", "rule", "reason"), ["source_row"])
        table = customers.build_customer_table(result.kept, source.as_of)
        matrices = {period: cohorts.cohort_tables(result.kept, source.as_of, period) for period in ("M", "Q")}
    finally:
        result.release()
    return Outcome(result.log, removed, table, matrices)


@pytest.fixture(scope="module")
def on_duckdb(source) -> Outcome:
    return outcome(source.raw, source)


def assert_same(got: Outcome, expected: Outcome) -> None:
    pd.testing.assert_frame_equal(got.log, expected.log, check_exact=False, rtol=1e-12)
    pd.testing.assert_frame_equal(got.removed, expected.removed)
    pd.testing.assert_frame_equal(got.customers, expected.customers, check_exact=False, rtol=1e-12)
    for period, tables in expected.cohorts.items():
        pd.testing.assert_series_equal(got.cohorts[period].sizes, tables.sizes)
        for name in ("retention", "revenue", "cumulative", "partial"):
            pd.testing.assert_frame_equal(
                getattr(got.cohorts[period], name), getattr(tables, name), check_exact=False, rtol=1e-12, obj=name
            )


def test_duckdb_cleaning_accounts_for_every_row_with_its_rule_and_reason(source, on_duckdb):
    log, removed = on_duckdb.log, on_duckdb.removed
    assert log["rows_removed"].sum() == len(removed) and removed[["rule", "reason"]].notna().all().all()
    reasons = {rule.name: set(rule.reasons) for rule in cleaning.RULES}
    assert all(reason in reasons[rule] for rule, reason in zip(removed["rule"], removed["reason"]))
    kept = len(source.raw) - len(removed)
    assert log["rows_remaining"].iloc[-1] == kept
    # the pandas entry point is the same engine run, brought back as frames
    result = cleaning.clean(source.raw, source.as_of, source.settings, source_columns=source.source_columns)
    assert len(result.transactions) == kept
    pd.testing.assert_frame_equal(result.log, log)
    assert result.removed["source_row"].tolist() == removed["source_row"].tolist()


def test_messy_fixture_meets_every_rule():
    source = messy()
    on_duckdb = outcome(source.raw, source)
    removed = on_duckdb.removed.merge(source.raw[["source_row", "order_id"]], on="source_row")
    reason = dict(zip(removed["order_id"], removed["reason"]))
    assert {order: reason.get(order) for order in PLANTED} == PLANTED
    assert removed.loc[removed["reason"] == "repeated_header_row", "source_row"].tolist() == [58, 191]
    assert removed.loc[removed["reason"] == "missing_customer_id", "source_row"].tolist() == [6, 78, 141]
    assert (removed["reason"] == "exact_duplicate").sum() == 8  # the 3 planted copies and 5 repeated lines
    log = on_duckdb.log.set_index("rule")
    assert log.at["customer_id_case", "rows_adjusted"] == 5  # c002 x3, c015, and Ab9 (tied with AB9: byte order)
    assert log.loc["cancellations", "rows_adjusted"].sum() == 2  # O91000 (5 -> 4) and one random purchase
    ids = set(on_duckdb.customers["customer_id"])
    assert "AB9" in ids and not {"Ab9", "c002", "c015"} & ids


#: The messy fixture's planted lines (order id -> reason), written by hand at its end.
PLANTED = {
    "O90003": "test_order",
    "O90004": "test_order",
    "O90005": "unparseable_date",
    "O90006": "after_as_of",
    "O90007": "cancelled_status",
    "O90008": "cancelled_status",
    "O90009": "missing_or_zero_quantity",
    "O90010": "missing_or_zero_quantity",
    "O90011": "missing_zero_or_negative_price",
    "O90012": "missing_zero_or_negative_price",
    "O90013": "missing_zero_or_negative_price",
    "O90014": "non_product_line",
    "O90015": "line_amount_above_limit",
    "O91000": None,  # kept, 5 -> 4 (the return's fourth unit)
    "O91001": "purchase_fully_returned",  # the latest purchase before the return goes first
    "C91002": "return_netted",
    "C91003": "return_without_matching_purchase",  # returned before the purchase
    "O91004": None,
    "O91005": "purchase_fully_returned",
    "O91006": "return_netted",  # a negative quantity without the C marker
    "C91008": "return_without_matching_purchase",
}


def test_postgres_cleans_and_aggregates_as_duckdb_does(source, on_duckdb, postgres):
    con = engine.connect_database(postgres)
    name = f"raw_{len(source.raw)}"
    con.create_table(name, engine.arrow(source.raw, list(source.raw.columns)), overwrite=True)
    assert_same(outcome(con.table(name), source), on_duckdb)


def test_spark_cleans_and_aggregates_as_duckdb_does(source, on_duckdb, spark):
    assert_same(outcome(engine.spark_table(spark, source.raw), source), on_duckdb)


def test_cleaning_inside_postgres_fetches_only_per_customer_rows(postgres):
    """The demo shop's raw lines are cleaned and aggregated inside PostgreSQL: what crosses into
    Python (rows fetched, counted by the connection's cursors) is the log, the customer table,
    the cohort cells and a sample of removed rows, never the lines."""
    import psycopg

    source = Source(*_demo_parts())
    con = engine.connect_database(postgres)
    con.create_table("raw_demo", engine.arrow(source.raw, list(source.raw.columns)), overwrite=True)
    fetched = []

    class Counting:
        def fetchall(self):
            rows = super().fetchall()
            fetched.append(len(rows))
            return rows

        def fetchmany(self, size=0):
            rows = super().fetchmany(size)
            fetched.append(len(rows))
            return rows

        def fetchone(self):
            row = super().fetchone()
            fetched.append(row is not None)
            return row

    con.con.cursor_factory = type("CountingCursor", (Counting, psycopg.Cursor), {})
    con.con.server_cursor_factory = type("CountingServerCursor", (Counting, psycopg.ServerCursor), {})
    result = cleaning.clean_lines(con.table("raw_demo"), source.as_of, source.settings)
    try:
        table = customers.build_customer_table(result.kept, source.as_of)
        sample = engine.examples(result.removed, "reason", 3)
        matrices = cohorts.cohort_tables(result.kept, source.as_of, "M")
    finally:
        result.release()
    cells = int(matrices.retention.notna().to_numpy().sum())
    assert sum(fetched) <= 2 * len(table) + cells + len(sample) + 200  # per customer (twice), cells, sample, log
    print(f"{sum(fetched):,} rows fetched for {len(source.raw):,} lines and {len(table):,} customers")
    assert sum(fetched) < len(source.raw) / 5
    assert set(sample["reason"]) == set(result.log["reason"]) - {""} and len(sample) <= 3 * len(set(sample["reason"]))
    on_duckdb = cleaning.clean(source.raw, source.as_of, source.settings)
    pd.testing.assert_frame_equal(result.log, on_duckdb.log)
    assert "s3cret" not in repr(result.kept) and not any("s3cret" in str(v) for v in vars(result).values())


@pytest.fixture(scope="module")
def large_demo() -> Source:
    """A demo shop of some 480k lines: several of the Parquet writer's row groups, so an order
    lost by DuckDB's threads would show."""
    collected = collect({"kind": "synthetic", "n_customers": 25_000, "seed": 5})
    return Source(collected.transactions, "2025-12-31", {}, collected.source_columns)


@pytest.mark.parametrize("which", ["messy", "large"])
def test_cleaning_into_files_equals_cleaning_where_the_lines_are(which, large_demo, tmp_path):
    source = messy() if which == "messy" else large_demo
    files = cleaning.clean_files(
        source.raw,
        source.as_of,
        source.settings,
        kept=tmp_path / "kept.parquet",
        removed=tmp_path / "removed.parquet",
        source_columns=source.source_columns,
    )
    frames = cleaning.clean(source.raw, source.as_of, source.settings, source_columns=source.source_columns)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kept.parquet", "removed.parquet"]  # nothing left behind
    pd.testing.assert_frame_equal(files.log, frames.log)
    kept, removed = pd.read_parquet(files.transactions), pd.read_parquet(files.removed)
    assert kept["source_row"].is_monotonic_increasing and removed["source_row"].is_monotonic_increasing
    assert kept["source_row"].tolist() == frames.transactions["source_row"].tolist()
    assert removed[["source_row", "rule", "reason"]].equals(
        frames.removed[["source_row", "rule", "reason"]].astype(removed[["source_row", "rule", "reason"]].dtypes)
    )
    assert kept["amount"].sum() == pytest.approx(frames.transactions["amount"].sum(), rel=1e-12)
    assert files.summary["rows_removed"] == len(removed) > 0
