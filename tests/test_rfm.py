import pandas as pd
import pytest

from segment_workbench.errors import ConfigError
from segment_workbench.segmentation import rfm


def test_quintile_scores_by_hand():
    values = pd.Series([10, 20, 30, 40, 50, 60, 70, 80, 90, 100])
    assert rfm.quintile_score(values).tolist() == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]
    assert rfm.quintile_score(values, higher_is_better=False).tolist() == [5, 5, 4, 4, 3, 3, 2, 2, 1, 1]


def test_ties_share_the_lowest_score_of_the_tie():
    orders = pd.Series([1, 1, 1, 1, 1, 1, 2, 3, 3, 9])  # six one-order customers
    # ranks (min): 1,1,1,1,1,1,7,8,8,10 -> 1 + floor(5 * (rank - 1) / 10)
    assert rfm.quintile_score(orders).tolist() == [1, 1, 1, 1, 1, 1, 4, 4, 4, 5]


def test_rfm_scores_and_segments_on_a_fixture():
    customers = pd.DataFrame(
        {
            "customer_id": list("abcde"),
            "days_since_last_order": [1, 10, 200, 400, 5],
            "n_orders": [20, 1, 8, 1, 12],
            "revenue_total": [900.0, 20.0, 400.0, 15.0, 500.0],
        }
    )
    scores = rfm.rfm_scores(customers)
    assert scores["r_score"].tolist() == [5, 3, 2, 1, 4]
    assert scores["f_score"].tolist() == [5, 1, 3, 1, 4]
    assert scores["m_score"].tolist() == [5, 2, 3, 1, 4]
    assert scores["rfm_cell"].tolist() == ["555", "312", "233", "111", "444"]
    assert rfm.assign_segments(scores).tolist() == ["Champions", "About to sleep", "At risk", "Lost", "Loyal"]


def test_default_map_covers_every_cell_exactly_as_documented():
    cells = pd.DataFrame([(r, f) for r in range(1, 6) for f in range(1, 6)], columns=["r_score", "f_score"])
    segments = rfm.assign_segments(cells)
    assert (segments != "").all() and segments.nunique() == 11
    lookup = dict(zip(zip(cells["r_score"], cells["f_score"]), segments))
    assert lookup[(5, 1)] == "New" and lookup[(1, 5)] == "Can't lose them" and lookup[(2, 4)] == "At risk"


def test_incomplete_map_is_a_config_error():
    with pytest.raises(ConfigError, match=r"\(1, 1\)"):
        rfm.assign_segments(
            pd.DataFrame({"r_score": [1], "f_score": [1]}), [{"segment": "Top", "r": [2, 5], "f": [1, 5]}]
        )


def test_one_customer_gets_one_segment():
    one = pd.DataFrame({"customer_id": ["a"], "days_since_last_order": [3], "n_orders": [1], "revenue_total": [10.0]})
    scores = rfm.rfm_scores(one)
    assert scores[["r_score", "f_score", "m_score"]].iloc[0].tolist() == [3, 3, 3]  # too few to rank
    assert rfm.assign_segments(scores).tolist() == ["Need attention"]
