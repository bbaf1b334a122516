"""06_campaign: frozen-segment KPIs, the A/B read-out against planted effects and hand
computations, campaign-file problems, experiment design and audience splits."""

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from support import make_tx

from segment_workbench.campaigns import campaign
from segment_workbench.customers import engine
from segment_workbench.customers.running import RunningTotals
from segment_workbench.datasets import synthetic
from segment_workbench.errors import InputError
from segment_workbench.io import campaign_file

AS_OF = pd.Timestamp("2025-12-31")


@pytest.fixture(scope="module")
def demo(demo_shop):
    collected = demo_shop.collected
    sent, notes = campaign.check_campaign(collected.extras["campaign"], collected.transactions["customer_id"], AS_OF)
    return collected, demo_shop.cleaned, demo_shop.segmentation, sent


# --- the planted effect ----------------------------------------------------------------------


def test_readout_by_planted_group_finds_the_effect_only_where_planted(demo):
    collected, cleaned, _, sent = demo
    truth = collected.extras["ground_truth"].set_index("customer_id")["group"]
    contacts = campaign.outcomes(sent, cleaned.transactions, lambda date: truth, AS_OF, window_days=14)
    results = campaign.readout(contacts).set_index("segment")
    assert set(synthetic.CAMPAIGN["uplift"]) == {"bargain_hunters"}
    assert results.at["bargain_hunters", "verdict"] == "worked"
    assert results.at["bargain_hunters", "lift_low"] > 0.05
    assert results.at["bargain_hunters", "incremental_revenue"] > 0
    others = results.drop(index=["bargain_hunters", campaign.ALL, campaign.NOT_YET], errors="ignore")
    assert set(others["verdict"]) <= {"no clear effect"}
    assert (others["lift_low"] <= 0).all() and (others["lift_high"] >= 0).all()


def test_readout_by_frozen_segments_names_bargain_hunters(demo):
    _, cleaned, result, sent = demo
    contacts = campaign.outcomes(
        sent,
        cleaned.transactions,
        lambda d: result.model.segments_at(cleaned.transactions, d, cleaned.removed),
        AS_OF,
        window_days=14,
    )
    results = campaign.readout(contacts)
    worked = results.loc[(results["verdict"] == "worked") & (results["segment"] != campaign.ALL), "segment"]
    assert list(worked) == ["Bargain hunters"]
    assert "worked for Bargain hunters" in campaign.summary_sentence(results)
    # every contact is counted exactly once, in the segment it had at the send date
    assert len(contacts) == len(sent) and contacts["customer_id"].is_unique
    row = results[results["segment"] == campaign.ALL].iloc[0]
    assert row["n_test"] + row["n_control"] == len(sent)


def test_segments_are_frozen_at_the_date(demo):
    _, cleaned, result, _ = demo
    tx, date = cleaned.transactions, pd.Timestamp("2025-06-01")
    frozen = result.model.segments_at(tx, date)
    # orders on or after the date change nothing; customers who had not bought yet are absent
    pd.testing.assert_series_equal(frozen, result.model.segments_at(tx[tx["order_date"] < date], date))
    first = tx.groupby("customer_id")["order_date"].min()
    assert set(frozen.index) == set(first[first < date].index)


# --- statistics against direct computations ---------------------------------------------------


def _wilson(x, n, z):
    p = x / n
    centre, half = (
        (p + z * z / (2 * n)) / (1 + z * z / n),
        z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n),
    )
    return centre - half, centre + half


def test_conversion_lift_matches_newcombe_and_the_score_test_by_hand():
    x1, n1, x2, n2 = 30, 100, 18, 100
    z = stats.norm.ppf(0.975)
    (l1, u1), (l2, u2) = _wilson(x1, n1, z), _wilson(x2, n2, z)
    d = 0.30 - 0.18
    pooled = 48 / 200
    score_z = d / math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2) * 200 / 199)  # Miettinen–Nurminen at diff 0
    lift, low, high, p = campaign.conversion_lift(x1, n1, x2, n2)
    assert lift == pytest.approx(0.12)
    assert low == pytest.approx(d - math.sqrt((0.30 - l1) ** 2 + (u2 - 0.18) ** 2), abs=1e-9)
    assert high == pytest.approx(d + math.sqrt((u1 - 0.30) ** 2 + (0.18 - l2) ** 2), abs=1e-9)
    assert p == pytest.approx(2 * stats.norm.sf(score_z), abs=1e-9)
    assert campaign.conversion_lift(0, 50, 0, 40)[3] == 1.0  # nobody bought in either arm: no evidence


