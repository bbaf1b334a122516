"""Behavioural clustering with explainable, named segments.

- ``behaviour_features``: readable per-customer features (orders, average order value, days
  since the last order, tenure in days, and where the data has them discount share and
  return rate).
- ``SegmentClusterer``: log-transform of the skewed features, standard scaling, KMeans or a
  Gaussian mixture. With ``k=None`` it tries ``k_range``, with per k the silhouette, the
  stability (clusters refitted on bootstrap resamples of at most ``STABILITY_SAMPLE``
  customers, labels of all customers compared by the adjusted Rand index) and the smallest
  segment's share. The ``stable`` rule (default) takes **the richest stable solution an owner
  can act on**: the largest k in ``owner_k`` (3–7) with stability at least ``min_stability``
  (0.8), every segment at least ``min_share`` (3%) of customers, no base name (``NAME_RULES``)
  shared by more than two segments (three "One-time buyers" are not distinct profiles to an
  owner) and a silhouette within ``DISTINCT`` (5%) of the best such k (KMeans splits a
  homogeneous group the same way on every resample, so stability alone would favour the most
  segments). The silhouette alone favours 2 on most shops' data, whatever an owner could act on. When no k qualifies (the data support fewer), or with the
  ``silhouette`` rule, it takes the smallest k whose silhouette is within ``tolerance`` (5%)
  of the best.
- ``name_clusters``: a short descriptive name per cluster from its medians, by the ordered
  rules in ``NAME_RULES`` (data, so they can be read and changed).
- ``surrogate_rules``: at most three readable rules per segment from a shallow decision tree
  fitted to the cluster labels, with the tree's fidelity (share of customers it classifies
  like the clusters do).
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pandas as pd
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score, silhouette_score
from sklearn.mixture import GaussianMixture
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier

from segment_workbench.customers import engine
from segment_workbench.errors import ConfigError, NotFittedError

#: feature -> (label for people, transform before scaling)
FEATURES = {
    "orders": ("orders", np.log1p),
    "avg_order_value": ("average order value", np.log1p),
    "days_since_last_order": ("days since last order", np.log1p),
    "tenure_days": ("days since first order", np.log1p),
    "discount_share": ("share of value discounted", None),
    "return_rate": ("returned lines per order", None),
}


#: Features of a customer-level table, by prefix: (label for people, with the category or channel).
MIX_FEATURES = {"spend_share_": "share of spend on {}", "channel_share_": "share of purchases via {}"}


def feature_label(feature: str) -> str:
    """A feature's name for people ("share of spend on wines")."""
    if feature in FEATURES:
        return FEATURES[feature][0]
    prefix = next((p for p in MIX_FEATURES if feature.startswith(p)), None)
    return (
        MIX_FEATURES[prefix].format(feature.removeprefix(prefix).replace("_", " "))
        if prefix
        else feature.replace("_", " ")
    )


def behaviour_features(customers: pd.DataFrame, removed=None, before: pd.Timestamp | None = None) -> pd.DataFrame:
    """Per-customer features in readable units, indexed by customer_id.

    ``return_rate`` (netted return lines per order, those dated before ``before`` when given) is
    added when the cleaning step's removed rows (a frame, or their Parquet file) show returns; ``discount_share`` and ``tenure_days`` when the customer table has them;
    a customer-level table adds its shares of spend per category and of purchases per channel.
    """
    out = pd.DataFrame(
        {
            "orders": customers["n_orders"].to_numpy(float),
            "avg_order_value": customers["avg_order_value"].to_numpy(float),
            "days_since_last_order": customers["days_since_last_order"].to_numpy(float),
        },
        index=pd.Index(customers["customer_id"], name="customer_id"),
    )
    for column in ["tenure_days", "discount_share"] + [c for c in customers if c.startswith(tuple(MIX_FEATURES))]:
        if column in customers:
            out[column] = customers[column].to_numpy(float)
    returns = engine.netted_returns(removed, before) if removed is not None else ()
    if len(returns):
        out["return_rate"] = np.nan_to_num(engine.align(returns, out.index)) / out["orders"].to_numpy()
    return out


