"""Segmentation: planted-group recovery, rules, profiles, ranking, audiences, migration, survey."""

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import adjusted_rand_score
from support import make_tx

from segment_workbench.customers import table as customers
from segment_workbench.segmentation import assignment, clustering, profiles, rfm, survey, targeting
from segment_workbench.segmentation.pipeline import segment_customers


@pytest.fixture(scope="module")
def demo(demo_shop):
    return demo_shop.collected, demo_shop.cleaned, demo_shop.customers, demo_shop.segmentation


def test_clusters_recover_the_planted_groups(demo):
    collected, _, _, result = demo
    truth = collected.extras["ground_truth"].set_index("customer_id")["group"]
    ari = adjusted_rand_score(truth.reindex(result.segments["customer_id"]), result.segments["cluster"])
    assert ari >= 0.7
    assert result.clusterer.stability_ > 0.9
    names = set(result.segments["cluster_name"])
    assert {"Big spenders", "Bargain hunters", "Lapsed regulars", "New regulars"} <= names


def test_the_stable_rule_takes_the_richest_stable_well_separated_k_between_3_and_7():
    selection = pd.DataFrame(
        {
            "k": [2, 3, 4, 5, 6, 7],
            "silhouette": [0.50, 0.46, 0.47, 0.40, 0.47, 0.46],
            "stability": [1.0, 0.95, 0.90, 0.85, 0.70, 0.90],
            "smallest_share": [0.5, 0.2, 0.1, 0.05, 0.04, 0.01],
            "same_name": [1, 1, 2, 2, 2, 2],
        }
    )
    assert clustering.SegmentClusterer(rule="silhouette")._choose(selection) == 2  # the silhouette favours 2
    # 6 is unstable, 7 has a 1% segment, 5 separates less: 4, the richer of 3 and 4
    assert clustering.SegmentClusterer()._choose(selection) == 4
    assert clustering.SegmentClusterer(min_share=0.15)._choose(selection) == 3
    assert clustering.SegmentClusterer()._choose(selection.assign(same_name=[1, 1, 3, 2, 2, 2])) == 3
    fallback = clustering.SegmentClusterer(min_stability=0.99)
    assert fallback._choose(selection) == 2 and "no k between 3 and 7" in fallback.reason_


def test_the_stable_rule_finds_four_planted_groups():
    """Two pairs of groups, each pair's groups close together: the rule finds the four."""
    rng = np.random.default_rng(0)
    centres = [(0, 0), (0, 0.8), (12, 0), (12, 0.8)]
    points = np.vstack([rng.normal(c, (1.4, 0.22), (250, 2)) for c in centres])
    features = pd.DataFrame(
        {"orders": np.expm1(points[:, 0] / 4 + 1), "days_since_last_order": np.expm1(points[:, 1] + 3)}
    )
    fitted = clustering.SegmentClusterer(random_state=0).fit(features)
    assert fitted.k_ == 4 and adjusted_rand_score(np.repeat(np.arange(4), 250), fitted.labels_) > 0.9
    assert (fitted.selection_["stability"] > 0).all() and "richest stable" in fitted.reason_


def test_stability_from_capped_resamples_still_sees_stable_clusters(demo, monkeypatch):
    _, _, table, result = demo
    features, k = clustering.behaviour_features(table), result.clusterer.k_
    monkeypatch.setattr(clustering, "STABILITY_SAMPLE", 500)  # a sixth of the customers per resample
    capped = clustering.SegmentClusterer(k=k, n_bootstrap=5, random_state=42).fit(features)
    assert 0.8 < capped.stability_ <= 1.0
    monkeypatch.setattr(clustering, "STABILITY_SAMPLE", 2 * k)  # 2 customers a cluster: the refits wander
    tiny = clustering.SegmentClusterer(k=k, n_bootstrap=5, random_state=42).fit(features)
    assert tiny.stability_ < capped.stability_ - 0.1


def test_every_customer_has_exactly_one_segment(demo):
    _, _, table, result = demo
    seg = result.segments
    assert seg["customer_id"].is_unique and set(seg["customer_id"]) == set(table["customer_id"])
    assert seg["rfm_segment"].ne("").all() and seg["cluster_name"].notna().all()