def test_revenue_lift_matches_welch_by_hand():
    test = np.array([0, 0, 12.5, 40, 0, 22, 0, 0, 9.9, 31])
    control = np.array([0, 5, 0, 0, 18, 0, 0, 7.5])
    v1, v2 = test.var(ddof=1) / len(test), control.var(ddof=1) / len(control)
    df = (v1 + v2) ** 2 / (v1**2 / (len(test) - 1) + v2**2 / (len(control) - 1))
    d, se = test.mean() - control.mean(), math.sqrt(v1 + v2)
    lift, low, high, p = campaign.mean_lift(test, control, alpha=0.10)
    assert lift == pytest.approx(d)
    assert (low, high) == pytest.approx((d - stats.t.ppf(0.95, df) * se, d + stats.t.ppf(0.95, df) * se))
    assert p == pytest.approx(2 * stats.t.sf(d / se, df))


def _contacts(spec):
    """Contacts from {segment: (converted_test, n_test, converted_control, n_control)}; revenue 10 per buyer."""
    rows = []
    for segment, (xt, nt, xc, nc) in spec.items():
        for variant, x, n in (("offer", xt, nt), (campaign.CONTROL, xc, nc)):
            rows += [
                {
                    "campaign": "Spring",
                    "variant": variant,
                    "segment": segment,
                    "converted": i < x,
                    "revenue": 10.0 * (i < x),
                    "cost": 0.5,
                    "window_complete": True,
                }
                for i in range(n)
            ]
    out = pd.DataFrame(rows)
    out["customer_id"] = [f"c{i}" for i in range(len(out))]
    return out


def test_readout_verdicts_holm_roi_and_small_samples():
    contacts = _contacts({"Loyal": (60, 200, 58, 200), "Bargain hunters": (90, 200, 40, 200), "Tiny": (5, 12, 1, 10)})
    results = campaign.readout(contacts, min_customers=30).set_index("segment", drop=False)
    assert results.at["Bargain hunters", "verdict"] == "worked"
    assert results.at["Loyal", "verdict"] == "no clear effect"
    assert results.at["Tiny", "verdict"] == "not enough customers to tell"
    # Holm over the three segments: the smallest p-value is multiplied by 3
    raw = results.loc[["Loyal", "Bargain hunters", "Tiny"], "p_value"].sort_values()
    assert results.at[raw.index[0], "p_adjusted"] == pytest.approx(min(1, 3 * raw.iloc[0]))
    # incremental revenue = revenue lift per contact x contacts in the test arm; ROI on the test arm's cost
    bh = results.loc["Bargain hunters"]
    assert bh["incremental_revenue"] == pytest.approx((900 / 200 - 400 / 200) * 200)
    assert bh["cost"] == pytest.approx(100.0)
    assert bh["roi"] == pytest.approx((500 - 100) / 100)
    sentence = campaign.verdict_sentence(bh, "£")
    assert sentence.startswith("Bargain hunters: worked — 25 more buyers per 100") and "£500" in sentence
    assert "not enough customers" in campaign.verdict_sentence(results.loc["Tiny"])
    assert campaign.summary_sentence(results.reset_index(drop=True)) == (
        "“Spring” (offer) worked for Bargain hunters; no clear effect on Loyal; too few customers to tell for Tiny."
    )


# --- KPIs per segment over time ---------------------------------------------------------------