def transform(features: pd.DataFrame) -> pd.DataFrame:
    """Log-transform the skewed features (see FEATURES); others unchanged."""
    columns = []
    for col in features.columns:
        fn = FEATURES.get(col, (col, None))[1]
        columns.append(features[col] if fn is None else fn(features[col]))
    # a new frame of the columns side by side: copying millions of rows into 2-D blocks took seconds
    return pd.concat(columns, axis=1, copy=False) if columns else features.copy()


#: The stable rule keeps k whose silhouette is within this share of the best stable k's: KMeans
#: splits a homogeneous group the same way on every resample (stable), but it separates less.
DISTINCT = 0.05

#: Above this many customers the stability resamples draw this many: at 500k customers, 20
#: full-size refits took 37 of segmentation's 58 s. Refits on fewer customers vary more, so
#: the index is, if anything, lower than full-size resamples would give.
STABILITY_SAMPLE = 50_000
#: Above this many customers, the number of segments is chosen on a random sample of this many
#: (every k's model is fitted on it; the chosen one then places every customer): at 5M
#: customers, 7 values of k x 10 KMeans starts on all of them took most of 03_segment.
FIT_SAMPLE = 100_000


class SegmentClusterer:
    """Cluster customers on behavioural features (scikit-learn style: fit, labels_, predict).

    Parameters
    ----------
    k : number of clusters, or None to choose it from ``k_range`` (see module docstring).
    method : "kmeans" or "gmm" (Gaussian mixture, full covariance).
    k_range : (smallest, largest) k tried.
    rule : "stable" (the richest stable k in ``owner_k``) or "silhouette" (parsimony only).
    owner_k, min_stability, min_share : the ``stable`` rule's range of k, least adjusted Rand
        index over resamples and least share of customers in a segment.
    tolerance : relative silhouette tolerance of the parsimony rule.
    n_bootstrap : resamples for the chosen k's stability (0 to skip); ``selection_resamples``
        per k tried by the ``stable`` rule.
    random_state : seed of every random step.

    Fitted attributes: ``k_``, ``labels_``, ``selection_`` (k, silhouette, bic, stability,
    smallest_share per k tried), ``stability_`` (mean adjusted Rand index over the resamples),
    ``reason_`` (why this k), ``message_`` (what was done when the data do not allow
    clustering).
    """

    def __init__(
        self,
        k: int | None = None,
        method: str = "kmeans",
        k_range: tuple[int, int] = (2, 8),
        rule: str = "stable",
        owner_k: tuple[int, int] = (3, 7),
        min_stability: float = 0.8,
        min_share: float = 0.03,
        tolerance: float = 0.05,
        n_bootstrap: int = 20,
        selection_resamples: int = 5,
        random_state: int = 0,
    ):
        self.k = k
        self.method = method
        self.k_range = k_range
        self.rule = rule
        self.owner_k = owner_k
        self.min_stability = min_stability
        self.min_share = min_share
        self.tolerance = tolerance
        self.n_bootstrap = n_bootstrap
        self.selection_resamples = selection_resamples
        self.random_state = random_state

    def _model(self, k: int):
        if self.method == "kmeans":
            return KMeans(n_clusters=k, n_init=10, random_state=self.random_state)
        if self.method == "gmm":
            return GaussianMixture(n_components=k, n_init=3, random_state=self.random_state)
        raise ConfigError(f"method must be 'kmeans' or 'gmm', got {self.method!r}.")

    def fit(self, features: pd.DataFrame) -> SegmentClusterer:
        X = transform(features).to_numpy(float)
        self.feature_names_ = list(features.columns)
        distinct = len(np.unique(X, axis=0))
        self.message_ = ""
        self.reason_ = "set in the config" if self.k is not None else ""
        self.selection_ = pd.DataFrame(columns=["k", "silhouette", "bic", "stability", "smallest_share", "same_name"])
        self.stability_ = float("nan")
        if distinct < 3:
            self.k_ = 1
            self.labels_ = np.zeros(len(X), dtype=int)
            self.message_ = (
                f"Only {distinct} distinct customer profile(s): no clustering possible, "
                "every customer is in one segment."
            )
            self.scaler_, self.model_ = None, None
            return self
        self.scaler_ = StandardScaler().fit(X)
        Z = self._scaled(X)
        largest = min(self.k_range[1], distinct - 1)
        fitted = {}
        if self.k is not None:
            k = min(self.k, distinct - 1)
            if k < self.k:
                self.message_ = f"k = {self.k} asked for, but only {distinct} distinct customer profiles: k = {k} used."
        else:
            rows = []
            Zs, sampled = Z, features  # past FIT_SAMPLE customers, k is chosen on a random sample of them
            if len(Z) > FIT_SAMPLE:
                rows_drawn = np.random.default_rng(self.random_state).choice(len(Z), FIT_SAMPLE, replace=False)
                Zs, sampled = Z[rows_drawn], features.iloc[rows_drawn]
            for k_try in range(self.k_range[0], largest + 1):
                model = fitted[k_try] = self._model(k_try).fit(Zs)
                labels = model.predict(Zs)
                sil = (
                    silhouette_score(Zs, labels, sample_size=min(len(Zs), 5000), random_state=self.random_state)
                    if len(set(labels)) > 1
                    else float("nan")
                )
                bic = model.bic(Zs) if self.method == "gmm" else float("nan")
                stable = (
                    self._stability(Zs, k_try, labels, self.selection_resamples)
                    if self.rule == "stable"
                    else float("nan")
                )
                shares = np.bincount(labels, minlength=k_try) / len(labels)
                rows.append(
                    {
                        "k": k_try,
                        "silhouette": sil,
                        "bic": bic,
                        "stability": stable,
                        "smallest_share": shares.min(),
                        # behaviour only: NAME_RULES read orders and recency (survey factors have none)
                        "same_name": max(Counter(base_names(sampled, labels).values()).values())
                        if {"orders", "days_since_last_order"} <= set(features.columns)
                        else float("nan"),
                    }
                )
            self.selection_ = pd.DataFrame(rows)
            k = self._choose(self.selection_)
        self.k_ = k
        self.model_ = fitted[k] if k in fitted else self._model(k).fit(Z)  # the selection fitted it already
        self.labels_ = self.model_.predict(Z)
        if self.n_bootstrap:
            self.stability_ = self._stability(Z)
        return self

    def _choose(self, selection: pd.DataFrame) -> int:
        """The k of the rule (module docstring); sets ``reason_``."""
        best = selection["silhouette"].max()
        if self.rule == "stable":
            stable = selection[
                selection["k"].between(*self.owner_k)
                & (selection["stability"] >= self.min_stability)
                & (selection["smallest_share"] >= self.min_share)
                & (selection["same_name"].fillna(1) <= 2)
            ]
            # distinct profiles: a stable split of a homogeneous group separates less well
            fit = stable[stable["silhouette"] >= (1 - DISTINCT) * stable["silhouette"].max()]
            if len(fit):
                self.reason_ = (
                    f"the richest stable solution between {self.owner_k[0]} and {self.owner_k[1]} segments "
                    f"(stability at least {self.min_stability}, every segment at least {self.min_share:.0%} of "
                    f"customers, no name shared by more than two, silhouette within {DISTINCT:.0%} of the best "
                    "such solution)"
                )
                return int(fit["k"].max())
            self.reason_ = (
                f"no k between {self.owner_k[0]} and {self.owner_k[1]} is stable with every segment at least "
                f"{self.min_share:.0%} of customers: the smallest k within {self.tolerance:.0%} of the best silhouette"
            )
        else:
            self.reason_ = f"the smallest k within {self.tolerance:.0%} of the best silhouette"
        return int(selection.loc[selection["silhouette"] >= best * (1 - self.tolerance), "k"].min())

    def _stability(self, Z: np.ndarray, k: int | None = None, labels=None, resamples: int | None = None) -> float:
        """Mean adjusted Rand index between ``labels`` and the labels of k clusters refitted on
        bootstrap resamples (default: the fit's k and labels, ``n_bootstrap`` resamples)."""
        rng = np.random.default_rng(self.random_state)
        k = self.k_ if k is None else k
        labels = self.labels_ if labels is None else labels
        scores = []
        for _ in range(self.n_bootstrap if resamples is None else resamples):
            sample = Z[rng.integers(0, len(Z), min(len(Z), STABILITY_SAMPLE))]
            refit = self._model(k).fit(sample)
            scores.append(adjusted_rand_score(labels, refit.predict(Z)))
        return float(np.mean(scores))

    def predict(self, features: pd.DataFrame) -> np.ndarray:
        """Cluster of new customers with the same feature columns."""
        if not hasattr(self, "model_"):
            raise NotFittedError("SegmentClusterer is not fitted yet: call fit() first.")
        if self.model_ is None:
            return np.zeros(len(features), dtype=int)
        Z = self._scaled(transform(features[self.feature_names_]).to_numpy(float))
        centers = getattr(self.model_, "cluster_centers_", None)  # a model saved before KMeans took float32
        return self.model_.predict(Z if centers is None else Z.astype(centers.dtype, copy=False))

    def _scaled(self, X: np.ndarray) -> np.ndarray:
        """Standardized features; single precision for KMeans, whose fits take a third of the time
        in it (the features are standardized logs: six digits are plenty)."""
        Z = self.scaler_.transform(X)
        return Z.astype(np.float32) if self.method == "kmeans" else Z


