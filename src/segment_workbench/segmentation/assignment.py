"""Assigning new customers to a segment from what is known at sign-up (attributes).

A linear discriminant model on the attributes (categories, bands, flags and places one-hot
encoded; numbers standardized, a missing number replaced by the median), with 5-fold
cross-validated accuracy compared with always guessing the largest segment. Attributes that
predict no better than that guess (within ``MIN_GAIN``) give no model: assigning by them would
mislead.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.impute import SimpleImputer
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from segment_workbench.errors import InputError
from segment_workbench.io.attributes import MIX_KINDS

MIN_GAIN = 0.02  # accuracy points above the largest-segment guess for a model to be worth using
MAX_LEVELS = 30  # a category with more values (a city) is left out of the default attributes
CV_SAMPLE = 100_000  # past this many customers the accuracy is cross-validated on a random sample of them


@dataclass
class Assigner:
    """The fitted model and its check: ``accuracy`` (cross-validated), ``baseline`` (share of
    the largest segment), ``customers`` it was fitted on, ``columns`` used, ``useful`` (accuracy
    at least ``MIN_GAIN`` above the baseline)."""

    model: object
    accuracy: float
    baseline: float
    customers: int
    columns: list[str]

    @property
    def useful(self) -> bool:
        return self.accuracy >= self.baseline + MIN_GAIN


def usable_attributes(attributes: pd.DataFrame, kinds: dict[str, str]) -> list[str]:
    """Attributes a model can use: numbers, and categories, bands, flags and places with at most
    ``MAX_LEVELS`` values (not dates, not ids)."""
    return [
        c
        for c, kind in kinds.items()
        if c in attributes
        and (kind == "number" or (kind in MIX_KINDS and attributes[c].nunique() <= MAX_LEVELS))
        and attributes[c].notna().any()
    ]


def fit_assigner(
    attributes: pd.DataFrame, segment: pd.Series, columns: list[str], kinds: dict[str, str], random_state: int = 0
) -> Assigner:
    """Fit on customers with a segment and at least one of ``columns``; ``segment`` is indexed by
    customer_id; the accuracy is cross-validated on at most ``CV_SAMPLE`` of them, drawn at
    random. Raises InputError with fewer than two segments of at least 5 such customers."""
    table = attributes.drop_duplicates("customer_id").set_index("customer_id")[columns]
    data = table.join(segment.rename("segment"), how="inner")
    data = data[data[columns].notna().any(axis=1)]
    counts = data["segment"].value_counts()
    data = data[data["segment"].isin(counts[counts >= 5].index)]  # 5-fold CV needs 5 per class
    if data["segment"].nunique() < 2:
        raise InputError("Fewer than two segments with at least 5 customers with attributes: nothing to learn.")
    numbers = [c for c in columns if kinds.get(c) == "number"]
    labels = [c for c in columns if c not in numbers]
    X = data[columns].copy()
    for column in labels:
        X[column] = X[column].astype(object).where(X[column].notna(), "(missing)").astype(str)
    model = make_pipeline(
        ColumnTransformer(
            [
                ("labels", OneHotEncoder(handle_unknown="ignore", sparse_output=False), labels),
                ("numbers", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), numbers),
            ]
        ),
        LinearDiscriminantAnalysis(),
    )
    folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=random_state)
    checked = X.sample(CV_SAMPLE, random_state=random_state).index if len(X) > CV_SAMPLE else X.index
    accuracy = float(np.mean(cross_val_score(model, X.loc[checked], data.loc[checked, "segment"], cv=folds)))
    model.fit(X, data["segment"])
    baseline = float(data["segment"].value_counts(normalize=True).iloc[0])
    return Assigner(model=model, accuracy=accuracy, baseline=baseline, customers=len(data), columns=columns)


def assign_new(assigner: Assigner, attributes: pd.DataFrame, kinds: dict[str, str]) -> pd.DataFrame:
    """Predicted segment and its probability for customers given only their attributes."""
    X = attributes[assigner.columns].copy()
    for column in assigner.columns:
        if kinds.get(column) != "number":
            X[column] = X[column].astype(object).where(X[column].notna(), "(missing)").astype(str)
    probabilities = assigner.model.predict_proba(X)
    best = probabilities.argmax(axis=1)
    return pd.DataFrame(
        {
            "customer_id": attributes["customer_id"].to_numpy(),
            "predicted_segment": assigner.model.classes_[best],
            "probability": probabilities.max(axis=1),
        }
    )