def test_every_segment_has_a_readable_rule(demo):
    _, _, _, result = demo
    rules = result.rules
    assert set(rules["segment"]) == set(result.segments["cluster_name"])
    assert rules.groupby("segment").size().max() <= 3
    best = rules.groupby("segment")["precision"].max()
    assert (best > 0.85).all() and (rules["fidelity"] > 0.9).all()


def test_surrogate_rule_finds_a_planted_threshold():
    features = pd.DataFrame({"orders": [1, 2, 3, 5, 6, 8] * 20, "avg_order_value": [10.0, 20, 30, 10, 20, 30] * 20})
    segment = pd.Series(np.where(features["orders"] > 4, "Frequent buyers", "Occasional buyers"))
    rules = clustering.surrogate_rules(features, segment).set_index("segment")
    assert rules.loc["Frequent buyers", "rule"] == "orders > 4" and rules.loc["Frequent buyers", "precision"] == 1.0
    assert rules.loc["Occasional buyers", "rule"] == "orders ≤ 4"


def test_names_are_unique_and_overridable():
    features = pd.DataFrame(
        {
            "orders": [1.0] * 6 + [10] * 3,
            "avg_order_value": [20.0] * 3 + [21] * 3 + [300] * 3,
            "days_since_last_order": [10.0, 12, 11, 400, 390, 410, 5, 6, 7],
            "tenure_days": [500.0] * 9,
        }
    )
    labels = np.array([0, 0, 0, 1, 1, 1, 2, 2, 2])
    names = clustering.name_clusters(features, labels)
    assert names == {0: "One-time buyers (recent)", 1: "One-time buyers (lapsed)", 2: "Big spenders"}
    assert clustering.name_clusters(features, labels, {"Big spenders": "VIPs"})[2] == "VIPs"


def test_qualifiers_say_how_long_ago_only_where_it_is_true():
    """Two groups of one-time buyers told apart by when they first bought: the later one is
    "new" only if its first purchase is at most 120 days ago; two lapsed groups told apart by
    their last purchase are not called "recent" when even the more recent bought 200 days ago."""
    labels = np.array([0, 0, 0, 1, 1, 1])

    def names(tenure, since):
        features = pd.DataFrame(
            {"orders": [1.0] * 6, "avg_order_value": [20.0] * 6, "days_since_last_order": since, "tenure_days": tenure}
        )
        return clustering.name_clusters(features, labels)

    assert names([700.0] * 3 + [60] * 3, [30.0] * 6) == {
        0: "One-time buyers (long-standing)",
        1: "One-time buyers (new)",
    }
    assert names([700.0] * 3 + [400] * 3, [30.0] * 6) == {
        0: "One-time buyers (long-standing)",
        1: "One-time buyers (joined later)",
    }
    assert names([900.0] * 6, [700.0] * 3 + [200] * 3) == {
        0: "One-time buyers (lapsed)",
        1: "One-time buyers (bought more recently)",
    }
    assert names([900.0] * 6, [80.0] * 3 + [10] * 3) == {
        0: "One-time buyers (bought less recently)",
        1: "One-time buyers (recent)",
    }


@pytest.mark.parametrize("case", ["one customer", "all one purchase", "fewer than k", "identical"])
def test_degenerate_inputs(case):
    base = {"customer_id": "a", "order_id": "1", "order_date": "2024-01-05", "quantity": 1, "unit_price": 10.0}
    if case == "one customer":
        rows = [base]
    elif case == "all one purchase":
        rows = [
            {
                **base,
                "customer_id": f"c{i}",
                "order_id": str(i),
                "order_date": f"2024-01-{i + 1:02d}",
                "unit_price": 5.0 + i,
            }
            for i in range(20)
        ]
    elif case == "fewer than k":
        rows = [{**base, "customer_id": f"c{i}", "order_id": str(i), "unit_price": 5.0 * (i + 1)} for i in range(4)]
    else:
        rows = [{**base, "customer_id": f"c{i}", "order_id": str(i)} for i in range(10)]
    table = customers.build_customer_table(make_tx(rows), "2024-03-31")
    result = segment_customers(table, None, k=6 if case == "fewer than k" else None)
    seg = result.segments
    assert len(seg) == len(table) and seg["cluster_name"].notna().all() and seg["rfm_segment"].ne("").all()
    if case in ("one customer", "identical"):
        assert result.clusterer.k_ == 1 and set(seg["cluster_name"]) == {"All customers"}
        assert "no clustering possible" in result.clusterer.message_
    if case == "fewer than k":
        assert result.clusterer.k_ == 3 and "k = 6 asked for" in result.clusterer.message_