#: Naming rules, tried in order against a cluster's medians (m; its 75th percentiles as
#: ``<feature>_q75``) and all customers' medians (all); a feature the data lack (a visit log has
#: no order value) is NaN, and a comparison with it fails. "One-time buyers" need three in four
#: with a single order: a cluster whose middle half has 1–2 orders is not, to an owner.
NAME_RULES = [
    ("One-time buyers", lambda m, all_: m["orders_q75"] <= 1),
    ("New regulars", lambda m, all_: m.get("tenure_days", np.nan) <= 120 and m["orders"] >= 2),
    (
        "Lapsed regulars",
        lambda m, all_: m["days_since_last_order"] >= max(180, 2 * all_["days_since_last_order"]) and m["orders"] >= 3,
    ),
    ("Big spenders", lambda m, all_: m.get("avg_order_value", np.nan) >= 1.5 * all_.get("avg_order_value", np.nan)),
    (
        "Bargain hunters",
        lambda m, all_: (
            m.get("discount_share", 0) >= max(0.08, 2 * all_.get("discount_share", 0))
            or m.get("avg_order_value", np.nan) <= 0.6 * all_.get("avg_order_value", np.nan)
        ),
    ),
    (
        "Best customers",
        lambda m, all_: (
            m["orders"] >= 1.3 * all_["orders"]
            and m.get("avg_order_value", np.nan) >= 1.3 * all_.get("avg_order_value", np.nan)
        ),
    ),
    ("Frequent buyers", lambda m, all_: m["orders"] >= 1.5 * all_["orders"]),
    ("Fading customers", lambda m, all_: m["days_since_last_order"] >= 1.5 * all_["days_since_last_order"]),
    ("Occasional buyers", lambda m, all_: True),
]


