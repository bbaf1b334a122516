import numpy as np
import pandas as pd
import pytest
from support import make_tx

from segment_workbench.customers import engine
from segment_workbench.customers import table as customers
from segment_workbench.customers.running import RunningTotals
from segment_workbench.errors import ConfigError, InputError
from segment_workbench.io import artifacts

AS_OF = "2024-03-31"
TX = make_tx(
    [
        # customer a: two orders on 1 Jan (one purchase day worth 20), then 15 Jan (30), 12 Feb (10)
        {"customer_id": "a", "order_id": "1", "order_date": "2024-01-01 09:00", "quantity": 2, "unit_price": 5.0},
        {"customer_id": "a", "order_id": "1", "order_date": "2024-01-01 09:00", "quantity": 1, "unit_price": 5.0},
        {"customer_id": "a", "order_id": "2", "order_date": "2024-01-01 18:00", "quantity": 1, "unit_price": 5.0},
        {"customer_id": "a", "order_id": "3", "order_date": "2024-01-15 12:00", "quantity": 3, "unit_price": 10.0},
        {"customer_id": "a", "order_id": "4", "order_date": "2024-02-12 08:00", "quantity": 1, "unit_price": 10.0},
        # customer b: one order on the as_of day itself
        {"customer_id": "b", "order_id": "5", "order_date": "2024-03-31 20:00", "quantity": 2, "unit_price": 50.0},
    ]
)


def test_customer_table_against_hand_computed_values():
    table = customers.build_customer_table(TX, AS_OF, "weeks").set_index("customer_id")
    a, b = table.loc["a"], table.loc["b"]
    assert (a["first_purchase"], a["last_purchase"]) == (pd.Timestamp("2024-01-01"), pd.Timestamp("2024-02-12"))
    assert a["n_orders"] == 4 and a["frequency"] == 2  # 3 purchase days
    assert a["recency"] == pytest.approx(42 / 7)  # 1 Jan -> 12 Feb
    assert a["T"] == pytest.approx(90 / 7)  # 1 Jan -> 31 Mar 2024 (leap year)
    assert a["days_since_last_order"] == 48 and a["tenure_days"] == 90
    assert a["revenue_total"] == 60 and a["avg_order_value"] == 15
    assert a["monetary_value"] == pytest.approx((30 + 10) / 2)  # repeat days only
    assert a["total_quantity"] == 8
    assert b["frequency"] == 0 and b["recency"] == 0 and b["T"] == 0 and b["monetary_value"] == 0
    assert b["days_since_last_order"] == 0 and b["revenue_total"] == 100
    assert table.attrs == {}  # the run's as_of and time unit are written with it, not carried in attrs


@pytest.mark.parametrize("unit, days", [("days", 1), ("months", 365.25 / 12)])
def test_time_units(unit, days):
    table = customers.build_customer_table(TX, AS_OF, unit).set_index("customer_id")
    assert table.loc["a", "T"] == pytest.approx(90 / days)


def test_bad_time_unit_and_purchases_after_as_of():
    with pytest.raises(ConfigError):
        customers.build_customer_table(TX, AS_OF, "years")
    with pytest.raises(InputError, match=r"^1 customer\(s\) have purchases after as_of 2024-03-30") as late:
        customers.build_customer_table(TX, "2024-03-30")
    assert late.value.rows["customer_id"].tolist() == ["b"]
    assert late.value.rows["order_date"].tolist() == [pd.Timestamp("2024-03-31 20:00")]


def test_discount_share_and_data_dictionary():
    tx = TX.assign(discount=[0, 0, 0, 10.0, 0, 0])
    table = customers.build_customer_table(tx, AS_OF).set_index("customer_id")
    assert table.loc["a", "discount_share"] == pytest.approx(10 / 70)
    meanings = customers.data_dictionary(table.reset_index(), "weeks").set_index("column")["meaning"]
    assert "in weeks" in meanings["T"]


def test_the_run_metadata_is_written_with_the_customer_table(tmp_path):
    table = customers.build_customer_table(TX, AS_OF, "days")
    artifacts.write_customers(table, tmp_path, artifacts.RunMeta(pd.Timestamp(AS_OF), "days"))
    meta = artifacts.run_meta(tmp_path)
    assert meta == artifacts.RunMeta(pd.Timestamp("2024-03-31"), "days")
    pd.testing.assert_frame_equal(artifacts.read(tmp_path, artifacts.CUSTOMERS), table)
    meta.check_time_unit("days")
    with pytest.raises(ConfigError, match="The customer table is in days, but time_unit is weeks"):
        meta.check_time_unit("weeks")
    artifacts.write(table, tmp_path, artifacts.CUSTOMERS)  # without metadata: an older run
    with pytest.raises(InputError, match="does not say its as_of"):
        artifacts.run_meta(tmp_path)


def test_reading_some_columns_of_an_artifact(tmp_path):
    artifacts.write(TX, tmp_path, "transactions.parquet")
    lines = artifacts.read(tmp_path, "transactions.parquet", columns=engine.LINE_COLUMNS)
    assert list(lines) == [c for c in engine.LINE_COLUMNS if c in TX]  # no discount or cost in TX: skipped
    assert "unit_price" not in lines and len(lines) == len(TX)
    pd.testing.assert_frame_equal(
        customers.build_customer_table(lines, AS_OF), customers.build_customer_table(TX, AS_OF)
    )


