"""Assigning new customers to a segment from what is known at sign-up (attributes).

A linear discriminant model on one-hot encoded attributes, with cross-validated accuracy
compared with always guessing the largest segment.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder

from segment_workbench.errors import InputError


def fit_assigner(attributes: pd.DataFrame, segment: pd.Series, columns: list[str], random_state: int = 0):
    """Fit on customers with both attributes and a segment. Returns (model, cv accuracy, baseline)."""
    data = attributes.set_index("customer_id")[columns].join(segment.rename("segment"), how="inner").dropna()
    counts = data["segment"].value_counts()
    data = data[data["segment"].isin(counts[counts >= 5].index)]  # 5-fold CV needs 5 per class
    if data["segment"].nunique() < 2:
        raise InputError("Fewer than two segments with at least 5 customers with attributes: nothing to learn.")
    model = make_pipeline(OneHotEncoder(handle_unknown="ignore", sparse_output=False), LinearDiscriminantAnalysis())
    folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=random_state)
    accuracy = float(np.mean(cross_val_score(model, data[columns], data["segment"], cv=folds)))
    model.fit(data[columns], data["segment"])
    baseline = float(data["segment"].value_counts(normalize=True).iloc[0])
    return model, accuracy, baseline


def assign_new(model, attributes: pd.DataFrame) -> pd.DataFrame:
    """Predicted segment and its probability for customers given only their attributes."""
    columns = list(model.feature_names_in_)
    probabilities = model.predict_proba(attributes[columns])
    best = probabilities.argmax(axis=1)
    return pd.DataFrame(
        {
            "customer_id": attributes["customer_id"].to_numpy(),
            "predicted_segment": model.classes_[best],
            "probability": probabilities.max(axis=1),
        }
    )
