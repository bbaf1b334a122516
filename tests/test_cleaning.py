from collections import Counter

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support import make_tx

from segment_workbench.cleaning import rules as cleaning
from segment_workbench.datasets import synthetic
from segment_workbench.errors import ConfigError, InputError
from segment_workbench.io.collect import collect

AS_OF = pd.Timestamp("2024-06-30")


def _line(**kw):
    base = {
        "customer_id": "a",
        "order_id": "o1",
        "order_date": "2024-01-10",
        "quantity": 1,
        "unit_price": 10.0,
        "product_id": "P1",
        "product_name": "Mug",
    }
    base.update(kw)
    return base


def _removed(result, reason):
    return sorted(result.removed.loc[result.removed["reason"] == reason, "source_row"])


@pytest.mark.parametrize("labels", ["category", "string"])
def test_each_simple_rule_removes_exactly_its_rows(labels):
    tx = make_tx(
        [
            _line(),  # 1 kept
            _line(customer_id=None, order_id="o2"),  # 2 missing id
            _line(customer_id="TEST-9", order_id="o3"),  # 3 test order (customer pattern)
            _line(order_id="o4", product_name="Test order please ignore"),  # 4 test order (product pattern)
            _line(order_id="o5", order_date=None),  # 5 unparseable date
            _line(order_id="o6", order_date="2024-07-01"),  # 6 after as_of
            _line(order_id="o6b", order_date="2024-06-30 23:59"),  # 7 kept: as_of day is included
            _line(order_id="o7", quantity=0),  # 8 zero quantity
            _line(order_id="o8", quantity=np.nan),  # 9 missing quantity
            _line(order_id="o9", unit_price=0.0),  # 10 free item
            _line(order_id="o10", unit_price=-3.0),  # 11 negative price
            _line(order_id="o11", unit_price=np.nan),  # 12 unparseable price
            _line(order_id="o12", product_id="POST"),  # 13 postage
            _line(order_id="o13", unit_price=5000.0),  # 14 above max_line_amount
            _line(),  # 15 duplicate of 1
            _line(order_id="o14", status="voided"),  # 16 cancelled status
        ]
    )
    tx = tx.astype(
        dict.fromkeys(("product_id", "product_name", "status"), labels)
    )  # as 01_collect types them, or plain text
    result = cleaning.clean(tx, AS_OF, {"non_product_codes": ["POST"], "max_line_amount": 1000})
    assert result.transactions["source_row"].tolist() == [1, 7]
    assert _removed(result, "missing_customer_id") == [2]
    assert _removed(result, "test_order") == [3, 4]
    assert _removed(result, "unparseable_date") == [5]
    assert _removed(result, "after_as_of") == [6]
    assert _removed(result, "cancelled_status") == [16]
    assert _removed(result, "missing_or_zero_quantity") == [8, 9]
    assert _removed(result, "missing_zero_or_negative_price") == [10, 11, 12]
    assert _removed(result, "non_product_line") == [13]
    assert _removed(result, "line_amount_above_limit") == [14]
    assert _removed(result, "exact_duplicate") == [15]
    log = result.log.set_index("reason")
    assert log.loc["test_order", "rows_removed"] == 2 and log.loc["test_order", "revenue_removed"] == 20.0
    assert log.loc["line_amount_above_limit", "revenue_removed"] == 5000.0


def test_skip_switches_a_rule_off_and_unknown_rule_is_an_error():
    tx = make_tx([_line(), _line()])
    assert len(cleaning.clean(tx, AS_OF, {"skip": ["duplicate_rows"]}).transactions) == 2
    with pytest.raises(
        ConfigError, match="cleaning.skip: 'duplicates' is not an allowed value. Did you mean 'duplicate_rows'"
    ):
        cleaning.clean(tx, AS_OF, {"skip": ["duplicates"]})