#: How two clusters with the same name are told apart: (word for the higher, for the lower value).
QUALIFIERS = {
    "orders": ("frequent", "infrequent"),
    "avg_order_value": ("high spend", "low spend"),
    "days_since_last_order": ("lapsed", "recent"),
    "tenure_days": ("long-standing", "new"),
    "discount_share": ("discount-driven", "full price"),
    "return_rate": ("many returns", "few returns"),
}
#: Words that say how long ago, used only where their cluster's median says so (days): "new"
#: for a first purchase at most NEW_DAYS ago, as "New regulars"; "recent" for a last purchase at
#: most RECENT_DAYS ago, and "lapsed" for one longer ago. Each with (when it holds, the
#: relative word said in its place otherwise).
NEW_DAYS, RECENT_DAYS = 120, 90
ABSOLUTE_WORDS = {
    ("tenure_days", "new"): (lambda median: median <= NEW_DAYS, "joined later"),
    ("days_since_last_order", "recent"): (lambda median: median <= RECENT_DAYS, "bought more recently"),
    ("days_since_last_order", "lapsed"): (lambda median: median > RECENT_DAYS, "bought less recently"),
}


def _qualifier(feature: str, word: str, median: float) -> str:
    """``word`` for a cluster whose ``feature`` has this median, or the relative word in its place
    when the absolute one would not be true of it (a group called "new" whose first purchase
    was two years ago)."""
    if (feature, word) not in ABSOLUTE_WORDS:
        return word
    holds, relative = ABSOLUTE_WORDS[(feature, word)]
    return word if holds(median) else relative


