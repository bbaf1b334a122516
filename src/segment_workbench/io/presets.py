"""Column presets of known exports (UCI Online Retail, CDNOW, Shopify orders) and pseudonymous ids."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd


@dataclass(frozen=True)
class Preset:
    """How a known export maps to the contract: ``columns`` maps contract name -> export column."""

    columns: dict[str, str]
    #: pandas read_csv options, or a function of the file's first lines returning them (a layout
    #: told from the data); empty: the file is read as a plain delimited file with a header.
    read_options: dict[str, Any] | Callable[[str], dict[str, Any]] = field(default_factory=dict)
    date_format: str | None = None
    prepare: Callable[[pd.DataFrame], pd.DataFrame] | None = None

    def options(self, sample: str) -> dict[str, Any]:
        """The read options for a file whose first lines are ``sample``."""
        return self.read_options(sample) if callable(self.read_options) else dict(self.read_options)


def _cdnow_options(sample: str) -> dict[str, Any]:
    """Fader & Hardie's CDNOW files, whitespace-separated: the 1/10 sample (original id, sample
    id, date, CDs, dollars) or the master file (id, date, CDs, dollars), each with or without a
    header line (a first line with letters)."""
    lines = [line for line in sample.splitlines() if line.strip()][:2]
    header = bool(lines) and re.search(r"[A-Za-z]", lines[0]) is not None
    first_data = lines[1] if header and len(lines) > 1 else (lines[0] if lines else "")
    names = ["customer", "date", "cds", "dollars"]
    if len(first_data.split()) == 5:
        names = ["original_id", *names]
    return {"sep": r"\s+", "header": None, "names": names, "skiprows": int(header), "engine": "python"}


def pseudonymize(values: pd.Series, prefix: str = "c_") -> pd.Series:
    """A stable, non-reversible id from a personal key (e.g. e-mail): sha256 of the trimmed,
    lower-cased value, first 12 hex digits. Missing stays missing."""
    text = values.astype("string").str.strip().str.lower()
    hashed = text.dropna().map(lambda v: prefix + hashlib.sha256(v.encode()).hexdigest()[:12])
    return hashed.reindex(values.index).astype("string")


_SHOPIFY_ORDER_LEVEL = [
    "Email",
    "Financial Status",
    "Created at",
    "Accepts Marketing",
    "Billing City",
    "Billing Country",
    "Source",
]


def _prepare_shopify(df: pd.DataFrame) -> pd.DataFrame:
    """Shopify fills order-level fields on an order's first line only: carry them to the
    other lines of the same order, and derive a pseudonymous customer id from the e-mail
    (the export has no customer id column)."""
    df = df.copy()
    present = [c for c in _SHOPIFY_ORDER_LEVEL if c in df]
    df[present] = df[present].replace("", pd.NA)
    df[present] = df.groupby("Name", sort=False)[present].ffill()
    if "Email" in df:
        df["customer_id"] = pseudonymize(df["Email"])
    return df


PRESETS: dict[str, Preset] = {
    "generic": Preset(columns={}),
    "uci_online_retail": Preset(
        columns={
            "order_id": "InvoiceNo",
            "product_id": "StockCode",
            "product_name": "Description",
            "quantity": "Quantity",
            "order_date": "InvoiceDate",
            "unit_price": "UnitPrice",
            "customer_id": "CustomerID",
            "country": "Country",
        },
    ),
    "cdnow": Preset(
        # Fader & Hardie's CDNOW files: whitespace-separated fixed-width fields, sample or master layout.
        columns={"customer_id": "customer", "order_date": "date", "quantity": "cds", "amount": "dollars"},
        read_options=_cdnow_options,
        date_format="%Y%m%d",
        # One record is one purchase: the order id is the record itself.
        prepare=lambda df: df.assign(order_id=df["customer"].astype(str) + "-" + df["source_row"].astype(str)),
    ),
    "shopify_orders": Preset(
        columns={
            "order_id": "Name",
            "order_date": "Created at",
            "quantity": "Lineitem quantity",
            "unit_price": "Lineitem price",
            "product_name": "Lineitem name",
            "product_id": "Lineitem sku",
            "discount": "Lineitem discount",
            "status": "Financial Status",
            "country": "Billing Country",
            "city": "Billing City",
            "channel": "Source",
            "email": "Email",
            "consent": "Accepts Marketing",
        },
        prepare=_prepare_shopify,
    ),
}
