"""The rules for a customer table (``source.level: customers``: one row per customer), in
pandas: the table is per customer, so it always fits in memory. Order lines are cleaned by the
engine (``segment_workbench.cleaning.rules``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd

from segment_workbench.cleaning.log import (
    LOG_COLUMNS,
    CleaningResult,
    check_accounting,
    line_revenue,
    nothing_left,
)
from segment_workbench.errors import InputError


@dataclass(frozen=True)
class Rule:
    name: str
    description: str
    removes: Callable[[pd.DataFrame, str], pd.Series]  # (table, file) -> mask of the rows it removes
    reason: str


def _duplicate_customer_id(df: pd.DataFrame, file: str) -> pd.Series:
    repeated = df["customer_id"].duplicated(keep=False)
    if repeated.any():
        raise InputError(
            f"{int(df.loc[repeated, 'customer_id'].nunique())} customer id(s) appear on more than one row of the customer table.",
            file=file,
            column="customer_id",
            rows=df[repeated].drop(columns="source_row").head(6),
            hint="A customer table has one row per customer: remove or merge the repeated rows.",
        )
    return repeated


def _missing_totals(df: pd.DataFrame, file: str) -> pd.Series:
    recency = "days_since_last_order" if "days_since_last_order" in df else "last_purchase"
    return df[[recency, "n_orders", "revenue_total"]].isna().any(axis=1)


def _negative_values(df: pd.DataFrame, file: str) -> pd.Series:
    behaviour = [c for c in df.columns if c not in ("source_row", "customer_id") and pd.api.types.is_float_dtype(df[c])]
    return (df[behaviour] < 0).any(axis=1)


CUSTOMER_RULES: list[Rule] = [
    Rule(
        "missing_customer_id",
        "Rows without a customer id.",
        lambda df, _: df["customer_id"].isna(),
        "missing_customer_id",
    ),
    Rule(
        "duplicate_customer_id",
        "Several rows for one customer id (stops with a message).",
        _duplicate_customer_id,
        "duplicate_customer_id",
    ),
    Rule(
        "missing_totals",
        "Rows whose recency, number of purchases or spend is missing or unreadable.",
        _missing_totals,
        "missing_recency_orders_or_spend",
    ),
    Rule(
        "negative_values",
        "Rows with a negative spend, count or recency (an export error).",
        _negative_values,
        "negative_value",
    ),
    Rule(
        "no_purchases",
        "Customers with no purchase: nothing to segment by behaviour.",
        lambda df, _: df["n_orders"] <= 0,
        "no_purchases",
    ),
]


def clean_customer_table(table: pd.DataFrame, file: str = "customers") -> CleaningResult:
    """Apply ``CUSTOMER_RULES`` in order; the log has one row per rule (reason "" when it removed
    nothing). Raises InputError when no row survives."""
    df = table.reset_index(drop=True)
    rows_in, revenue_in = len(df), float(line_revenue(df).clip(lower=0).sum())
    log_rows, removed_parts = [], []
    for step, rule in enumerate(CUSTOMER_RULES, start=1):
        mask = rule.removes(df, file).fillna(False).astype(bool)
        removed = df[mask].assign(reason=rule.reason, rule=rule.name)
        df = df[~mask]
        log_rows.append(
            {
                "step": step,
                "rule": rule.name,
                "reason": rule.reason if len(removed) else "",
                "description": rule.description,
                "rows_removed": len(removed),
                "revenue_removed": float(line_revenue(removed).sum()),
                "rows_adjusted": 0,
                "revenue_adjusted": 0.0,
                "rows_remaining": len(df),
            }
        )
        removed_parts.append(removed)
    log = pd.DataFrame(log_rows, columns=LOG_COLUMNS)
    check_accounting(rows_in, len(df), log)
    if len(df) == 0:
        raise nothing_left(log, file)
    return CleaningResult(
        transactions=df.reset_index(drop=True),
        log=log,
        removed=pd.concat(removed_parts, ignore_index=True),
        rows_in=rows_in,
        revenue_in=revenue_in,
    )
