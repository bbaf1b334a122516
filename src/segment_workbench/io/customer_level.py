"""A customer-level source (``source.level: customers``): one row per customer with totals instead
of dated order lines, as many shop systems export them (total spent, orders count, days since
the last order, spend per category, purchases per channel, past campaign responses).

``split_customer_table`` maps and types the behaviour columns; every other column is a customer
attribute (typed by ``segment_workbench.io.attributes``). Column names of the behaviour table:

- ``customer_id``; ``days_since_last_order`` (or ``last_purchase``, a date);
  ``first_purchase`` (optional, a date: tenure); ``n_orders``; ``revenue_total``;
- ``spend_<category>`` from ``source.spend_by_category`` (``revenue_total`` is their sum unless
  mapped), ``purchases_<channel>`` from ``source.purchases_by_channel`` (``n_orders`` likewise);
- ``response_<campaign>`` (1 = responded) from ``source.responses``; other numbers from
  ``source.behaviour`` under their own (lower-case) names.
"""

from __future__ import annotations

import pandas as pd

from segment_workbench.config import SourceConfig
from segment_workbench.errors import InputError
from segment_workbench.io import schema
from segment_workbench.io.mapping import _canonical, find_column

DATES = ["last_purchase", "first_purchase"]
TOTALS = ["days_since_last_order", "n_orders", "revenue_total"]


def _optional(df: pd.DataFrame, mapping: dict[str, str], name: str, file: str) -> str | None:
    if name in mapping:
        return find_column(df, mapping[name], file, f"source.columns.{name}")
    return {_canonical(c): c for c in df.columns}.get(name)


def split_customer_table(df: pd.DataFrame, source: SourceConfig, file: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(typed behaviour table, the remaining columns as read with ``customer_id``): see the
    module docstring. Raises InputError naming what is missing when recency, frequency or
    spend cannot be found."""
    mapping = dict(source.columns)
    used: set[str] = {"source_row"}
    out = pd.DataFrame({"source_row": df["source_row"].to_numpy()})

    def take(column: str) -> pd.Series:
        used.add(column)
        return df[column]

    id_column = _optional(df, mapping, "customer_id", file)
    if id_column is None:
        raise InputError(
            "The customer table has no customer_id column.",
            file=file,
            column="customer_id",
            rows=df.drop(columns="source_row").head(3),
            hint="Map it in the config: source.columns: {customer_id: YourColumn}.",
        )
    out["customer_id"] = schema.normalize_ids(take(id_column)).to_numpy()
    for name in DATES:
        column = _optional(df, mapping, name, file)
        if column is not None:
            out[name] = schema.parse_dates(take(column), source.date_format, source.dayfirst, file).to_numpy()
    for name in TOTALS:
        column = _optional(df, mapping, name, file)
        if column is not None:
            out[name] = schema.parse_numbers(take(column), source.decimal).to_numpy()
    for prefix, group, total in (
        ("spend", source.spend_by_category, "revenue_total"),
        ("purchases", source.purchases_by_channel, "n_orders"),
    ):
        parts = []
        for label, wanted in group.items():
            column = find_column(
                df, wanted, file, f"source.{prefix}_by_{'category' if prefix == 'spend' else 'channel'}"
            )
            name = f"{prefix}_{_canonical(label)}"
            out[name] = schema.parse_numbers(take(column), source.decimal).to_numpy()
            parts.append(name)
        if parts and total not in out:
            out[total] = out[parts].sum(axis=1, min_count=len(parts))
    for label, wanted in source.responses.items():
        column = find_column(df, wanted, file, "source.responses")
        flags = schema.parse_flags(take(column)).astype("Float64")
        out[f"response_{_canonical(label)}"] = flags.to_numpy(float, na_value=float("nan"))
    for wanted in source.behaviour:
        column = find_column(df, wanted, file, "source.behaviour")
        out[_canonical(column)] = schema.parse_numbers(take(column), source.decimal).to_numpy()
    missing = []
    if "days_since_last_order" not in out and "last_purchase" not in out:
        missing.append("days_since_last_order (or last_purchase, a date)")
    for name, group in (("n_orders", "purchases_by_channel"), ("revenue_total", "spend_by_category")):
        if name not in out:
            missing.append(f"{name} (or source.{group})")
    if missing:
        raise InputError(
            f"A customer table needs recency, frequency and spend; missing: {'; '.join(missing)}.",
            file=file,
            column=", ".join(m.split(" ")[0] for m in missing),
            rows=df.drop(columns="source_row").head(3),
            hint="Map them in source.columns (e.g. {days_since_last_order: Recency, n_orders: Orders, "
            "revenue_total: TotalSpent}), or list the spend columns in source.spend_by_category.",
        )
    ignored = {_canonical(c) for c in source.ignore}
    rest = [c for c in df.columns if c not in used and _canonical(c) not in ignored]
    attributes = df[rest].assign(customer_id=out["customer_id"].to_numpy())
    return out, attributes