def test_returns_are_netted_latest_purchase_first():
    tx = make_tx(
        [
            _line(order_id="o1", order_date="2024-01-01", quantity=5, unit_price=2.0),  # 1: reduced 5 -> 4
            _line(order_id="o2", order_date="2024-01-10", quantity=3, unit_price=2.0),  # 2: fully returned
            _line(order_id="C9", order_date="2024-01-12", quantity=-4, unit_price=2.0),  # 3: the return (4 units)
            _line(
                order_id="o3", order_date="2024-01-20", quantity=2, unit_price=2.0
            ),  # 4: bought after the return: untouched
            _line(customer_id="b", order_id="C8", quantity=-1, product_id="P2"),  # 5: nothing to net against
            _line(
                customer_id="c", order_id="C7", order_date="2024-01-01", quantity=-1
            ),  # 6: return before the purchase
            _line(customer_id="c", order_id="o4", order_date="2024-02-01", quantity=1),  # 7: kept
            _line(customer_id="d", order_id="o5", quantity=-2, unit_price=3.0),  # 8: negative qty, no marker
            _line(
                customer_id="d", order_id="o6", order_date="2024-01-05", quantity=2, unit_price=3.0
            ),  # 9: fully returned
        ]
    )
    result = cleaning.clean(tx, AS_OF)
    kept = result.transactions.set_index("source_row")
    assert sorted(kept.index) == [1, 4, 7]
    assert kept.loc[1, "quantity"] == 4 and kept.loc[1, "amount"] == 8.0
    assert _removed(result, "return_netted") == [3, 8]
    assert _removed(result, "purchase_fully_returned") == [2, 9]
    assert _removed(result, "return_without_matching_purchase") == [5, 6]
    row = result.log[result.log["rule"] == "cancellations"].iloc[0]
    assert row["rows_adjusted"] == 1 and row["revenue_adjusted"] == -2.0


def test_returns_without_product_ids_are_netted_by_amount():
    tx = make_tx(
        [
            {"customer_id": "a", "order_id": "o1", "order_date": "2024-01-01", "quantity": 2, "unit_price": 10.0},
            {"customer_id": "a", "order_id": "C1", "order_date": "2024-01-03", "quantity": -1, "unit_price": 5.0},
        ]
    )
    result = cleaning.clean(tx, AS_OF)
    assert result.transactions["amount"].tolist() == [15.0]
    assert result.transactions["unit_price"].tolist() == [7.5]


def test_all_rows_removed_is_a_clear_error():
    tx = make_tx([_line(customer_id=None), _line(customer_id=None, order_id="o2")])
    with pytest.raises(InputError) as err:
        cleaning.clean(tx, AS_OF, file="raw.parquet")
    assert "removed every row" in str(err.value) and "missing_customer_id" in str(err.value)


def test_demo_cleaning_log_equals_the_planted_dirt():
    demo = synthetic.generate(n_customers=1500, seed=7)
    collected = collect({"kind": "synthetic", "n_customers": 1500, "seed": 7})
    result = cleaning.clean(collected.transactions, synthetic.END)
    removed = result.log.groupby("reason")["rows_removed"].sum()
    planted = demo.planted
    assert removed["missing_customer_id"] == planted["missing_customer_id"]
    assert removed["test_order"] == planted["test_orders"]
    assert removed["unparseable_date"] == planted["unparseable_date"]
    assert removed["after_as_of"] == planted["future_date"]
    assert removed["missing_zero_or_negative_price"] == planted["invalid_price"]
    assert removed["exact_duplicate"] == planted["duplicate_rows"]
    assert removed["return_netted"] == planted["cancellation_lines"]
    assert removed["purchase_fully_returned"] == planted["fully_returned_purchases"]
    assert result.log["rows_adjusted"].sum() == planted["partially_returned_purchases"]
    assert removed.get("return_without_matching_purchase", 0) == 0


# --- the accounting invariant on random dirty data -------------------------------------

