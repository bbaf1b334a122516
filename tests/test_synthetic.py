import pandas as pd

from segment_workbench.datasets import synthetic


def test_same_seed_same_data_other_seed_other_data():
    a, b = synthetic.generate(400, seed=1), synthetic.generate(400, seed=1)
    pd.testing.assert_frame_equal(a.transactions, b.transactions)
    pd.testing.assert_frame_equal(a.ground_truth, b.ground_truth)
    assert not synthetic.generate(400, seed=2).transactions.equals(a.transactions)


def test_planted_groups_and_behaviour():
    demo = synthetic.generate(2000, seed=5)
    truth = demo.ground_truth.set_index("customer_id")
    shares = truth["group"].value_counts(normalize=True)
    for name, g in synthetic.GROUPS.items():
        assert abs(shares[name] - g["share"]) < 0.001
    # lapsed regulars all churned before the end; one-off buyers never "churn"
    lapsed = truth[truth["group"] == "lapsed_regulars"]
    assert lapsed["churn_date"].notna().all() and (lapsed["churn_date"] < synthetic.END).all()
    assert truth.loc[truth["group"] == "one_off", "churn_date"].isna().all()
    # new loyal customers joined in the last ~4 months
    new = truth[truth["group"] == "new_loyal"]
    assert (new["first_order_date"] >= synthetic.END - pd.Timedelta(days=125)).all()
    # fake personal data exists (to test that it never leaks), and the survey covers ~40%
    assert demo.attributes["email"].str.endswith("@example.com").all()
    assert 0.35 < len(demo.survey) / len(truth) < 0.45
    assert demo.survey.drop(columns="customer_id").isin([1, 2, 3, 4, 5]).all().all()


def test_export_is_text_with_the_documented_dirt():
    tx = synthetic.generate(300, seed=9).transactions
    assert all(tx[c].map(type).eq(str).all() for c in ("order_date", "unit_price", "quantity"))
    assert tx["unit_price"].str.contains(",").any()  # "1,234.50"
    assert tx["unit_price"].str.startswith("£").any()
    assert tx["order_id"].str.startswith("C").any() and (tx["customer_id"] == "").any()
