"""Needs-based segmentation from survey answers: factor analysis, named factors, clusters.

Answers come prepared by ``segment_workbench.io.survey_file`` (one scale, reverse items recoded,
missing answers handled). The number of factors is chosen by Horn's parallel analysis unless
set: the factors kept are those whose eigenvalue of the answers' correlation matrix exceeds the
95th percentile of the same eigenvalue for random answers of the same shape.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.decomposition import FactorAnalysis
from sklearn.preprocessing import StandardScaler

from segment_workbench.errors import InputError
from segment_workbench.segmentation.clustering import SegmentClusterer


def question_label(column: str) -> str:
    """``q1_compare_prices`` -> ``compare prices``; a bare item number (``Q3``) stays as it is."""
    words = " ".join(part for part in column.split("_") if not (part[:1] in "qQ" and part[1:].isdigit()))
    return words or column


def parallel_analysis(answers: pd.DataFrame, n_draws: int = 50, quantile: float = 0.95, random_state: int = 0) -> int:
    """Factors to keep by Horn's parallel analysis (module docstring); at least 1."""
    X = StandardScaler().fit_transform(answers.to_numpy(float))
    observed = np.sort(np.linalg.eigvalsh(np.corrcoef(X, rowvar=False)))[::-1]
    rng = np.random.default_rng(random_state)
    random = np.array(
        [
            np.sort(np.linalg.eigvalsh(np.corrcoef(rng.standard_normal(X.shape), rowvar=False)))[::-1]
            for _ in range(n_draws)
        ]
    )
    above = observed > np.quantile(random, quantile, axis=0)
    return max(1, int(np.argmin(above)) if not above.all() else len(above))


def factor_analysis(
    survey: pd.DataFrame, n_factors: int = 2, random_state: int = 0
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Varimax-rotated factor analysis of the answers (all columns but customer_id).

    Returns (loadings: question x factor, scores: customer_id x factor). Each factor is named
    after its two highest-loading questions, e.g. "compare prices / wait for sales". Raises
    ValueError with fewer answers than questions + 1.
    """
    answers = survey.drop(columns="customer_id")
    if len(answers) <= answers.shape[1]:
        raise InputError(f"{len(answers)} survey answers are too few for {answers.shape[1]} questions.")
    X = StandardScaler().fit_transform(answers.to_numpy(float))
    fa = FactorAnalysis(n_components=n_factors, rotation="varimax", random_state=random_state).fit(X)
    loadings = fa.components_.T  # question x factor
    # Orient each factor so its largest loading is positive (a factor's sign is arbitrary).
    signs = np.sign(loadings[np.abs(loadings).argmax(axis=0), np.arange(loadings.shape[1])])
    loadings = loadings * signs
    names = [
        " / ".join(question_label(q) for q in answers.columns[np.argsort(-loadings[:, j])[:2]])
        for j in range(loadings.shape[1])
    ]
    scores = pd.DataFrame(
        fa.transform(X) * signs, columns=names, index=pd.Index(survey["customer_id"], name="customer_id")
    )
    return pd.DataFrame(loadings, index=answers.columns, columns=names), scores


def name_needs_clusters(scores: pd.DataFrame, labels: np.ndarray) -> dict[int, str]:
    """Each cluster named after its highest mean factor score ("High: compare prices / ..."),
    or "Indifferent" when no factor is above average."""
    names = {}
    for label in sorted(set(labels)):
        means = scores[labels == label].mean()
        names[label] = f"High: {means.idxmax()}" if means.max() > 0 else "Indifferent"
    seen: dict[str, int] = {}
    for label, name in names.items():
        seen[name] = seen.get(name, 0) + 1
        if seen[name] > 1:
            names[label] = f"{name} ({seen[name]})"
    return names


@dataclass
class Needs:
    """Needs-based groups from survey answers: the factor loadings, each respondent's group
    (indexed by customer_id) and the number of groups."""

    loadings: pd.DataFrame
    groups: pd.Series
    k: int
    n_factors: int
    chosen_by: str  # "parallel analysis" or "the config"


def needs_segments(survey: pd.DataFrame, n_factors: int | None = None, random_state: int = 0) -> Needs:
    """Factor analysis of the answers (``n_factors`` None: chosen by parallel analysis), then
    clusters (2 to 5, chosen by silhouette) on the factor scores, each named after its strongest
    factor."""
    chosen_by = "the config" if n_factors else "parallel analysis"
    if n_factors is None:
        n_factors = parallel_analysis(survey.drop(columns="customer_id"), random_state=random_state)
    loadings, scores = factor_analysis(survey, n_factors, random_state)
    clusterer = SegmentClusterer(k_range=(2, 5), n_bootstrap=0, random_state=random_state).fit(scores)
    names = name_needs_clusters(scores, clusterer.labels_)
    return Needs(
        loadings=loadings,
        groups=pd.Series([names[label] for label in clusterer.labels_], index=scores.index),
        k=clusterer.k_,
        n_factors=n_factors,
        chosen_by=chosen_by,
    )
