"""Cohort matrices and survival against hand-computed values, lifelines and planted churn."""

import numpy as np
import pandas as pd
import pytest
import support
from lifelines import CoxPHFitter, KaplanMeierFitter
from support import make_tx

from segment_workbench import clv
from segment_workbench.cleaning import rules as cleaning
from segment_workbench.clv import holdout as calibration
from segment_workbench.clv import valuation
from segment_workbench.customers import engine
from segment_workbench.errors import InputError
from segment_workbench.lifecycle import survival
from segment_workbench.lifecycle.cohorts import cohort_tables

AS_OF = "2024-03-15"  # March is not over: its cells are partial


def _line(customer, order, date, price, quantity=1, product="P"):
    return {
        "customer_id": customer,
        "order_id": order,
        "order_date": date,
        "quantity": quantity,
        "unit_price": price,
        "product_id": product,
    }


@pytest.fixture(scope="module")
def cleaned():
    raw = make_tx(
        [
            _line("a", "1", "2024-01-05", 50.0),  # a's first purchase ...
            _line("a", "C1", "2024-01-10", 50.0, -1),  # ... is returned: a's cohort is February
            _line("a", "2", "2024-02-03", 11.0, product="Q"),
            _line("b", "3", "2024-01-10", 10.0),
            _line("b", "4", "2024-02-20", 20.0),
            _line("b", "5", "2024-03-05", 30.0),
            _line("c", "6", "2024-01-20", 5.0),
            _line("d", "7", "2024-02-10", 7.0),
            _line("d", "8", "2024-03-10", 9.0),
        ]
    )
    return cleaning.clean(raw, AS_OF).transactions


def test_cohort_matrices_by_hand(cleaned):
    t = cohort_tables(cleaned, AS_OF)
    assert [str(c) for c in t.sizes.index] == ["2024-01", "2024-02"] and t.sizes.tolist() == [2, 2]
    jan, feb = t.sizes.index
    np.testing.assert_allclose(t.retention.loc[jan].to_numpy(), [1.0, 0.5, 0.5])
    np.testing.assert_allclose(t.retention.loc[feb].to_numpy(), [1.0, 0.5, np.nan])  # April not observed
    np.testing.assert_allclose(t.revenue.loc[jan].to_numpy(), [7.5, 10.0, 15.0])
    np.testing.assert_allclose(t.cumulative.loc[jan].to_numpy(), [7.5, 17.5, 32.5])
    np.testing.assert_allclose(t.revenue.loc[feb].to_numpy(), [9.0, 4.5, np.nan])
    assert t.partial.loc[jan].tolist() == [False, False, True] and t.partial.loc[feb].tolist() == [False, True, False]
    long = t.long()
    assert len(long) == 5 and long["partial"].sum() == 2 and set(long["cohort_size"]) == {2}


def test_complete_last_period_is_not_partial(cleaned):
    t = cohort_tables(cleaned, "2024-03-31")
    assert not t.partial.to_numpy().any()


def test_cohort_of_one_customer_and_weeks_and_quarters(cleaned):
    one = cohort_tables(cleaned[cleaned["customer_id"] == "c"], AS_OF)
    assert one.sizes.tolist() == [1] and one.retention.iloc[0].tolist()[:1] == [1.0]
    assert one.retention.iloc[0, 1:].eq(0).all()  # observed, no purchase: 0, not missing
    quarters = cohort_tables(cleaned, AS_OF, "Q")
    assert quarters.sizes.tolist() == [4] and quarters.partial.iloc[0, 0]


def test_survival_inputs_with_censoring():
    table = pd.DataFrame(
        {
            "customer_id": ["gone", "recent", "new", "one-off-gone"],
            "first_purchase": pd.to_datetime(["2024-01-01", "2024-01-01", "2024-06-20", "2024-02-01"]),
            "last_purchase": pd.to_datetime(["2024-03-01", "2024-06-25", "2024-06-20", "2024-02-01"]),
            "days_since_last_order": [121, 5, 10, 150],
            "tenure_days": [181, 181, 10, 150],
        }
    )
    data = survival.survival_data(table, threshold_days=90)
    assert data["churned"].tolist() == [True, False, False, True]
    assert data["duration"].tolist() == [61, 182, 11, 1]  # churned: first to last + 1; censored: tenure + 1
    with pytest.raises(InputError, match="positive number of days"):
        survival.survival_data(table, 0)