def _profile_fixture():
    table = pd.DataFrame(
        {
            "customer_id": list("abcd"),
            "revenue_total": [100.0, 300.0, 20.0, 10.0],
            "n_orders": [2, 4, 3, 5],
            "days_since_last_order": [5, 10, 100, 200],
            "avg_order_value": [50.0, 75.0, 20 / 3, 2.0],
        }
    )
    segment = pd.Series(["Big", "Big", "Small", "Small"])
    return table, segment


def test_profiles_and_not_our_customer_by_hand():
    table, segment = _profile_fixture()
    prof = profiles.segment_profiles(table, segment, pd.DataFrame(index=range(4)), cost_per_order=3.0).set_index(
        "segment"
    )
    assert prof.loc["Big", "revenue"] == 400 and prof.loc["Big", "share_revenue"] == pytest.approx(400 / 430)
    assert prof.loc["Big", "net_value_per_customer"] == pytest.approx(200 - 3 * 3)
    assert prof.loc["Small", "net_value_per_customer"] == pytest.approx(15 - 3 * 4)
    assert not prof.loc["Big", "not_our_customer"] and not prof.loc["Small", "not_our_customer"]
    prof = profiles.segment_profiles(table, segment, pd.DataFrame(index=range(4)), cost_per_order=4.0).set_index(
        "segment"
    )
    assert prof.loc["Small", "not_our_customer"]  # 15 - 16 < 0: costs more than it brings
    assert prof.loc["Big", ["orders_low", "orders_high"]].tolist() == list(
        table.loc[segment == "Big", "n_orders"].quantile([0.25, 0.75])
    )


def test_growth_and_ranking_by_hand():
    tx = make_tx(
        [
            {
                "customer_id": "a",
                "order_id": "1",
                "order_date": "2024-02-01",
                "quantity": 1,
                "unit_price": 100.0,
            },  # earlier window
            {
                "customer_id": "a",
                "order_id": "2",
                "order_date": "2024-03-20",
                "quantity": 1,
                "unit_price": 150.0,
            },  # recent window
            {"customer_id": "c", "order_id": "3", "order_date": "2024-02-10", "quantity": 1, "unit_price": 20.0},
        ]
    )
    segment_of = pd.Series({"a": "Big", "b": "Big", "c": "Small", "d": "Small"})
    growth = targeting.segment_growth(tx, segment_of, "2024-03-31", growth_days=30)
    assert growth["Big"] == pytest.approx(0.5) and growth["Small"] == pytest.approx(-1.0)
    table, segment = _profile_fixture()
    prof = profiles.segment_profiles(table, segment, pd.DataFrame(index=range(4)))
    ranked = targeting.rank_segments(prof, growth, {"size": 1, "value": 1, "growth": 1, "margin": 1})
    # Big is best on value, growth and margin (1 each), sizes are equal (0.5 each): (0.5+1+1+1)/4
    assert ranked["segment"].tolist() == ["Big", "Small"]
    assert ranked["score"].tolist() == pytest.approx([3.5 / 4, 0.5 / 4])
    assert ranked.iloc[0]["action"].startswith("(no playbook entry")  # "Big" is not in the playbook
    named = targeting.rank_segments(prof.replace({"Big": "Big spenders"}), growth.rename({"Big": "Big spenders"}))
    assert named.iloc[0]["action"].startswith("Reward and retain")
    # the lapsed one of two namesakes is won back, whatever its base name; the other keeps its own
    twins = {"Big": "Frequent buyers (lapsed)", "Small": "Frequent buyers (recent)"}
    lapsed = targeting.rank_segments(prof.replace(twins), growth.rename(twins)).set_index("segment")["action"]
    assert lapsed["Frequent buyers (lapsed)"].startswith("Win back")
    assert lapsed["Frequent buyers (recent)"].startswith("Grow basket size")
    # big spenders whose median last order is more than a year ago are won back, not rewarded
    long_gone = prof.replace({"Big": "Big spenders"}).assign(days_since_last_order_median=[400.0, 150.0])
    actions = targeting.rank_segments(long_gone, growth.rename({"Big": "Big spenders"})).set_index("segment")["action"]
    assert actions["Big spenders"].startswith("Win back") and actions["Small"].startswith("(no playbook entry")