def test_an_as_of_far_past_the_last_order_stops_naming_both_dates():
    customers.check_as_of(TX, pd.Timestamp("2024-04-30"))  # a month after: fine
    with pytest.raises(
        InputError, match=r"^as_of 2025-06-30 is 456 days after the last order in the data \(2024-03-31\)"
    ):
        customers.check_as_of(TX, pd.Timestamp("2025-06-30"))
    weekly = make_tx(
        [
            {
                "customer_id": c,
                "order_id": f"{c}{i}",
                "order_date": f"2024-01-{1 + 7 * i:02d}",
                "quantity": 1,
                "unit_price": 1.0,
            }
            for c in "ab"
            for i in range(4)
        ]
    )  # one purchase a week, the last on 22 January: three gaps are 21 days, below the 90-day floor
    customers.check_as_of(weekly, pd.Timestamp("2024-04-21"))
    with pytest.raises(InputError, match="more than 90 days"):
        customers.check_as_of(weekly, pd.Timestamp("2024-04-22"))
    quarterly = make_tx(
        [
            {"customer_id": "a", "order_id": str(i), "order_date": d, "quantity": 1, "unit_price": 1.0}
            for i, d in enumerate(["2023-01-01", "2023-03-02", "2023-05-01"])
        ]
    )  # gaps of 60 days: three of them, 180
    customers.check_as_of(quarterly, pd.Timestamp("2023-10-28"))
    with pytest.raises(InputError, match="more than 180 days"):
        customers.check_as_of(quarterly, pd.Timestamp("2023-10-29"))


def test_customer_tables_at_earlier_dates_from_one_cached_pass():
    """A table as of an earlier day, from the cached purchase days, equals one from the lines
    before that day; an order whose lines span two days counts once, on its first day."""
    spanning = make_tx(
        [{"customer_id": "a", "order_id": "3", "order_date": "2024-01-16 08:00", "quantity": 1, "unit_price": 4.0}]
    )
    tx = pd.concat([TX, spanning.assign(source_row=7)], ignore_index=True)
    history = engine.purchase_days(tx).cache()
    for day in ["2024-01-02", "2024-01-16", "2024-01-17", "2024-04-01"]:
        date = pd.Timestamp(day)
        from_history = customers.build_customer_table(history.before(date), date - pd.Timedelta(days=1))
        from_lines = customers.build_customer_table(tx[tx["order_date"] < date], date - pd.Timedelta(days=1))
        pd.testing.assert_frame_equal(from_history, from_lines)
    a = from_history.set_index("customer_id").loc["a"]
    assert a["n_orders"] == 4 and a["frequency"] == 3  # order 3 spans 15 and 16 Jan: 4 purchase days
    assert a["revenue_total"] == 64 and a["total_quantity"] == 9
    early = customers.build_customer_table(history.before(pd.Timestamp("2024-01-16")), "2024-01-15")
    assert early.set_index("customer_id").loc["a", "n_orders"] == 3  # orders 1, 2 and 3 by 15 Jan


def test_running_totals_add_each_stretch_of_days_to_the_totals_before():
    """Totals at increasing dates, each adding only the days since the date before, equal those
    of one pass over the days before each date; an earlier date starts again. Customer b's cost
    is missing on its first day and known on its second: missing only while no day knows it."""
    tx = pd.concat(
        [
            TX.assign(cost=[1.0, 1.0, 1.0, 3.0, None, None]),
            make_tx(
                [{"customer_id": "b", "order_id": "6", "order_date": "2024-04-02", "quantity": 1, "unit_price": 7.0}]
            ).assign(source_row=7, cost=2.5),
        ],
        ignore_index=True,
    )
    history = engine.purchase_days(tx).cache()
    running = RunningTotals(history)
    assert running.before(pd.Timestamp("2023-12-01")).empty
    for day in ["2024-01-02", "2024-01-15", "2024-02-13", "2024-04-01", "2024-04-03", "2024-01-16", "2024-04-03"]:
        pd.testing.assert_frame_equal(running.before(pd.Timestamp(day)), engine.customer_totals(history.before(day)))
    at = running.before(pd.Timestamp("2024-04-03")).set_index("customer_id")
    assert at.loc["a", "n_orders"] == 4 and at.loc["a", "purchase_days"] == 3 and at.loc["a", "revenue_total"] == 60
    assert at.loc["a", "first_day_revenue"] == 20 and at.loc["a", "cost_total"] == 6
    assert at.loc["b", "first_purchase"] == pd.Timestamp("2024-03-31") and at.loc["b", "cost_total"] == 2.5
    assert at.loc["b", "first_day_revenue"] == 100 and at.loc["b", "log_gaps"] == pytest.approx(np.log(2))
    b_in_march = running.before(pd.Timestamp("2024-04-01")).set_index("customer_id").loc["b"]
    assert np.isnan(b_in_march["cost_total"]) and b_in_march["revenue_total"] == 100
    table = customers.table_before(running, pd.Timestamp("2024-04-03"))
    pd.testing.assert_frame_equal(table, customers.build_customer_table(tx, "2024-04-02"))