def mix_phrase(features: pd.DataFrame, in_cluster: np.ndarray, min_ratio: float = 1.2) -> str:
    """What a cluster buys more of, and where, than customers overall: the spend category and
    the channel whose mean share is most above the overall mean (by ratio, at least
    ``min_ratio``), e.g. "wines, catalogue"; "" without such columns or differences."""
    words = []
    for prefix in MIX_FEATURES:
        columns = [c for c in features.columns if c.startswith(prefix)]
        if not columns:
            continue
        overall = features[columns].mean().replace(0, np.nan)
        ratio = features.loc[in_cluster, columns].mean() / overall
        if ratio.notna().any() and ratio.max() >= min_ratio:
            words.append(ratio.idxmax().removeprefix(prefix).replace("_", " "))
    return ", ".join(words)


def base_names(features: pd.DataFrame, labels: np.ndarray) -> dict[int, str]:
    """Each cluster's name by the first of ``NAME_RULES`` its medians meet (before the mix and
    the qualifiers that tell same-named clusters apart)."""
    overall = features.median()
    names = {}
    for label in sorted(set(labels)):
        part = features[labels == label]
        centre = pd.concat([part.median(), part.quantile(0.75).add_suffix("_q75")])
        names[label] = next(name for name, rule in NAME_RULES if rule(centre, overall))
    return names


def name_clusters(
    features: pd.DataFrame, labels: np.ndarray, overrides: dict[str, str] | None = None
) -> dict[int, str]:
    """A descriptive, unique name per cluster. A customer-level table's spend and channel mix
    is added where a cluster stands out ("Big spenders: wines, catalogue"). Clusters that get
    the same name are told apart by the feature whose medians differ most between them (in
    standard deviations of the transformed feature), e.g. "One-time buyers (discount-driven)"
    and "(full price)"; more than two are numbered along it. ``overrides`` maps a generated
    name to the analyst's."""
    names = {}
    for label, base in base_names(features, labels).items():
        mix = mix_phrase(features, labels == label)
        names[label] = f"{base}: {mix}" if mix else base
    scaled = transform(features)
    scaled = (scaled - scaled.mean()) / scaled.std(ddof=0).replace(0, 1)
    by_name: dict[str, list[int]] = {}
    for label, name in names.items():
        by_name.setdefault(name, []).append(label)
    for name, group in by_name.items():
        if len(group) < 2:
            continue
        medians = pd.DataFrame({label: scaled[labels == label].median() for label in group})
        feature = (medians.max(axis=1) - medians.min(axis=1)).idxmax()
        ordered = medians.loc[feature].sort_values(ascending=False).index
        high, low = QUALIFIERS.get(feature, (f"higher {feature}", f"lower {feature}"))
        for rank, label in enumerate(ordered):
            word = low if rank and len(group) == 2 else high
            qualifier = _qualifier(feature, word, features.loc[labels == label, feature].median())
            number = f" {rank + 1}" if rank and len(group) > 2 else ""
            names[label] = f"{name} ({qualifier}{number})"
    overrides = overrides or {}
    return {label: overrides.get(name, name) for label, name in names.items()}


