"""Personal data kept apart: the contacts table (latest e-mail and consent per customer) and the exclusion list (opt-outs, requests to be forgotten)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from segment_workbench.errors import InputError
from segment_workbench.io import schema
from segment_workbench.io.detection import existing_file
from segment_workbench.io.mapping import _canonical


def read_exclusions(path: str | Path) -> tuple[set[str], set[str]]:
    """Customer ids and e-mail addresses (lower-cased) from an exclusion list: a CSV with a
    ``customer_id`` and/or an ``email`` column (opt-outs, requests to be forgotten)."""
    path = existing_file(path, "exclusion list", "source.exclusions")
    table = pd.read_csv(path, dtype=str, sep=None, engine="python", encoding="utf-8-sig")
    table.columns = [_canonical(c) for c in table.columns]
    if "customer_id" not in table and "email" not in table:
        raise InputError(
            "The exclusion list has neither a customer_id nor an email column.",
            file=str(path),
            column="customer_id",
            rows=table.head(3),
            hint="Name the column customer_id (or email) in the first line.",
        )
    ids = set(schema.normalize_ids(table["customer_id"]).dropna()) if "customer_id" in table else set()
    emails = set(table["email"].dropna().str.strip().str.lower()) if "email" in table else set()
    return ids, emails


def apply_exclusions(
    typed: pd.DataFrame, extras: dict[str, pd.DataFrame], path: str | Path
) -> tuple[pd.DataFrame, dict[str, pd.DataFrame], int, int]:
    """Drop every line and extra row of the customers on the exclusion list (matched by id or
    e-mail): they reach no artifact. Returns the tables, customers excluded, lines excluded."""
    ids, emails = read_exclusions(path)
    if emails and "email" in typed:
        ids |= set(typed.loc[typed["email"].str.strip().str.lower().isin(emails), "customer_id"].dropna())
    drop = typed["customer_id"].isin(ids)
    customers = int(typed.loc[drop, "customer_id"].nunique())
    kept_extras = {
        name: t[~t["customer_id"].isin(ids)].reset_index(drop=True) if "customer_id" in t else t
        for name, t in extras.items()
    }
    return typed[~drop].reset_index(drop=True), kept_extras, customers, int(drop.sum())


def contacts_table(typed: pd.DataFrame) -> pd.DataFrame:
    """customer_id, email, consent: the latest non-missing value seen per customer (latest by
    order date, then source row; lines without a date count as the latest). Customers sorted
    by id. Works on positions, so no text column is copied (at 10M lines that is gigabytes)."""
    cols = [c for c in ("email", "consent") if c in typed]
    codes, customers = pd.factorize(typed["customer_id"], sort=True)  # -1: no customer id
    dates = typed["order_date"].to_numpy() if "order_date" in typed else np.zeros(len(typed))  # a customer table
    order = np.lexsort((typed["source_row"].to_numpy(), dates))  # NaT last
    order = order[codes[order] >= 0]
    if not cols:  # in order of first purchase
        return pd.DataFrame({"customer_id": customers.take(pd.unique(codes[order]))})
    contacts = pd.DataFrame({"customer_id": customers})
    for column in cols:
        values = typed[column]
        seen = order[values.notna().to_numpy()[order]]
        latest = pd.Series(seen).groupby(codes[seen]).last()  # the row of each customer's latest value
        out = pd.Series(pd.NA, index=range(len(customers)), dtype=values.dtype)
        out.iloc[latest.index.to_numpy()] = values.iloc[latest.to_numpy()].to_numpy()
        contacts[column] = out.array
    if "consent" not in contacts:
        contacts["consent"] = pd.array([pd.NA] * len(contacts), dtype="boolean")
    return contacts


def add_contacts(contacts: pd.DataFrame, more: pd.DataFrame) -> pd.DataFrame:
    """``contacts`` with the e-mail and consent of ``more`` (customer_id, email and/or consent:
    from a customers file) where the orders had none."""
    out = contacts.set_index("customer_id")
    extra = more.drop_duplicates("customer_id").set_index("customer_id").reindex(out.index)
    for column in ("email", "consent"):
        if column in extra:
            dtype = "boolean" if column == "consent" else "string"
            present = out[column] if column in out else pd.Series(pd.NA, index=out.index, dtype=dtype)
            out[column] = present.where(present.notna(), extra[column])
    if "consent" in out:
        out["consent"] = out["consent"].astype("boolean")
    return out.reset_index()