def test_segment_kpis_by_hand_with_frozen_segments():
    tx = make_tx(
        [
            dict(customer_id="a", order_id="1", order_date="2025-01-05", quantity=1, unit_price=10),
            dict(customer_id="a", order_id="2", order_date="2025-01-20", quantity=1, unit_price=30),
            dict(customer_id="b", order_id="3", order_date="2025-01-10", quantity=2, unit_price=5),
            dict(customer_id="a", order_id="4", order_date="2025-02-03", quantity=1, unit_price=50),
            dict(customer_id="c", order_id="5", order_date="2025-02-14", quantity=1, unit_price=20),
            dict(customer_id="b", order_id="6", order_date="2025-03-02", quantity=1, unit_price=8),
        ]
    )

    def segments_at(date):  # "Regular" = 2+ orders before the date; uses only earlier orders
        before = tx[tx["order_date"] < date].groupby("customer_id")["order_id"].nunique()
        return pd.Series(np.where(before >= 2, "Regular", "Once"), index=before.index)

    kpis = campaign.segment_kpis(tx, segments_at, pd.Timestamp("2025-03-15")).set_index(["period", "segment"])
    new_jan = kpis.loc[("2025-01", campaign.NEW_CUSTOMERS)]
    assert (new_jan["customers"], new_jan["orders"], new_jan["revenue"], new_jan["repeat_rate"]) == (2, 3, 50.0, 0.5)
    # February: a (2 orders in January) is Regular, b is Once; c is new
    assert kpis.loc[("2025-02", "Regular"), ["customers", "active_customers", "revenue", "retention"]].tolist() == [
        1,
        1,
        50.0,
        1.0,
    ]
    assert kpis.loc[("2025-02", "Once"), ["customers", "active_customers", "retention"]].tolist() == [1, 0, 0.0]
    assert kpis.loc[("2025-02", campaign.NEW_CUSTOMERS), "customers"] == 1
    # March: a is still Regular (did not buy), b and c are Once; March is cut at as_of
    march = kpis.xs("2025-03")
    assert march.loc["Once", "customers"] == 2 and march.loc["Once", "retention"] == 0.5
    assert march.loc["Once", "avg_order_value"] == 8.0 and march["partial"].all()
    # every order line's revenue is in exactly one row
    assert kpis["revenue"].sum() == pytest.approx(tx["amount"].sum())


def test_segment_kpis_with_the_segment_model_start_from_a_month_without_earlier_customers(demo):
    _, cleaned, result, _ = demo
    kpis = campaign.segment_kpis(
        cleaned.transactions,
        lambda d: result.model.segments_at(cleaned.transactions, d, cleaned.removed),
        AS_OF,
    )
    first = kpis[kpis["period"] == kpis["period"].min()]
    assert first["segment"].tolist() == [campaign.NEW_CUSTOMERS]  # nobody had bought before it
    assert first["customers"].iloc[0] == first["active_customers"].iloc[0] > 0
    assert kpis["revenue"].sum() == pytest.approx(cleaned.transactions["amount"].sum())
    assert set(kpis["segment"]) == {*result.model.names.values(), campaign.NEW_CUSTOMERS}
    # month by month from running totals (each month adds only its own purchase days): the same
    running = RunningTotals(engine.purchase_days(cleaned.transactions).cache())
    placed = campaign.segment_kpis(
        cleaned.transactions, lambda d: result.model.segments_at(running, d, cleaned.removed), AS_OF
    )
    pd.testing.assert_frame_equal(placed, kpis)


# --- campaign file problems -------------------------------------------------------------------


def _sent(**changes):
    raw = pd.DataFrame(
        {
            "customer_id": ["a", "b", "c", "d"],
            "campaign": "Spring",
            "variant": ["offer", "control", "offer", "control"],
            "send_date": "2025-03-01",
            "cost_per_contact": "0.20",
        }
    )
    for column, (row, value) in changes.items():
        raw.loc[row, column] = value
    return campaign_file.parse_campaign(raw, "campaign.csv")


KNOWN = pd.Series(["a", "b", "c", "d"])


@pytest.mark.parametrize(
    "changes, column, words",
    [
        ({"customer_id": (1, "zz-9")}, "customer_id", "appear in no order"),
        ({"customer_id": (1, "a")}, "variant", "more than one arm"),
        ({"send_date": (2, "2026-02-01")}, "send_date", "sent after as_of"),
        ({"variant": (1, "offer")}, "variant", "no control group"),
    ],
)
def test_campaign_file_problems_name_file_column_and_rows(changes, column, words):
    sent = _sent(**changes)
    if "variant" in changes and changes["variant"][1] == "offer":
        sent.loc[3, "variant"] = "offer"
    with pytest.raises(InputError) as err:
        campaign.check_campaign(sent, KNOWN, AS_OF, "campaign.csv")
    message = str(err.value)
    assert words in message and f"column: {column}" in message and "campaign.csv" in message
    assert "example rows" in message and "what to do" in message


