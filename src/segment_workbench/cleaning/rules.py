"""Named, ordered, parameterized cleaning rules for order lines, written once as ibis
expressions and run by an engine: DuckDB for frames and files (out of core), the source's own
database for a SQL source (PostgreSQL), or Spark.

Each rule sees only the lines the rules before it kept. ``decide`` returns every line with the
``rule`` and ``reason`` that removed it (null: kept) and the adjusted values; the accounting log
(rows and revenue removed and adjusted per rule and reason) is one aggregation of it, so every
removed row keeps its rule and reason on every backend, and ``rows_in == rows_kept +
sum(rows_removed)`` is checked in code. Returns/cancellations are netted against the customer's
purchases of the same product (latest purchase on or before the return first); a purchase
returned in part keeps its reduced quantity and is counted as *adjusted*, with the revenue
change logged. Quantities netted are exact decimals, so every backend nets them alike.

Parameters: ``segment_workbench.config.CleaningConfig`` (config section ``cleaning``): ``skip``
(rule names to switch off), ``cancellation_prefix``, ``test_patterns`` ({column: regex}),
``non_product_codes``, ``cancelled_statuses``, ``max_line_amount``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ibis
import ibis.expr.datatypes as dt
import pandas as pd
import pandera.errors

from segment_workbench.cleaning.customer_rules import CUSTOMER_RULES, clean_customer_table
from segment_workbench.cleaning.log import (
    LOG_COLUMNS,
    AccountingError,
    CleaningResult,
    check_accounting,
    line_revenue,
    nothing_left,
)
from segment_workbench.config import CleaningConfig, validated
from segment_workbench.customers import engine
from segment_workbench.errors import InputError
from segment_workbench.io.schema import CLEAN_TRANSACTIONS, LABELS

__all__ = [
    "CUSTOMER_RULES",
    "LOG_COLUMNS",
    "PRICE_RULES",
    "RULES",
    "RULE_NAMES",
    "AccountingError",
    "CleaningResult",
    "EngineCleaning",
    "FileCleaning",
    "clean",
    "clean_files",
    "clean_lines",
    "decide",
    "line_revenue",
]


@dataclass(frozen=True)
class Rule:
    name: str
    description: str
    reasons: tuple[str, ...]  # in the order the log lists them


RULES: list[Rule] = [
    Rule(
        "repeated_header",
        "Copies of the header row inside the data (files glued together).",
        ("repeated_header_row",),
    ),
    Rule(
        "missing_customer_id",
        "Lines without a customer id (guest checkouts); their revenue share is reported.",
        ("missing_customer_id",),
    ),
    Rule(
        "customer_id_case",
        "Customer ids differing only in upper/lower case merged into one spelling (rows adjusted).",
        (),
    ),
    Rule("test_orders", "Test orders, recognized by the patterns in cleaning.test_patterns.", ("test_order",)),
    Rule("unparseable_date", "Lines whose order date could not be read.", ("unparseable_date",)),
    Rule("future_date", "Lines dated after as_of (the report's 'now').", ("after_as_of",)),
    Rule("cancelled_status", "Orders whose status says voided/refunded/cancelled.", ("cancelled_status",)),
    Rule("invalid_quantity", "Lines with a missing or zero quantity.", ("missing_or_zero_quantity",)),
    Rule(
        "invalid_price",
        "Lines with a missing, zero or negative unit price (free items, adjustments).",
        ("missing_zero_or_negative_price",),
    ),
    Rule(
        "non_product_lines",
        "Fees, postage and manual adjustments listed in cleaning.non_product_codes.",
        ("non_product_line",),
    ),
    Rule("extreme_amount", "Single lines worth more than cleaning.max_line_amount.", ("line_amount_above_limit",)),
    Rule("duplicate_rows", "Exact duplicates of an earlier line (all columns equal).", ("exact_duplicate",)),
    Rule(
        "cancellations",
        "Returns/cancellations netted against the matching purchases.",
        ("return_netted", "return_without_matching_purchase", "purchase_fully_returned"),
    ),
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
#: Columns ``decide`` adds besides ``rule`` and ``reason``: whether the customer id was
#: respelled, and the revenue change of a partly returned purchase.
_ID_RESPELLED, _AMOUNT_CHANGE = "_id_respelled", "_amount_change"
_HELPERS = [_ID_RESPELLED, _AMOUNT_CHANGE]
#: The rules that look at one line at a time, before and after ids are respelled.
_BEFORE_RESPELLING = RULE_NAMES[:2]
_ONE_LINE_AFTER_RESPELLING = RULE_NAMES[3:-2]


def _false() -> ibis.BooleanValue:
    return ibis.literal(False)


def _row_checks(t: ibis.Table, names: list[str], params: dict[str, Any], as_of: pd.Timestamp) -> list[tuple]:
    """(rule, reason, predicate) of the rules among ``names`` that look at one line at a time."""
    columns = set(t.columns)
    checks = {
        "missing_customer_id": t.customer_id.isnull(),
        "unparseable_date": t.order_date.isnull(),
        "future_date": t.order_date.date() > ibis.date(as_of.date()),
        "invalid_quantity": t.quantity.isnull() | (t.quantity == 0),
        "invalid_price": t.unit_price.isnull() | (t.unit_price <= 0),
    }
    header = {**{c: c for c in ("customer_id", "order_id")}, **params["source_columns"]}
    checks["repeated_header"] = ibis.and_(
        *(t[c].strip().lower().isin({header[c].strip().casefold(), c}) for c in ("customer_id", "order_id"))
    )
    patterns = [(c, p) for c, p in (params["test_patterns"] or {}).items() if c in columns]
    checks["test_orders"] = ibis.or_(*(t[c].cast("string").re_search(p) for c, p in patterns)) if patterns else _false()
    statuses = sorted({s.lower() for s in params["cancelled_statuses"] or []})
    checks["cancelled_status"] = (
        t.status.cast("string").lower().isin(statuses) if "status" in columns and statuses else _false()
    )
    codes = list(params["non_product_codes"] or [])
    checks["non_product_lines"] = (
        t.product_id.cast("string").isin(codes) if codes and "product_id" in columns else _false()
    )
    limit = params["max_line_amount"]
    checks["extreme_amount"] = t.amount.abs() > float(limit) if limit is not None else _false()
    reason = {r.name: r.reasons[0] for r in RULES if r.reasons}
    return [(name, reason[name], checks[name]) for name in names]


def _mark(t: ibis.Table, checks: list[tuple]) -> ibis.Table:
    """Give the lines still kept the rule and reason of the first check they fail."""
    if not checks:
        return t
    kept = t.reason.isnull()
    rule = ibis.cases(*((p.fill_null(False), name) for name, _, p in checks), else_=ibis.null("string"))
    reason = ibis.cases(*((p.fill_null(False), why) for _, why, p in checks), else_=ibis.null("string"))
    return t.mutate(rule=ibis.ifelse(kept, rule, t.rule), reason=ibis.ifelse(kept, reason, t.reason))


def _respell_ids(t: ibis.Table) -> ibis.Table:
    """Ids differing only in case become the spelling most frequent among the kept lines (ties:
    the first in the engine's sort order of text)."""
    kept = t.filter(t.reason.isnull())
    counts = kept.group_by("customer_id").aggregate(_n=kept.count())
    counts = counts.mutate(_folded=counts.customer_id.lower())
    by_fold = ibis.window(group_by="_folded", order_by=[ibis.desc("_n"), "customer_id"])
    counts = counts.mutate(_canonical=counts.customer_id.first().over(by_fold))
    respell = counts.filter(counts._canonical != counts.customer_id).select("customer_id", "_canonical")
    t = engine.left_join(t, respell, ["customer_id"])
    change = t.reason.isnull() & t._canonical.notnull()
    return t.mutate(customer_id=ibis.ifelse(change, t._canonical, t.customer_id), **{_ID_RESPELLED: change}).drop(
        "_canonical"
    )


def _mark_duplicates(t: ibis.Table, columns: list[str]) -> ibis.Table:
    """Kept lines equal in every column but ``source_row`` to an earlier kept line (null equal
    to null). The kept lines are grouped by every column, a hash aggregation (a window over
    every column would sort all the lines), and the groups of more than one line joined back
    by null-safe keys: each column's null flag and its value with nulls filled."""

    def keys(x: ibis.Table) -> dict[str, ibis.Value]:
        out = {}
        for i, column in enumerate(columns):
            out[f"_null{i}"] = x[column].isnull()
            out[f"_value{i}"] = x[column].fill_null(_filler(x[column].type()))
        return out

    kept = t.filter(t.reason.isnull())
    groups = kept.group_by(**keys(kept)).aggregate(_first=kept.source_row.min(), _n=kept.count())
    groups = groups.filter(groups._n > 1).drop("_n")
    line_keys = keys(t)
    t = engine.left_join(t.mutate(**line_keys), groups, list(line_keys))
    later = t._first.notnull() & (t.source_row != t._first)
    return _mark(t, [("duplicate_rows", "exact_duplicate", later)]).drop(*line_keys, "_first")


def _filler(kind: dt.DataType) -> ibis.Value:
    """A value of type ``kind`` standing in for null in a join key (beside a null flag)."""
    if kind.is_string():
        return ibis.literal("")
    if kind.is_boolean():
        return ibis.literal(False)
    if kind.is_timestamp() or kind.is_date():
        return ibis.literal("1970-01-01").cast(kind)
    return ibis.literal(0).cast(kind)


def _net_returns(t: ibis.Table, prefix: str | None) -> ibis.Table:
    """Returns netted against purchases of the same customer and product (by amount when the
    lines have no product): see the module docstring."""
    is_return = (t.quantity < 0).fill_null(False)
    if prefix:
        is_return |= t.order_id.startswith(prefix).fill_null(False)
    measure = "quantity" if "product_id" in t.columns else "amount"
    product = t.product_id.cast("string").fill_null("") if measure == "quantity" else ibis.literal("")
    t = t.mutate(_return=t.reason.isnull() & is_return, _product=product)
    keys = ["customer_id", "_product"]

    returns = t.filter(t._return)
    returned = returns.group_by(keys).aggregate(
        _returned=engine.exact(returns[measure]).abs().sum(), _last_return=returns.order_date.max()
    )
    bought = t.filter(t.reason.isnull() & ~t._return)
    bought = bought.select("source_row", *keys, "order_date", _m=engine.exact(bought[measure]))
    bought = bought.join(returned, keys)
    bought = bought.filter(bought.order_date <= bought._last_return)
    latest_first = ibis.cumulative_window(group_by=keys, order_by=[ibis.desc("order_date"), ibis.desc("source_row")])
    before = bought._m.sum().over(latest_first) - bought._m
    bought = bought.mutate(_take=ibis.greatest(ibis.least(bought._returned - before, bought._m), 0))
    bought = bought.filter(bought._take > 0)
    matched = bought.select(*keys).distinct().mutate(_matched=True)
    taken = bought.select("source_row", "_take", _full=bought._take == bought._m)

    t = engine.left_join(t, taken, ["source_row"])
    t = engine.left_join(t, matched, keys)
    partial = t._take.notnull() & ~t._full
    take = t._take.cast("float64")
    if measure == "quantity":
        quantity = ibis.ifelse(partial, t.quantity - take, t.quantity)
        amount = ibis.ifelse(partial, quantity * t.unit_price, t.amount)
        unit_price = t.unit_price
    else:
        quantity = t.quantity
        amount = ibis.ifelse(partial, t.amount - take, t.amount)
        unit_price = ibis.ifelse(partial, amount / t.quantity, t.unit_price)
    t = t.mutate(
        quantity=quantity,
        amount=amount,
        unit_price=unit_price,
        **{_AMOUNT_CHANGE: ibis.ifelse(partial, amount - t.amount, 0.0)},
    )
    t = _mark(
        t,
        [
            ("cancellations", "return_netted", t._return & t._matched.notnull()),
            ("cancellations", "return_without_matching_purchase", t._return),
            ("cancellations", "purchase_fully_returned", t._full.fill_null(False)),
        ],
    )
    return t.drop("_return", "_product", "_take", "_full", "_matched")


def decide(lines: ibis.Table, as_of: pd.Timestamp, params: dict[str, Any]) -> ibis.Table:
    """Every line with ``rule`` and ``reason`` (null when kept), the kept lines' adjusted
    customer_id, quantity, amount and unit_price, and two helper columns for the log. ``params``:
    ``CleaningConfig``'s keys plus ``source_columns`` (the source's name of each contract column)."""
    skip = set(params["skip"] or [])
    active = [r.name for r in RULES if r.name not in skip]
    columns = [c for c in lines.columns if c != "source_row"]
    t = lines.mutate(rule=ibis.null("string"), reason=ibis.null("string"))
    t = _mark(t, _row_checks(t, [r for r in active if r in _BEFORE_RESPELLING], params, as_of))
    t = _respell_ids(t) if "customer_id_case" in active else t.mutate(**{_ID_RESPELLED: _false()})
    t = _mark(t, _row_checks(t, [r for r in active if r in _ONE_LINE_AFTER_RESPELLING], params, as_of))
    if "duplicate_rows" in active:
        t = _mark_duplicates(t, columns)
    if "cancellations" in active:
        return _net_returns(t, params["cancellation_prefix"])
    return t.mutate(**{_AMOUNT_CHANGE: ibis.literal(0.0)})


def accounting_log(decided: ibis.Table, params: dict[str, Any]) -> tuple[pd.DataFrame, int, float, int]:
    """(the log, rows in, revenue in: positive amounts summed, rows kept) from ``decide``'s
    table, in one aggregation on its engine."""
    amount = decided.amount.fill_null(0.0)
    per_reason = decided.group_by(["rule", "reason"]).aggregate(
        rows=decided.count(),
        revenue=engine.exact_sum(amount),
        positive=engine.exact_sum(ibis.greatest(amount, 0.0)),
        respelled=decided[_ID_RESPELLED].ifelse(1, 0).sum(),
        netted=(decided[_AMOUNT_CHANGE] != 0).ifelse(1, 0).sum(),
        change=engine.exact_sum(decided[_AMOUNT_CHANGE]),
    )
    counts = per_reason.to_pyarrow().to_pandas().sort_values(["rule", "reason"])  # sums in one order on every backend
    rows_in, revenue_in = int(counts["rows"].sum()), float(counts["positive"].sum())
    removed = counts.dropna(subset=["reason"]).set_index("reason")
    adjusted = {
        "customer_id_case": (int(counts["respelled"].sum()), 0.0),
        "cancellations": (int(counts["netted"].sum()), float(counts["change"].sum())),
    }
    log_rows, remaining = [], rows_in
    for step, rule in enumerate(RULES, start=1):
        if rule.name in (params["skip"] or []):
            continue
        found = [r for r in rule.reasons if r in removed.index] or [""]
        remaining -= sum(int(removed.at[r, "rows"]) for r in found if r)
        rows_adjusted, revenue_adjusted = adjusted.get(rule.name, (0, 0.0))
        for i, reason in enumerate(found):
            log_rows.append(
                {
                    "step": step,
                    "rule": rule.name,
                    "reason": reason,
                    "description": rule.description,
                    "rows_removed": int(removed.at[reason, "rows"]) if reason else 0,
                    "revenue_removed": float(removed.at[reason, "revenue"]) if reason else 0.0,
                    "rows_adjusted": rows_adjusted if i == 0 else 0,
                    "revenue_adjusted": revenue_adjusted if i == 0 else 0.0,
                    "rows_remaining": remaining,
                }
            )
    rows_kept = int(counts.loc[counts["reason"].isna(), "rows"].sum())
    return pd.DataFrame(log_rows, columns=LOG_COLUMNS), rows_in, revenue_in, rows_kept


def parameters(settings: CleaningConfig | dict[str, Any] | None, source_columns: dict[str, str] | None) -> dict:
    """``decide``'s parameters: the cleaning settings (validated) and the source's column names."""
    if not isinstance(settings, CleaningConfig):
        settings = validated({"cleaning": settings or {}}).cleaning
    return {**settings.model_dump(), "source_columns": dict(source_columns or {})}


@dataclass
class EngineCleaning:
    """The rules' outcome where the lines live: ``decided`` (``decide``'s table, kept on its
    backend: a temporary table, or Spark's cache, until ``release``), the log, rows in and revenue
    in (positive amounts summed). Nothing but the log has left the engine."""

    decided: ibis.Table
    log: pd.DataFrame
    rows_in: int
    revenue_in: float

    @property
    def kept(self) -> ibis.Table:
        """The kept lines, with their adjusted values (the cleaned transactions)."""
        return kept_lines(self.decided)

    transactions = kept

    @property
    def removed(self) -> ibis.Table:
        """Every removed line as it was when removed, with its ``rule`` and ``reason``."""
        return removed_lines(self.decided)

    @property
    def summary(self) -> dict[str, float]:
        """As ``CleaningResult.summary``, computed where the lines are."""
        kept = self.kept
        facts = kept.aggregate(revenue=engine.exact_sum(kept.amount), customers=kept.customer_id.nunique())
        facts = facts.to_pyarrow().to_pylist()[0]
        return _summary(self.log, self.rows_in, self.revenue_in, facts["revenue"], facts["customers"])

    def release(self) -> None:
        self.decided.release()


def kept_lines(decided: ibis.Table) -> ibis.Table:
    """``decide``'s kept lines, with their adjusted values (the cleaned transactions)."""
    return decided.filter(decided.reason.isnull()).drop("rule", "reason", *_HELPERS)


def removed_lines(decided: ibis.Table) -> ibis.Table:
    """``decide``'s removed lines as they were when removed, with their ``rule`` and ``reason``."""
    return decided.filter(decided.reason.notnull()).drop(*_HELPERS)


def _summary(log: pd.DataFrame, rows_in: int, revenue_in: float, revenue_kept, customers_kept) -> dict[str, float]:
    removed = int(log["rows_removed"].sum())
    return {
        "rows_in": rows_in,
        "rows_kept": rows_in - removed,
        "rows_removed": removed,
        "share_rows_removed": removed / rows_in if rows_in else 0.0,
        "revenue_in": revenue_in,
        "revenue_kept": float(revenue_kept or 0.0),
        "customers_kept": int(customers_kept),
    }


def clean_lines(
    lines,
    as_of: pd.Timestamp | str,
    settings: CleaningConfig | dict[str, Any] | None = None,
    *,
    source_columns: dict[str, str] | None = None,
    file: str = "transactions",
) -> EngineCleaning:
    """Run the rules on the engine holding ``lines`` (an ibis table: inside its database or on
    Spark; a frame or a Parquet/CSV path: on DuckDB). Raises InputError when no line survives,
    AccountingError if a rule loses lines. Call ``release()`` when done with the result."""
    params = parameters(settings, source_columns)
    decided = decide(engine.lines_table(lines), pd.Timestamp(as_of).normalize(), params).cache()
    try:
        log, rows_in, revenue_in, rows_kept = accounting_log(decided, params)
        check_accounting(rows_in, rows_kept, log)
        if rows_kept == 0:
            raise nothing_left(log, file)
    except Exception:
        decided.release()
        raise
    return EngineCleaning(decided, log, rows_in, revenue_in)


@dataclass
class FileCleaning:
    """``clean_files``' outcome: the log and the totals; the lines themselves are in the files."""

    log: pd.DataFrame
    summary: dict[str, float]  # as ``CleaningResult.summary``
    transactions: Path
    removed: Path


def clean_files(
    lines,
    as_of: pd.Timestamp | str,
    settings: CleaningConfig | dict[str, Any] | None = None,
    *,
    kept: Path,
    removed: Path,
    source_columns: dict[str, str] | None = None,
    file: str = "transactions",
) -> FileCleaning:
    """``clean_lines`` writing the kept lines to ``kept`` and the removed ones, with rule and
    reason, to ``removed`` (Parquet, in source order), straight from the engine: no line passes
    through pandas, so the input may be larger than memory (DuckDB spills to disk). The kept
    lines' contract (positive quantity, price and amount; no missing id or date) holds by the
    rules; it is checked here with one aggregation."""
    result = clean_lines(lines, as_of, settings, source_columns=source_columns, file=file)
    try:
        result.removed.order_by("source_row").to_parquet(removed)
        result.kept.order_by("source_row").to_parquet(kept)
    finally:
        result.release()
    written = engine.lines_table(Path(kept))
    facts = (
        written.aggregate(
            revenue=engine.exact_sum(written.amount),
            customers=written.customer_id.nunique(),
            broken=ibis.or_(
                written.customer_id.isnull(),
                written.order_id.isnull(),
                written.order_date.isnull(),
                *(~(written[c] > 0).fill_null(False) for c in ("quantity", "unit_price", "amount")),
            )
            .ifelse(1, 0)
            .sum(),
        )
        .to_pyarrow()
        .to_pylist()[0]
    )
    if facts["broken"]:
        raise InputError(
            f"{facts['broken']:,} cleaned lines break the contract (a missing id or date, or a quantity, price or "
            "amount that is not positive).",
            file=file,
            hint="A rule needed for this check may be switched off in cleaning.skip.",
        )
    summary = _summary(result.log, result.rows_in, result.revenue_in, facts["revenue"], facts["customers"])
    return FileCleaning(result.log, summary, Path(kept), Path(removed))


def clean(
    transactions: pd.DataFrame,
    as_of: pd.Timestamp | str,
    settings: CleaningConfig | dict[str, Any] | None = None,
    *,
    source_columns: dict[str, str] | None = None,
    file: str = "transactions",
    rules: list | None = None,
) -> CleaningResult:
    """``clean_lines`` on DuckDB with the kept and removed lines brought back as pandas (kept in
    source order, the frame's labels categoricals again). ``rules``: None = ``RULES`` (order
    lines); ``CUSTOMER_RULES`` for a customer table (cleaned in pandas: one row per customer).

    ``settings``: the rules' parameters (a ``CleaningConfig`` or its keys as a dict; unknown
    rule names fail here). ``source_columns``: the source's name of each contract column (from
    01_collect), for recognising repeated header rows. Raises InputError when no row survives,
    or when the kept lines break the contract.
    """
    if rules is not None:
        return clean_customer_table(transactions, file)
    result = clean_lines(transactions, as_of, settings, source_columns=source_columns, file=file)
    try:
        kept, removed = _frame(result.kept, transactions), _frame(result.removed, transactions)
    finally:
        result.release()
    try:
        kept = CLEAN_TRANSACTIONS.validate(kept)  # ids coerced to Arrow-backed text
    except pandera.errors.SchemaError as exc:
        raise InputError(
            f"Cleaned transactions break the contract: {exc}",
            file=file,
            hint="A rule needed for this check may be switched off in cleaning.skip.",
        ) from None
    return CleaningResult(
        transactions=kept, log=result.log, removed=removed, rows_in=result.rows_in, revenue_in=result.revenue_in
    )


def _frame(expr: ibis.Table, like: pd.DataFrame) -> pd.DataFrame:
    """The lines in source order as pandas, with the input frame's labels as categoricals again."""
    frame = engine.frame(expr, ["source_row"])
    for column in LABELS:
        if column in frame and column in like and isinstance(like[column].dtype, pd.CategoricalDtype):
            frame[column] = frame[column].astype(like[column].dtype)
    return frame