def test_suggested_threshold_by_hand():
    tx = make_tx(
        [_line("a", str(i), d, 1.0) for i, d in enumerate(["2024-01-01", "2024-01-08", "2024-01-29", "2024-03-01"])]
    )
    # gaps 7, 21, 32 days; 90% quantile = 29.8 -> rounded up to whole weeks: 35
    assert survival.suggest_threshold(tx, 0.9) == 35
    assert survival.suggest_threshold(tx.iloc[:1]) == 180


@pytest.fixture(scope="module")
def demo(demo_shop):
    tx = demo_shop.cleaned.transactions
    threshold = survival.suggest_threshold(tx)
    return (
        demo_shop.collected,
        tx,
        demo_shop.customers,
        threshold,
        survival.survival_data(demo_shop.customers, threshold),
    )


def test_kaplan_meier_equals_lifelines(demo):
    collected, _, _, _, data = demo
    group = data[["customer_id"]].merge(collected.extras["ground_truth"], on="customer_id")["group"]
    curves, medians, test = survival.kaplan_meier(data, group)
    lapsed = data[group.to_numpy() == "lapsed_regulars"]
    kmf = KaplanMeierFitter().fit(lapsed["duration"], lapsed["churned"])
    ours = medians.set_index("group").loc["lapsed_regulars"]
    assert ours["median_days"] == kmf.median_survival_time_ and ours["churned"] == lapsed["churned"].sum()
    np.testing.assert_allclose(
        curves.loc[curves["group"] == "lapsed_regulars", "survival"], kmf.survival_function_.iloc[:, 0]
    )
    assert test["p_value"] < 1e-10  # lapsed regulars leave, new regulars do not


def test_cox_equals_lifelines_and_sentences(demo):
    collected, tx, _, _, data = demo
    covariates = survival.early_covariates(tx, collected.attributes.table)
    drivers, summary, notes = survival.cox_drivers(data, covariates)
    design = pd.get_dummies(
        covariates.reindex(data["customer_id"])["channel"], prefix="channel", prefix_sep="=", dtype=float
    )
    assert "channel: compared with web." in notes
    one = survival.cox_drivers(data, covariates[["channel"]])[0].set_index("covariate")
    direct = CoxPHFitter(penalizer=0.01).fit(
        design.drop(columns="channel=web")
        .reset_index(drop=True)
        .assign(duration=data["duration"].to_numpy(), churned=data["churned"].astype(int).to_numpy()),
        duration_col="duration",
        event_col="churned",
    )
    np.testing.assert_allclose(
        one.loc[["channel=app", "channel=store"], "hazard_ratio"],
        direct.hazard_ratios_[["channel=app", "channel=store"]],
    )
    sentence = survival.driver_sentences(drivers)[0]
    assert "churn rate at any given time" in sentence and "hazard ratio" in sentence


def test_large_shops_test_proportional_hazards_on_a_sample(demo, monkeypatch):
    collected, tx, _, _, data = demo
    covariates = survival.early_covariates(tx, collected.attributes.table)[["channel"]]
    full, _, _ = survival.cox_drivers(data, covariates)
    monkeypatch.setattr(survival, "PH_TEST_SAMPLE", 500)
    sampled, _, notes = survival.cox_drivers(data, covariates)
    assert f"The proportional-hazards test used a random 500 of the {len(data):,} customers." in notes
    np.testing.assert_allclose(sampled["hazard_ratio"], full["hazard_ratio"])  # the drivers themselves use everyone
    assert sampled["ph_p_value"].between(0, 1).all() and not np.allclose(sampled["ph_p_value"], full["ph_p_value"])