def test_unreadable_values_and_missing_columns_are_errors():
    with pytest.raises(InputError, match="unreadable send_date") as err:
        _sent(send_date=(2, "someday"))
    assert "someday" in str(err.value)
    with pytest.raises(InputError, match="no variant column"):
        campaign_file.parse_campaign(
            pd.DataFrame({"customer_id": ["a"], "campaign": ["x"], "send_date": ["2025-01-01"]}), "c.csv"
        )


def test_unknown_ids_allowed_and_duplicates_counted_once():
    sent = pd.concat([_sent(customer_id=(1, "new-subscriber")), _sent().iloc[[0]]], ignore_index=True)
    checked, notes = campaign.check_campaign(sent, KNOWN, AS_OF, allow_unknown_ids=True)
    assert len(checked) == 4 and any("never bought" in n for n in notes) and any("counted once" in n for n in notes)


def test_read_campaign_file_with_headers_in_any_case(tmp_path):
    path = tmp_path / "campaign.csv"
    path.write_text(
        "Customer ID;Campaign;Variant;Send Date\n12345.0;Spring;Control;2025-03-01\n777;Spring;offer;2025-03-01\n"
    )
    sent = campaign_file.read_campaign_file(path)
    assert sent["customer_id"].tolist() == ["12345", "777"] and sent["cost_per_contact"].tolist() == [0.0, 0.0]
    checked, _ = campaign.check_campaign(sent, pd.Series(["12345", "777"]), AS_OF)
    assert checked["variant"].tolist() == [campaign.CONTROL, "offer"]


# --- experiment design -----------------------------------------------------------------------


def test_sample_size_and_detectable_lift_by_hand():
    # the arcsine transform 2·asin(√p) has variance 1/n, so the difference has 1/n + 1/n
    h = 2 * math.asin(math.sqrt(0.15)) - 2 * math.asin(math.sqrt(0.10))
    n = 2 * ((stats.norm.ppf(0.975) + stats.norm.ppf(0.8)) / h) ** 2
    assert 670 < n < 700  # the textbook answer for 10% -> 15%: about 680 per group
    assert campaign.sample_size(0.10, 0.05) == (math.ceil(n), math.ceil(n))
    # the detectable lift for that many customers is the lift asked for
    assert campaign.minimum_detectable_lift(n, n, 0.10) == pytest.approx(0.05, abs=1e-6)
    # an unequal split needs more customers in total
    assert sum(campaign.sample_size(0.10, 0.05, test_share=0.2)) > 2 * math.ceil(n)


def test_split_audience_is_exact_seeded_and_order_free(tmp_path):
    ids = pd.Series([f"c{i:03d}" for i in range(101)])
    split = campaign.split_audience(ids, 0.3, random_state=7)
    assert (split["variant"] == "test").sum() == 30 and split["customer_id"].is_unique and len(split) == 101
    pd.testing.assert_frame_equal(
        split, campaign.split_audience(ids.sample(frac=1, random_state=1), 0.3, random_state=7)
    )
    assert not split.equals(campaign.split_audience(ids, 0.3, random_state=8))
    contacts = pd.DataFrame(
        {"customer_id": ids, "email": [f"{i}@example.com" for i in ids], "consent": [i % 2 == 0 for i in range(101)]}
    )
    test_path, control_path = campaign.write_split(split, contacts, tmp_path, "Big spenders")
    assert (test_path.name, control_path.name) == ("big_spenders_test.csv", "big_spenders_control.csv")
    written = pd.concat([pd.read_csv(test_path), pd.read_csv(control_path)])
    assert len(written) == 101
    consented = set(contacts.loc[contacts["consent"], "customer_id"])
    assert set(written.loc[written["email"].notna(), "customer_id"]) == consented


def test_design_table_baseline_is_recent_buyers_share():
    tx = make_tx(
        [
            dict(customer_id="a", order_id="1", order_date="2025-12-25", quantity=1, unit_price=10),
            dict(customer_id="b", order_id="2", order_date="2025-11-01", quantity=1, unit_price=10),
            dict(customer_id="c", order_id="3", order_date="2025-12-30", quantity=1, unit_price=10),
        ]
    )
    segment_of = pd.Series(["X", "X", "Y"], index=["a", "b", "c"])
    design = campaign.design_table(segment_of, tx, AS_OF, window_days=14).set_index("segment")
    assert design.at["X", "baseline_conversion"] == 0.5 and design.at["Y", "baseline_conversion"] == 1.0
    assert design.at["X", "customers"] == 2