_line_strategy = st.fixed_dictionaries(
    {
        "customer_id": st.sampled_from(["a", "b", "c", None, "TEST-1"]),
        "order_id": st.sampled_from(["o1", "o2", "o3", "C1", "C2"]),
        "order_date": st.sampled_from(["2024-01-01", "2024-02-15 10:00", "2024-06-30", "2024-08-01", None]),
        "quantity": st.sampled_from([1, 2, 5, 0, -1, -3, np.nan]),
        "unit_price": st.sampled_from([1.0, 2.5, 10.0, 0.0, -2.0, np.nan]),
        "product_id": st.sampled_from(["P1", "P2", "P3"]),
    }
)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_line_strategy, min_size=0, max_size=40), st.lists(st.integers(0, 39), max_size=10))
def test_every_row_is_accounted_for(lines, duplicate_positions):
    lines = lines + [lines[i] for i in duplicate_positions if i < len(lines)]
    lines.append(
        {
            "customer_id": "keep",
            "order_id": "k1",
            "order_date": "2024-03-01",
            "quantity": 1,
            "unit_price": 1.0,
            "product_id": "PK",
        }
    )
    tx = make_tx(lines)
    result = cleaning.clean(tx, AS_OF)
    kept, removed = result.transactions, result.removed
    assert result.rows_in == len(kept) + int(result.log["rows_removed"].sum()) == len(tx)
    assert len(removed) == int(result.log["rows_removed"].sum())
    # each input row is either kept or removed, exactly once
    assert sorted(kept["source_row"].tolist() + removed["source_row"].tolist()) == list(range(1, len(tx) + 1))
    assert kept["source_row"].is_monotonic_increasing and kept.index.equals(pd.RangeIndex(len(kept)))
    # revenue: what was kept = what came in - what was removed + the adjustments
    revenue_in = cleaning.line_revenue(tx).sum()
    expected = revenue_in - cleaning.line_revenue(removed).sum() + result.log["revenue_adjusted"].sum()
    assert kept["amount"].sum() == pytest.approx(expected)
    assert (kept["quantity"] > 0).all() and (kept["unit_price"] > 0).all()


@settings(max_examples=100, deadline=None)
@given(st.lists(st.sampled_from(["ab", "AB", "Ab", "cd", "CD", "e", None]), min_size=1, max_size=30))
def test_case_variants_of_an_id_become_its_most_frequent_spelling(ids):
    """Against a plain-Python reading of the rule: per case-folded id, the most frequent
    spelling, ties to the first in sort order; rows adjusted are the rows whose id changed."""
    counts = Counter(i for i in ids if i is not None)
    canonical = {
        i: min((s for s in counts if s.casefold() == i.casefold()), key=lambda s: (-counts[s], s)) for i in counts
    }
    kept = [i for i in ids if i is not None]
    if not kept:
        return  # nothing left to clean: a clear error, tested above
    df = make_tx(
        [
            {"customer_id": i, "order_id": f"o{n}", "order_date": "2024-03-01", "quantity": 1, "unit_price": 10}
            for n, i in enumerate(ids)
        ]
    )
    others = [r for r in cleaning.RULE_NAMES if r not in ("customer_id_case", "missing_customer_id")]
    result = cleaning.clean(df, pd.Timestamp("2024-12-31"), {"skip": others})
    assert result.transactions["customer_id"].tolist() == [canonical[i] for i in kept]
    log = result.log.set_index("rule")
    assert log.at["customer_id_case", "rows_adjusted"] == sum(canonical[i] != i for i in kept)


def test_lines_come_out_in_source_order_whatever_order_they_came_in():
    lines = [
        {
            "customer_id": c,
            "order_id": f"o{i}",
            "order_date": "2024-03-01",
            "quantity": 1,
            "unit_price": 2.0,
            "product_id": "P1",
        }
        for i, c in enumerate(["a", None, "b", "c"])
    ]
    tx = make_tx(lines).iloc[[3, 0, 2, 1]]
    result = cleaning.clean(tx, AS_OF)
    assert result.transactions["source_row"].tolist() == [1, 3, 4]
    assert result.transactions.index.equals(pd.RangeIndex(3))