def test_audiences_partition_customers(demo, tmp_path):
    collected, _, _, result = demo
    summary = targeting.write_audiences(result.segments, collected.contacts, tmp_path)
    files = [pd.read_csv(tmp_path / f, dtype={"customer_id": str}) for f in summary["file"]]
    ids = pd.concat([f["customer_id"] for f in files])
    assert ids.is_unique and set(ids) == set(result.segments["customer_id"])
    everyone = pd.concat(files).merge(collected.contacts, on="customer_id", suffixes=("", "_contact"))
    assert everyone.loc[everyone["email"].notna(), "consent"].all()  # e-mail only with consent
    assert everyone.loc[everyone["consent"].astype(bool), "email"].notna().all()
    assert summary["customers"].sum() == len(ids)


def test_migration_by_hand():
    rows = []
    for i in range(10):  # ten customers with 1..10 orders in January; c9 and c8 buy again in March
        for j in range(i + 1):
            rows.append(
                {
                    "customer_id": f"c{i}",
                    "order_id": f"{i}-{j}",
                    "order_date": f"2024-01-{j + 1:02d}",
                    "quantity": 1,
                    "unit_price": 10.0,
                }
            )
    rows += [{"customer_id": "new", "order_id": "n", "order_date": "2024-03-30", "quantity": 1, "unit_price": 10.0}]
    matrix = rfm.segment_migration(make_tx(rows), "2024-03-31", "2024-02-01")
    assert int(matrix.to_numpy().sum()) == 11
    assert matrix.loc["(not yet a customer)"].sum() == 1
    # the segments now, when already scored (03_segment's), give the same matrix
    table = customers.build_customer_table(make_tx(rows), "2024-03-31")
    now = pd.Series(rfm.assign_segments(rfm.rfm_scores(table)).to_numpy(), index=table["customer_id"])
    pd.testing.assert_frame_equal(rfm.segment_migration(make_tx(rows), "2024-03-31", "2024-02-01", now=now), matrix)


def test_factor_analysis_recovers_the_planted_factors(demo):
    collected, _, _, _ = demo
    loadings, scores = survey.factor_analysis(collected.extras["survey"], 2)
    price = next(c for c in loadings.columns if "compare prices" in c)
    quality = next(c for c in loadings.columns if c != price)
    assert (loadings.loc[["q1_compare_prices", "q2_wait_for_sales", "q3_use_discount_codes"], price] > 0.6).all()
    assert (
        loadings.loc[["q4_quality_over_price", "q5_premium_brands", "q6_pay_for_fast_delivery"], quality] > 0.6
    ).all()
    assert len(scores) == len(collected.extras["survey"])


def test_assignment_beats_guessing_the_largest_segment(demo):
    collected, _, _, result = demo
    segment_of = pd.Series(result.segments["cluster_name"].to_numpy(), index=result.segments["customer_id"])
    attributes, kinds = collected.attributes.table, collected.attributes.kinds()
    columns = assignment.usable_attributes(attributes, kinds)
    assert columns == ["age_band", "channel", "acquisition_source", "region"]
    assigner = assignment.fit_assigner(attributes, segment_of, columns, kinds)
    assert assigner.accuracy > assigner.baseline + 0.1 and assigner.useful
    scored = assignment.assign_new(assigner, attributes.head(5), kinds)
    assert scored["predicted_segment"].isin(segment_of.unique()).all() and scored["probability"].between(0, 1).all()