def test_very_large_shops_estimate_the_hazard_ratios_on_a_sample(demo, monkeypatch):
    collected, tx, _, _, data = demo
    covariates = survival.early_covariates(tx, collected.attributes.table)[["channel"]]
    full = survival.cox_drivers(data, covariates)[0].set_index("covariate")
    half = len(data) // 2
    monkeypatch.setattr(survival, "COX_SAMPLE", half)
    sampled, _, notes = survival.cox_drivers(data, covariates)
    assert f"The hazard ratios are estimated on a random {half:,} of the {len(data):,} customers." in notes
    sampled = sampled.set_index("covariate")
    assert not np.allclose(sampled["hazard_ratio"], full["hazard_ratio"])  # another fit...
    log_se = (np.log(full["upper"]) - np.log(full["lower"])) / (2 * 1.96)
    assert (np.abs(np.log(sampled["hazard_ratio"] / full["hazard_ratio"])) < 3 * log_se).all()  # ...of the same
    assert (sampled["upper"] / sampled["lower"] > full["upper"] / full["lower"]).all()  # from fewer: wider


def test_churn_matches_the_planted_churn(demo):
    collected, _, _, threshold, data = demo
    truth = data.merge(collected.extras["ground_truth"], on="customer_id")
    repeat = truth[truth["group"] != "one_off"]  # one-off buyers have no planted churn date
    planted = repeat["churn_date"].notna() & (
        repeat["churn_date"] <= pd.Timestamp("2025-12-31") - pd.Timedelta(days=threshold)
    )
    assert abs(repeat["churned"].mean() - planted.mean()) < 0.05
    assert (repeat["churned"] == planted).mean() > 0.9


def test_no_churn_events_and_single_level_covariate():
    data = pd.DataFrame({"customer_id": ["a", "b", "c"], "duration": [10.0, 20.0, 30.0], "churned": [False] * 3})
    curves, medians, test = survival.kaplan_meier(data, pd.Series(["x", "x", "y"]))
    assert np.isinf(medians["median_days"]).all() and np.isnan(test["p_value"])
    with pytest.raises(InputError, match="No customer has churned"):
        survival.cox_drivers(
            data, pd.DataFrame({"channel": ["web"] * 3}, index=pd.Index(["a", "b", "c"], name="customer_id"))
        )
    data["churned"] = [True, False, True]
    covariates = pd.DataFrame(
        {"channel": ["web"] * 3, "value": [1.0, 2.0, 4.0]}, index=pd.Index(["a", "b", "c"], name="customer_id")
    )
    drivers, _, notes = survival.cox_drivers(data, covariates)
    assert drivers["covariate"].tolist() == ["value"] and "channel has a single level and was left out." in notes


def test_purchase_days_give_the_same_cohorts_threshold_and_holdout_as_the_lines(demo_shop):
    """02_clean's lines summed per customer and day stand in for the lines wherever only days
    and amounts count: cohort matrices, the churn threshold, the CLV calibration and holdout,
    its tracking and the 90-day purchase check are the same from either."""
    lines, as_of = demo_shop.cleaned.transactions, support.AS_OF
    days = engine.purchase_days(lines).cache()
    for period in ("M", "Q"):
        from_lines, from_days = cohort_tables(lines, as_of, period), cohort_tables(days, as_of, period)
        pd.testing.assert_frame_equal(from_days.retention, from_lines.retention)
        pd.testing.assert_frame_equal(from_days.revenue, from_lines.revenue)
    assert survival.suggest_threshold(days) == survival.suggest_threshold(lines) == 49
    split = calibration.calibration_holdout(lines, "2025-06-30", as_of, "weeks")
    from_days = calibration.calibration_holdout(days, "2025-06-30", as_of, "weeks")
    pd.testing.assert_frame_equal(from_days.table, split.table)
    model = clv.BetaGeoModel().fit(split.table["frequency"], split.table["recency"], split.table["T"])
    pd.testing.assert_frame_equal(calibration.tracking(model, days, split), calibration.tracking(model, lines, split))
    assert valuation.purchase_check(model, split, days) == valuation.purchase_check(model, split, lines)
