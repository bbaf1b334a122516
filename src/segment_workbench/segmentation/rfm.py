"""RFM scores (1-5) and named RFM segments.

Scores: R from days since the last order (fewer days = higher score), F from the number of
orders, M from total revenue. Each score is the quintile of the customer's rank, where
**tied customers share the lowest rank of their tie** (``rank(method="min")``):
``score = 1 + floor(5 * (rank - 1) / n)``. So equal behaviour always gets an equal score, and
when half the customers ordered once they all get F = 1 (no arbitrary split of a tie).
With fewer than 5 customers there are no quintiles: everyone gets the middle score, 3.

Segments come from the R and F scores through a segment map: an ordered list of rules
``{segment, r: [low, high], f: [low, high]}``; the first rule that matches a customer's
(R, F) wins and the map must cover all 25 (R, F) cells. The default is the usual 11-segment
map; the config (``segmentation.rfm_map``) can replace it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from segment_workbench.customers import engine
from segment_workbench.customers.table import table_before
from segment_workbench.errors import ConfigError

DEFAULT_SEGMENT_MAP = [
    {"segment": "Champions", "r": [5, 5], "f": [4, 5]},
    {"segment": "Loyal", "r": [3, 4], "f": [4, 5]},
    {"segment": "Can't lose them", "r": [1, 1], "f": [4, 5]},
    {"segment": "At risk", "r": [1, 2], "f": [3, 5]},
    {"segment": "Potential loyalists", "r": [4, 5], "f": [2, 3]},
    {"segment": "New", "r": [5, 5], "f": [1, 1]},
    {"segment": "Promising", "r": [4, 4], "f": [1, 1]},
    {"segment": "Need attention", "r": [3, 3], "f": [3, 3]},
    {"segment": "About to sleep", "r": [3, 3], "f": [1, 2]},
    {"segment": "Hibernating", "r": [2, 2], "f": [1, 2]},
    {"segment": "Lost", "r": [1, 1], "f": [1, 2]},
]


def quintile_score(values: pd.Series, higher_is_better: bool = True) -> pd.Series:
    """Scores 1-5 by rank; ties share the lowest rank of the tie (see module docstring)."""
    n = len(values)
    if n < 5:
        return pd.Series(3, index=values.index)
    ordered = values if higher_is_better else -values
    rank = ordered.rank(method="min")
    return (1 + np.floor(5 * (rank - 1) / n)).astype(int)


def rfm_scores(customers: pd.DataFrame) -> pd.DataFrame:
    """customer_id, r_score, f_score, m_score and the cell label (e.g. ``"545"``)."""
    out = pd.DataFrame(
        {
            "customer_id": customers["customer_id"].to_numpy(),
            "r_score": quintile_score(customers["days_since_last_order"], higher_is_better=False).to_numpy(),
            "f_score": quintile_score(customers["n_orders"]).to_numpy(),
            "m_score": quintile_score(customers["revenue_total"]).to_numpy(),
        }
    )
    out["rfm_cell"] = out["r_score"].astype(str) + out["f_score"].astype(str) + out["m_score"].astype(str)
    return out


def check_segment_map(segment_map: list[dict]) -> None:
    """Raise ConfigError unless every (R, F) cell from 1 to 5 is matched by some rule."""
    for rule in segment_map:
        if not {"segment", "r", "f"} <= set(rule):
            raise ConfigError(f"Each RFM map rule needs segment, r and f; got {rule}.")
    uncovered = [
        (r, f)
        for r in range(1, 6)
        for f in range(1, 6)
        if not any(rule["r"][0] <= r <= rule["r"][1] and rule["f"][0] <= f <= rule["f"][1] for rule in segment_map)
    ]
    if uncovered:
        raise ConfigError(
            f"The RFM segment map leaves (R, F) cells without a segment: {uncovered}. "
            "Add rules so every cell from (1, 1) to (5, 5) is covered."
        )


def assign_segments(scores: pd.DataFrame, segment_map: list[dict] | None = None) -> pd.Series:
    """The segment of each customer: the first rule of the map matching its (R, F) scores."""
    segment_map = segment_map or DEFAULT_SEGMENT_MAP
    check_segment_map(segment_map)
    r, f = scores["r_score"].to_numpy(), scores["f_score"].to_numpy()
    conditions = [
        (rule["r"][0] <= r) & (r <= rule["r"][1]) & (rule["f"][0] <= f) & (f <= rule["f"][1]) for rule in segment_map
    ]
    labels = np.select(conditions, [rule["segment"] for rule in segment_map], default="")
    return pd.Series(labels, index=scores.index, name="rfm_segment")


def segment_migration(
    transactions, as_of, earlier_as_of, segment_map: list[dict] | None = None, now: pd.Series | None = None
) -> pd.DataFrame:
    """Customers moving between RFM segments from ``earlier_as_of`` to ``as_of``: a count matrix,
    rows = segment then (or "(not yet a customer)"), columns = segment now. Scores are computed
    afresh at each date from the transactions up to that date (cleaned lines as
    ``segment_workbench.customers.engine`` takes them, or their cached ``engine.PurchaseDays``);
    ``now``: customer_id -> segment at ``as_of`` when already scored (03_segment's)."""
    history = engine.purchase_days(transactions)

    def segments_at(date):
        date = pd.Timestamp(date).normalize()
        table = table_before(history, date + pd.Timedelta(days=1))
        scores = rfm_scores(table)
        return pd.Series(assign_segments(scores, segment_map).to_numpy(), index=scores["customer_id"])

    now = segments_at(as_of) if now is None else now
    then = segments_at(earlier_as_of)
    before = then.reindex(now.index).fillna("(not yet a customer)")
    order = [rule["segment"] for rule in (segment_map or DEFAULT_SEGMENT_MAP)]
    order = list(dict.fromkeys(order))
    matrix = pd.crosstab(before, now)
    rows = [s for s in order + ["(not yet a customer)"] if s in matrix.index]
    cols = [s for s in order if s in matrix.columns]
    return matrix.loc[rows, cols]


def migration_start(as_of: pd.Timestamp, previous_as_of: pd.Timestamp | None, days: int) -> pd.Timestamp:
    """Start of the migration matrix: the previous report's as_of when it is earlier (a refresh
    shows the moves since the last report), else ``days`` before as_of."""
    as_of = pd.Timestamp(as_of)
    if previous_as_of is not None and pd.Timestamp(previous_as_of) < as_of:
        return pd.Timestamp(previous_as_of)
    return as_of - pd.Timedelta(days=days)