def _describe(feature: str, op: str, threshold: float) -> str:
    label = feature_label(feature)
    if feature == "discount_share" or feature.startswith(tuple(MIX_FEATURES)):
        value = f"{threshold:.0%}"
    elif feature == "return_rate":
        value = f"{threshold:.2f}"
    elif feature == "avg_order_value":
        value = f"{threshold:,.2f}"
    else:
        value = f"{threshold:,.0f}"
    return f"{label} {op} {value}"


def _leaf_paths(tree: DecisionTreeClassifier, columns: list[str]) -> dict[int, list[str]]:
    """Each leaf of a fitted tree with the readable conditions on the way to it; of several
    conditions on one feature in one direction only the tightest is kept ("≤ 25 and ≤ 17" is
    "≤ 17")."""
    t = tree.tree_
    paths: dict[int, list[str]] = {}
    stack: list[tuple[int, dict[tuple[str, str], float]]] = [(0, {})]
    while stack:
        node, bounds = stack.pop()
        if t.children_left[node] == -1:
            paths[node] = [_describe(feature, op, value) for (feature, op), value in bounds.items()]
            continue
        name, threshold = columns[t.feature[node]], t.threshold[node]
        upper = {**bounds, (name, "≤"): min(threshold, bounds.get((name, "≤"), np.inf))}
        lower = {**bounds, (name, ">"): max(threshold, bounds.get((name, ">"), -np.inf))}
        stack.append((t.children_right[node], lower))
        stack.append((t.children_left[node], upper))
    return paths


def surrogate_rules(
    features: pd.DataFrame, segments: pd.Series, max_depth: int = 3, max_rules: int = 3, random_state: int = 0
) -> pd.DataFrame:
    """Readable rules per segment: for each segment a shallow decision tree separates it from
    all other customers (one against the rest), on the readable features.

    One row per rule (at most ``max_rules`` per segment, the leaves that cover most of the
    segment): segment, rule, customers (matching the rule), precision (share of them in the
    segment), recall (share of the segment they cover), fidelity (share of all customers the
    segment's tree classifies as the clustering does).
    """
    y = segments.to_numpy()
    X = features.to_numpy(float)
    rows = []
    for segment in pd.unique(y):
        target = y == segment
        if target.all():
            rows.append(
                {
                    "segment": segment,
                    "rule": "all customers",
                    "customers": len(y),
                    "precision": 1.0,
                    "recall": 1.0,
                    "fidelity": 1.0,
                }
            )
            continue
        tree = DecisionTreeClassifier(
            max_depth=max_depth,
            min_samples_leaf=max(1, len(y) // 100),
            class_weight="balanced",
            random_state=random_state,
        ).fit(X, target)
        fidelity = float((tree.predict(X) == target).mean())
        leaves = tree.apply(X)
        candidates = []
        for leaf, conditions in _leaf_paths(tree, list(features.columns)).items():
            in_leaf = leaves == leaf
            hits = int((in_leaf & target).sum())
            if hits and hits / in_leaf.sum() > 0.5:
                candidates.append(
                    {
                        "segment": segment,
                        "rule": " and ".join(conditions) or "all customers",
                        "customers": int(in_leaf.sum()),
                        "precision": hits / in_leaf.sum(),
                        "recall": hits / target.sum(),
                        "fidelity": fidelity,
                    }
                )
        candidates.sort(key=lambda r: -r["recall"])
        rows += candidates[:max_rules] or [
            {
                "segment": segment,
                "rule": "(no simple rule separates this segment)",
                "customers": int(target.sum()),
                "precision": float("nan"),
                "recall": float("nan"),
                "fidelity": fidelity,
            }
        ]
    return pd.DataFrame(rows)
