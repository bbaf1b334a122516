"""03_segment's main computation: RFM segments and named behavioural clusters per customer."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from segment_workbench.customers.table import table_before
from segment_workbench.io.dtypes import TEXT
from segment_workbench.segmentation import clustering, rfm


@dataclass
class SegmentModel:
    """What 03_segment saves (``segment_model.joblib``) so later steps can place customers in
    the behavioural segments as of any date without refitting."""

    clusterer: clustering.SegmentClusterer
    names: dict[int, str]
    time_unit: str = "weeks"

    def segments_at(self, transactions, date: pd.Timestamp, removed=None) -> pd.Series:
        """customer_id -> segment name from the orders *before* ``date`` (customers with none are
        absent). ``transactions``: cleaned lines as ``segment_workbench.customers.engine`` takes them,
        their ``engine.PurchaseDays`` (cached: many dates are placed from one pass over the lines),
        or its ``RunningTotals`` (many dates in increasing order, each adding only the days since
        the one before); the engine selects the earlier ones, so a frame is not copied for each date."""
        date = pd.Timestamp(date).normalize()
        table = table_before(transactions, date, self.time_unit)
        if table.empty:
            return pd.Series(dtype=object, index=pd.Index([], dtype=TEXT, name="customer_id"), name="segment")
        features = clustering.behaviour_features(table, removed, before=date)
        labels = self.clusterer.predict(features)
        name_of = np.empty(max(self.names) + 1, dtype=object)  # cluster label -> name, taken for every customer
        for label, name in self.names.items():
            name_of[label] = name
        return pd.Series(name_of[labels], index=features.index, name="segment")


NOT_YET = "(not yet a customer)"


def segment_moves(
    model: SegmentModel, transactions, removed, segments: pd.Series, earlier: pd.Timestamp
) -> pd.DataFrame:
    """Customers moving between the behavioural segments: a count matrix, rows = the segment
    ``model`` places them in from their orders before ``earlier`` (``NOT_YET`` without any),
    columns = ``segments`` (customer_id -> segment now), both in the model's segment order."""
    then = model.segments_at(transactions, earlier, removed)
    before = then.reindex(segments.index).fillna(NOT_YET)
    matrix = pd.crosstab(before.to_numpy(), segments.to_numpy())
    order = list(dict.fromkeys(model.names.values()))
    rows = [s for s in [*order, NOT_YET] if s in matrix.index]
    return matrix.loc[rows, [s for s in order if s in matrix.columns]].rename_axis(index=None, columns=None)


@dataclass
class Segmentation:
    segments: pd.DataFrame  # customer_id, r/f/m scores, rfm_cell, rfm_segment, cluster, cluster_name
    features: pd.DataFrame  # readable behavioural features, aligned with segments' rows
    clusterer: clustering.SegmentClusterer
    rules: pd.DataFrame
    model: SegmentModel


DEFAULT_FEATURES = ["orders", "avg_order_value", "days_since_last_order", "tenure_days", "discount_share"]


def default_features(features: pd.DataFrame) -> list[str]:
    """``DEFAULT_FEATURES`` the data have, and a customer-level table's spend and channel shares;
    a feature other than orders, recency and tenure with one value for everyone (a visit log's
    order value) is left out."""
    wanted = [c for c in DEFAULT_FEATURES if c in features]
    wanted += [c for c in features if c.startswith(tuple(clustering.MIX_FEATURES))]
    return [c for c in wanted if c in ("orders", "days_since_last_order", "tenure_days") or features[c].nunique() > 1]


def segment_customers(
    customers: pd.DataFrame,
    removed: pd.DataFrame | None,
    *,
    k: int | None = None,
    method: str = "kmeans",
    k_range: tuple[int, int] = (2, 8),
    k_rule: str = "stable",
    min_stability: float = 0.8,
    min_share: float = 0.03,
    features: list[str] | None = None,
    names: dict[str, str] | None = None,
    rfm_map: list[dict] | None = None,
    time_unit: str = "weeks",
    random_state: int = 0,
) -> Segmentation:
    """RFM scores and segments, and behavioural clusters with names and readable rules.

    ``k``: number of clusters (None = chosen within ``k_range`` by ``k_rule``, with
    ``min_stability`` and ``min_share``: see ``clustering.SegmentClusterer``); ``method``:
    kmeans or gmm; ``features``: behaviour columns to cluster on (None = ``default_features``); ``names``: generated name -> your name; ``rfm_map``: None = the default map;
    ``time_unit``: the customer table's, kept by the model to place customers at other dates.
    Every customer gets exactly one RFM segment and one cluster.
    """
    scores = rfm.rfm_scores(customers)
    scores["rfm_segment"] = rfm.assign_segments(scores, rfm_map).to_numpy()
    all_features = clustering.behaviour_features(customers, removed)
    wanted = features or default_features(all_features)
    chosen = all_features[[c for c in wanted if c in all_features]]
    clusterer = clustering.SegmentClusterer(
        k=k,
        method=method,
        k_range=tuple(k_range),
        rule=k_rule,
        min_stability=min_stability,
        min_share=min_share,
        random_state=random_state,
    ).fit(chosen)
    named = clustering.name_clusters(chosen, clusterer.labels_, names) if clusterer.k_ > 1 else {0: "All customers"}
    scores["cluster"] = clusterer.labels_
    scores["cluster_name"] = [named[label] for label in clusterer.labels_]
    rules = clustering.surrogate_rules(chosen, scores["cluster_name"], random_state=random_state)
    model = SegmentModel(clusterer, named, time_unit)
    return Segmentation(
        segments=scores, features=all_features.reset_index(drop=True), clusterer=clusterer, rules=rules, model=model
    )
