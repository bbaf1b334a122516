"""Named, ordered, parameterized cleaning rules with an accounting log.

Every row is accounted for: ``rows_in == rows_kept + sum(rows_removed)``, checked in code.
Each removed row is kept, with its rule and reason, in ``CleaningResult.removed``.
Returns/cancellations are netted against the customer's purchases of the same product (latest
purchase on or before the return first); a purchase returned in part keeps its reduced
quantity and is counted as *adjusted*, with the revenue change logged.

Parameters: ``segment_workbench.config.CleaningConfig`` (config section ``cleaning``): ``skip``
(rule names to switch off), ``cancellation_prefix``, ``test_patterns`` ({column: regex}),
``non_product_codes``, ``cancelled_statuses``, ``max_line_amount``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pandera.errors

from segment_workbench.config import CleaningConfig, validated
from segment_workbench.errors import InputError
from segment_workbench.io.dtypes import TEXT
from segment_workbench.io.schema import CLEAN_TRANSACTIONS

LOG_COLUMNS = [
    "step",
    "rule",
    "reason",
    "description",
    "rows_removed",
    "revenue_removed",
    "rows_adjusted",
    "revenue_adjusted",
    "rows_remaining",
]


class AccountingError(AssertionError):
    """Rows were lost or invented by a cleaning rule (a bug, never a data problem)."""


@dataclass
class RuleResult:
    kept: pd.DataFrame
    removed: pd.DataFrame  # has a ``reason`` column
    rows_adjusted: int = 0
    revenue_adjusted: float = 0.0


@dataclass(frozen=True)
class Rule:
    name: str
    description: str
    apply: Callable[[pd.DataFrame, dict[str, Any], pd.Timestamp], RuleResult]


@dataclass
class CleaningResult:
    transactions: pd.DataFrame
    log: pd.DataFrame
    removed: pd.DataFrame
    rows_in: int
    revenue_in: float

    @property
    def summary(self) -> dict[str, float]:
        """Rows and revenue in, kept and removed; shares are fractions of the input."""
        removed = int(self.log["rows_removed"].sum())
        revenue_kept = float(line_revenue(self.transactions).sum())
        return {
            "rows_in": self.rows_in,
            "rows_kept": len(self.transactions),
            "rows_removed": removed,
            "share_rows_removed": removed / self.rows_in if self.rows_in else 0.0,
            "revenue_in": self.revenue_in,
            "revenue_kept": revenue_kept,
            "customers_kept": int(self.transactions["customer_id"].nunique()),
        }


def line_revenue(df: pd.DataFrame) -> pd.Series:
    """Revenue of each line (``amount``; of each row of a customer table, ``revenue_total``);
    unparseable values count as 0."""
    return df["amount" if "amount" in df else "revenue_total"].fillna(0.0)


def _no_rows(df: pd.DataFrame) -> pd.DataFrame:
    """``df``'s columns without rows, holding none of its memory (a zero-row slice would keep
    every Arrow text column of ``df`` alive for as long as it lives)."""
    return df.take([])


def _drop(df: pd.DataFrame, mask: pd.Series, reason: str) -> RuleResult:
    mask = mask.fillna(False).astype(bool)
    if not mask.any():  # most rules remove nothing: no copy of the lines
        return RuleResult(kept=df, removed=_no_rows(df).assign(reason=reason))
    return RuleResult(kept=df[~mask], removed=df[mask].assign(reason=reason))


def _repeated_header(df, params, as_of):
    """Rows repeating the file's header (exports glued together): customer_id and order_id hold
    their own column names (``source_columns`` from 01_collect, else the contract names)."""
    names = {**{c: c for c in ("customer_id", "order_id")}, **params["source_columns"]}
    mask = pd.Series(True, index=df.index)
    for column in ("customer_id", "order_id"):
        mask &= (
            df[column].str.strip().str.casefold().isin({names[column].strip().casefold(), column}) & df[column].notna()
        )
    return _drop(df, mask, "repeated_header_row")


def _customer_id_case(df, params, as_of):
    """Ids that differ only in upper/lower case are one customer: every spelling becomes the
    most frequent one (ties: the first in sort order); rows are adjusted, none removed."""
    ids = df["customer_id"]
    spellings = ids.value_counts().rename_axis("id").reset_index(name="n")
    spellings["folded"] = spellings["id"].str.casefold()
    spellings = spellings[spellings.duplicated("folded", keep=False)]  # only folded ids with several spellings
    spellings = spellings.sort_values(["folded", "n", "id"], ascending=[True, False, True])
    canonical = spellings.groupby("folded", sort=False)["id"].transform("first")
    renamed = dict(zip(spellings["id"], canonical))  # every spelling to the most frequent one
    changed = ids.isin([i for i, c in renamed.items() if i != c])
    removed = _no_rows(df).assign(reason=pd.Series(dtype=str))
    if not changed.any():
        return RuleResult(kept=df, removed=removed)
    kept = df.copy()
    kept.loc[changed, "customer_id"] = ids[changed].map(renamed)
    return RuleResult(kept=kept, removed=removed, rows_adjusted=int(changed.sum()))


def _missing_customer_id(df, params, as_of):
    return _drop(df, df["customer_id"].isna(), "missing_customer_id")


def _test_orders(df, params, as_of):
    mask = pd.Series(False, index=df.index)
    for column, pattern in (params.get("test_patterns") or {}).items():
        if column in df:
            mask |= df[column].str.contains(pattern, regex=True, na=False)
    return _drop(df, mask, "test_order")


def _unparseable_date(df, params, as_of):
    return _drop(df, df["order_date"].isna(), "unparseable_date")


def _future_date(df, params, as_of):
    return _drop(df, df["order_date"].dt.normalize() > as_of, "after_as_of")


def _cancelled_status(df, params, as_of):
    if "status" not in df:
        return _drop(df, pd.Series(False, index=df.index), "cancelled_status")
    statuses = {s.lower() for s in params.get("cancelled_statuses") or []}
    return _drop(df, df["status"].str.lower().isin(statuses), "cancelled_status")


def _invalid_quantity(df, params, as_of):
    return _drop(df, df["quantity"].isna() | (df["quantity"] == 0), "missing_or_zero_quantity")


def _invalid_price(df, params, as_of):
    return _drop(df, df["unit_price"].isna() | (df["unit_price"] <= 0), "missing_zero_or_negative_price")


def _non_product_lines(df, params, as_of):
    codes = list(params.get("non_product_codes") or [])
    if not codes or "product_id" not in df:
        return _drop(df, pd.Series(False, index=df.index), "non_product_line")
    return _drop(df, df["product_id"].isin(codes), "non_product_line")


def _extreme_amount(df, params, as_of):
    limit = params.get("max_line_amount")
    if limit is None:
        return _drop(df, pd.Series(False, index=df.index), "line_amount_above_limit")
    return _drop(df, df["amount"].abs() > float(limit), "line_amount_above_limit")


def _duplicate_rows(df, params, as_of):
    columns = [c for c in df.columns if c != "source_row"]
    return _drop(df, df.duplicated(subset=columns, keep="first"), "exact_duplicate")


def _cancellations(df, params, as_of):
    """Net returns against purchases: see the module docstring."""
    is_cancel = df["quantity"] < 0
    prefix = params.get("cancellation_prefix")
    if prefix:
        is_cancel |= df["order_id"].str.startswith(prefix, na=False)
    if not is_cancel.any():
        return _drop(df, is_cancel, "cancellation")
    by_product = "product_id" in df
    key = ["customer_id", "product_id"] if by_product else ["customer_id"]
    measure = "quantity" if by_product else "amount"
    keys = df[key].astype(TEXT).fillna("")
    keys.columns = [f"_k{i}" for i in range(len(key))]
    kcols = list(keys.columns)
    work = pd.concat([df[["order_date", "source_row", measure]], keys], axis=1)
    cancels = work[is_cancel]
    returned = (
        cancels.assign(_ret=cancels[measure].abs())
        .groupby(kcols, sort=False)
        .agg(_returned=("_ret", "sum"), _last_return=("order_date", "max"))
        .reset_index()
    )
    purchases = work[~is_cancel].reset_index().merge(returned, on=kcols, how="inner").set_index("index")
    eligible = purchases[purchases["order_date"] <= purchases["_last_return"]]
    eligible = eligible.sort_values(
        kcols + ["order_date", "source_row"], ascending=[True] * len(kcols) + [False, False]
    )
    before = eligible.groupby(kcols, sort=False)[measure].cumsum() - eligible[measure]
    take = (eligible["_returned"] - before).clip(lower=0).clip(upper=eligible[measure])
    matched_keys = eligible.loc[take > 0, kcols].drop_duplicates()

    fully = take.index[(take > 0) & np.isclose(take, eligible[measure])]
    partial = take.index[(take > 0) & ~np.isclose(take, eligible[measure])]
    kept = df.drop(index=fully.union(cancels.index))
    old_amount = kept.loc[partial, "amount"].copy()
    if by_product:
        kept.loc[partial, "quantity"] = kept.loc[partial, "quantity"] - take[partial]
        kept.loc[partial, "amount"] = kept.loc[partial, "quantity"] * kept.loc[partial, "unit_price"]
    else:
        kept.loc[partial, "amount"] = kept.loc[partial, "amount"] - take[partial]
        kept.loc[partial, "unit_price"] = kept.loc[partial, "amount"] / kept.loc[partial, "quantity"]

    matched = (
        keys.loc[cancels.index]
        .merge(matched_keys, on=kcols, how="left", indicator=True)["_merge"]
        .eq("both")
        .to_numpy()
    )
    removed_cancels = df.loc[cancels.index].assign(
        reason=np.where(matched, "return_netted", "return_without_matching_purchase")
    )
    removed = pd.concat([removed_cancels, df.loc[fully].assign(reason="purchase_fully_returned")])
    return RuleResult(
        kept=kept,
        removed=removed,
        rows_adjusted=len(partial),
        revenue_adjusted=float((kept.loc[partial, "amount"] - old_amount).sum()),
    )


RULES: list[Rule] = [
    Rule("repeated_header", "Copies of the header row inside the data (files glued together).", _repeated_header),
    Rule(
        "missing_customer_id",
        "Lines without a customer id (guest checkouts); their revenue share is reported.",
        _missing_customer_id,
    ),
    Rule(
        "customer_id_case",
        "Customer ids differing only in upper/lower case merged into one spelling (rows adjusted).",
        _customer_id_case,
    ),
    Rule("test_orders", "Test orders, recognized by the patterns in cleaning.test_patterns.", _test_orders),
    Rule("unparseable_date", "Lines whose order date could not be read.", _unparseable_date),
    Rule("future_date", "Lines dated after as_of (the report's 'now').", _future_date),
    Rule("cancelled_status", "Orders whose status says voided/refunded/cancelled.", _cancelled_status),
    Rule("invalid_quantity", "Lines with a missing or zero quantity.", _invalid_quantity),
    Rule(
        "invalid_price", "Lines with a missing, zero or negative unit price (free items, adjustments).", _invalid_price
    ),
    Rule(
        "non_product_lines",
        "Fees, postage and manual adjustments listed in cleaning.non_product_codes.",
        _non_product_lines,
    ),
    Rule("extreme_amount", "Single lines worth more than cleaning.max_line_amount.", _extreme_amount),
    Rule("duplicate_rows", "Exact duplicates of an earlier line (all columns equal).", _duplicate_rows),
    Rule("cancellations", "Returns/cancellations netted against the matching purchases.", _cancellations),
]
RULE_NAMES = [r.name for r in RULES]
#: Rules about prices, quantities and returns: a visit log (whose quantity and value are
#: derived, 1 per visit) never meets them, and its report does not list them.
PRICE_RULES = [
    "cancelled_status",
    "invalid_quantity",
    "invalid_price",
    "non_product_lines",
    "extreme_amount",
    "cancellations",
]


def _duplicate_customer_id(df, params, as_of):
    repeated = df["customer_id"].duplicated(keep=False)
    if repeated.any():
        raise InputError(
            f"{int(df.loc[repeated, 'customer_id'].nunique())} customer id(s) appear on more than one row of the customer table.",
            file=params.get("file"),
            column="customer_id",
            rows=df[repeated].drop(columns="source_row").head(6),
            hint="A customer table has one row per customer: remove or merge the repeated rows.",
        )
    return _drop(df, repeated, "duplicate_customer_id")


def _behaviour_columns(df: pd.DataFrame) -> list[str]:
    return [c for c in df.columns if c not in ("source_row", "customer_id") and pd.api.types.is_float_dtype(df[c])]


def _missing_totals(df, params, as_of):
    recency = "days_since_last_order" if "days_since_last_order" in df else "last_purchase"
    return _drop(df, df[[recency, "n_orders", "revenue_total"]].isna().any(axis=1), "missing_recency_orders_or_spend")


def _negative_values(df, params, as_of):
    values = df[_behaviour_columns(df)]
    return _drop(df, (values < 0).any(axis=1), "negative_value")


def _no_purchases(df, params, as_of):
    return _drop(df, df["n_orders"] <= 0, "no_purchases")


#: The rules for a customer table (``source.level: customers``), in order.
CUSTOMER_RULES: list[Rule] = [
    Rule("missing_customer_id", "Rows without a customer id.", _missing_customer_id),
    Rule("duplicate_customer_id", "Several rows for one customer id (stops with a message).", _duplicate_customer_id),
    Rule(
        "missing_totals",
        "Rows whose recency, number of purchases or spend is missing or unreadable.",
        _missing_totals,
    ),
    Rule("negative_values", "Rows with a negative spend, count or recency (an export error).", _negative_values),
    Rule("no_purchases", "Customers with no purchase: nothing to segment by behaviour.", _no_purchases),
]


def clean(
    transactions: pd.DataFrame,
    as_of: pd.Timestamp,
    settings: CleaningConfig | dict[str, Any] | None = None,
    *,
    source_columns: dict[str, str] | None = None,
    file: str = "transactions",
    rules: list[Rule] | None = None,
) -> CleaningResult:
    """Apply the rules in order; return kept rows, the accounting log and the removed rows.
    ``rules``: None = ``RULES`` (order lines); ``CUSTOMER_RULES`` for a customer table.

    ``settings``: the rules' parameters (a ``CleaningConfig`` or its keys as a dict; unknown
    rule names fail here). ``source_columns``: the source's name of each contract column (from
    01_collect), for recognising repeated header rows. Raises InputError when no row survives,
    and AccountingError if a rule loses rows.
    """
    if not isinstance(settings, CleaningConfig):
        settings = validated({"cleaning": settings or {}}).cleaning
    params = {**settings.model_dump(), "source_columns": dict(source_columns or {}), "file": file}
    lines = rules is None
    as_of = pd.Timestamp(as_of).normalize()
    df = transactions.reset_index(drop=True)
    rows_in, revenue_in = len(df), float(line_revenue(df).clip(lower=0).sum())
    log_rows, removed_parts = [], []
    for step, rule in enumerate(RULES if lines else rules, start=1):
        if rule.name in (params.get("skip") or []):
            continue
        before = len(df)
        result = rule.apply(df, params, as_of)
        if len(result.kept) + len(result.removed) != before:
            raise AccountingError(
                f"Rule {rule.name}: {before} rows in, {len(result.kept)} kept + {len(result.removed)} removed."
            )
        reasons = result.removed["reason"].value_counts(sort=False) if len(result.removed) else pd.Series(dtype=int)
        revenue = (
            line_revenue(result.removed).groupby(result.removed["reason"]).sum()
            if len(result.removed)
            else pd.Series(dtype=float)
        )
        for i, reason in enumerate(reasons.index if len(reasons) else [None]):
            log_rows.append(
                {
                    "step": step,
                    "rule": rule.name,
                    "reason": reason or "",
                    "description": rule.description,
                    "rows_removed": int(reasons.get(reason, 0)) if reason else 0,
                    "revenue_removed": float(revenue.get(reason, 0.0)) if reason else 0.0,
                    "rows_adjusted": result.rows_adjusted if i == 0 else 0,
                    "revenue_adjusted": result.revenue_adjusted if i == 0 else 0.0,
                    "rows_remaining": len(result.kept),
                }
            )
        removed_parts.append(result.removed.assign(rule=rule.name))
        df = result.kept
    log = pd.DataFrame(log_rows, columns=LOG_COLUMNS)
    removed = (
        pd.concat(removed_parts, ignore_index=True)
        if removed_parts
        else _no_rows(transactions).assign(reason="", rule="")
    )
    if rows_in != len(df) + int(log["rows_removed"].sum()):
        raise AccountingError(f"{rows_in} rows in, {len(df)} kept + {int(log['rows_removed'].sum())} removed.")
    if len(df) == 0:
        worst = log.sort_values("rows_removed", ascending=False).head(3)
        raise InputError(
            "Cleaning removed every row, so there is nothing to analyse.",
            file=file,
            rows=worst[["rule", "reason", "rows_removed"]],
            hint="The rules above removed the most rows. Check the column mapping and "
            "as_of, or switch a rule off with cleaning.skip.",
        )
    if not df["source_row"].is_monotonic_increasing:  # the rules keep the order: no copy then
        df = df.sort_values("source_row", kind="stable")
    df = df.set_axis(pd.RangeIndex(len(df)), copy=False)  # df is clean()'s own, no need to copy it
    try:
        if lines:
            df = CLEAN_TRANSACTIONS.validate(df)  # ids coerced to Arrow-backed text
    except pandera.errors.SchemaError as exc:
        raise InputError(
            f"Cleaned transactions break the contract: {exc}",
            file=file,
            hint="A rule needed for this check may be switched off in cleaning.skip.",
        ) from None
    return CleaningResult(transactions=df, log=log, removed=removed, rows_in=rows_in, revenue_in=revenue_in)
