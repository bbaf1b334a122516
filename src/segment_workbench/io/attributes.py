"""Customer attributes: a customers file (or the descriptive columns of a customer table) typed,
checked and stripped of personal data.

Each column gets a kind, from its name and values:

- **personal** (names, e-mail, phone, street address — by column name, or e-mail addresses by
  content): kept out of the attributes; e-mail goes to the contacts table only.
- **date**: a sign-up date (``signup_date``; by name, or mapped in ``columns``).
- **band**: ranges such as ``35-44``, ``50-74K``, ``65+``, ``<25``, ordered by their first
  number (not alphabetically); a birth-year column becomes ``age_band`` at ``as_of``.
- **flag**: numbers that are only 0 and 1.
- **number**: other numbers (household size, income).
- **geography**: country, region, state, province, county, city, postcode (kept as its
  first two characters: a prefix, not an address).
- **category**: other text (gender, marital status, channel), or codes given ``labels``.

Odd values are never silent: an implausible number (an age above 100, or a value more than 10
interquartile ranges beyond the quartiles, such as an income of 666,666) is set missing, and a
category value held by fewer than ``rare_share`` of the customers (``YOLO``) is grouped as
"Other"; both are logged in ``AttributeTable.info`` with examples. ``implausible: error`` stops
instead.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from segment_workbench.config import CustomersFileConfig
from segment_workbench.errors import InputError
from segment_workbench.io import schema
from segment_workbench.io.mapping import _canonical, find_column

PERSONAL_NAME = re.compile(
    r"(^|_)(name|first_?name|last_?name|surname|full_?name|e_?mail|email_address|phone|mobile|telephone|tel|"
    r"address|street|address_line\d?|birth_?date|date_of_birth|dob|iban|ssn|passport)($|_)"
)
GEOGRAPHY_NAME = re.compile(r"(^|_)(country|region|state|province|county|city|town|postcode|post_code|zip|zip_code)$")
POSTCODE_NAME = re.compile(r"(^|_)(postcode|post_code|zip|zip_code)$")
BIRTH_YEAR_NAME = re.compile(r"(year_?(of_?)?birth|birth_?year|yob)")
CONSENT_NAME = re.compile(r"(consent|accepts?_marketing|opt_?in|marketing_?opt)")
SIGNUP_NAME = re.compile(r"(sign(ed)?_?up|joined|registration|customer_since|dt_customer|registered)")
EMAIL_VALUE = r"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$"
BAND_VALUE = re.compile(
    r"^\s*(\d+\)\s*)?([<>≤≥]|under|over|below|above|less than|more than)?\s*[$€£]?\s*\d[\d,.]*\s*[kKmM]?"
    r"\s*((-|–|to)\s*[$€£]?\s*\d[\d,.]*\s*[kKmM]?|\+|and (over|above|more))?\s*$",
    re.IGNORECASE,
)
AGE_BANDS = [(0, 17, "under 18"), (18, 24, "18-24"), (25, 34, "25-34"), (35, 44, "35-44"), (45, 54, "45-54")]
AGE_BANDS += [(55, 64, "55-64"), (65, 200, "65+")]
OTHER = "Other"
INFO_COLUMNS = ["column", "source_column", "kind", "customers_with_value", "note"]


@dataclass
class AttributeTable:
    """``table``: customer_id and one typed column per attribute; ``info``: per column its
    source column, kind, customers with a value, and what was done (``INFO_COLUMNS``);
    ``emails``: customer_id, email and consent, for the contacts table only."""

    table: pd.DataFrame
    info: pd.DataFrame
    emails: pd.DataFrame

    def kinds(self) -> dict[str, str]:
        return dict(zip(self.info["column"], self.info["kind"]))


def band_order(values: pd.Series) -> list[str]:
    """Distinct band labels ordered by their first number ("<25" and "under 25" before "25-34",
    "65+" after "55-64")."""

    def key(label: str) -> tuple[float, int]:
        text = re.sub(r"^\s*\d+\)\s*", "", label)
        number = re.search(r"\d[\d,.]*", text)
        value = float(number.group().replace(",", "")) if number else float("inf")
        below = bool(re.match(r"\s*([<≤]|under|below|less than)", text, re.IGNORECASE))
        return (value - 0.5 if below else value, 0)

    distinct = [str(v) for v in pd.unique(values.dropna())]
    return sorted(distinct, key=key)


def _examples(values: pd.Series, n: int = 3) -> str:
    counts = values.value_counts()
    return ", ".join(f"{v} ({c})" if c > 1 else f"{v}" for v, c in counts.head(n).items())


def _fmt(value: float) -> str:
    return f"{value:.0f}" if float(value).is_integer() else f"{value:,.2f}"


class _Typer:
    """Types one column at a time, collecting the info rows."""

    def __init__(self, file: str, settings: CustomersFileConfig, as_of: pd.Timestamp | None, n: int):
        self.file, self.settings, self.as_of, self.n = file, settings, as_of, n
        self.info: list[dict] = []

    def note(self, column: str, source: str, kind: str, values: pd.Series | None, note: str = "") -> None:
        count = int(values.notna().sum()) if values is not None else 0
        self.info.append(
            {"column": column, "source_column": source, "kind": kind, "customers_with_value": count, "note": note}
        )

    def implausible(self, source: str, bad: pd.Series, values: pd.Series, why: str) -> str:
        if not bad.any():
            return ""
        examples = ", ".join(_fmt(v) for v in values[bad].drop_duplicates().head(3))
        if self.settings.implausible == "error":
            raise InputError(
                f"{int(bad.sum())} implausible value(s) in {source} ({why}): {examples}.",
                file=self.file,
                column=source,
                rows=pd.DataFrame({source: values[bad]}).head(5),
                hint="Correct them in the file, or set customers.implausible: missing to have them set "
                "missing (and logged).",
            )
        return f"{int(bad.sum())} implausible value(s) set missing ({why}): {examples}"

    def numbers(self, source: str, values: pd.Series) -> tuple[pd.Series, str]:
        q1, q3 = values.quantile([0.25, 0.75])
        spread = q3 - q1
        if spread <= 0:
            return values, ""
        bad = (values > q3 + 10 * spread) | (values < q1 - 10 * spread)
        note = self.implausible(source, bad, values, "more than 10 interquartile ranges beyond the quartiles")
        return values.mask(bad), note

    def age_bands(self, source: str, years: pd.Series) -> tuple[pd.Series, str]:
        if self.as_of is None:
            raise InputError("A birth-year column needs the run's as_of date.", file=self.file, column=source)
        age = self.as_of.year - years
        bad = years.notna() & ((age > 100) | (age < 14))
        note = self.implausible(source, bad, years, "an age above 100 or below 14")
        age = age.mask(bad)
        labels = [label for _, _, label in AGE_BANDS]
        band = pd.Series(pd.NA, index=years.index, dtype=object)
        for low, high, label in AGE_BANDS:
            band[(age >= low) & (age <= high)] = label
        used = [label for label in labels if (band == label).any()]
        return pd.Series(pd.Categorical(band, categories=used, ordered=True), index=years.index), note

    def rare(self, source: str, text: pd.Series) -> tuple[pd.Series, str]:
        counts = text.value_counts()
        rare = counts[counts < self.settings.rare_share * self.n]
        if rare.empty or len(rare) == len(counts):
            return text, ""
        note = f"{int(rare.sum())} rare value(s) grouped as '{OTHER}': {_examples(text[text.isin(rare.index)], 5)}"
        return text.where(~text.isin(rare.index), OTHER), note


def _is_numeric(text: pd.Series, numbers: pd.Series) -> bool:
    present = text.notna()
    return bool(present.any()) and numbers[present].notna().mean() >= 0.95


def type_attributes(
    df: pd.DataFrame,
    file: str,
    settings: CustomersFileConfig | None = None,
    as_of: pd.Timestamp | None = None,
) -> AttributeTable:
    """The attributes of ``df`` (one row per customer, columns as read) typed by kind (see the
    module docstring). ``settings``: the ``customers`` config section (id column mapping,
    labels, drop, duplicates, implausible, rare_share); ``as_of``: the date ages are computed at.
    Raises InputError for a missing id column, duplicate ids (``duplicates: error``) or, with
    ``implausible: error``, odd values."""
    settings = settings or CustomersFileConfig()
    id_column = find_column(
        df,
        settings.columns.get("customer_id", "customer_id"),
        file,
        "the customer id",
        "Map the id in the config: customers.columns: {customer_id: YourColumn}.",
    )
    ids = schema.normalize_ids(df[id_column])
    typer = _Typer(file, settings, as_of, len(df))
    keep = ids.notna()
    if not keep.all():
        typer.note("customer_id", str(id_column), "id", None, f"{int((~keep).sum())} row(s) without an id left out")
    df, ids = df[keep.to_numpy()], ids[keep]
    repeated = ids.duplicated(keep=False)
    if repeated.any():
        if settings.duplicates == "error":
            raise InputError(
                f"{int(ids[repeated].nunique())} customer id(s) appear on more than one row of the customers file.",
                file=file,
                column=str(id_column),
                rows=df[repeated.to_numpy()].head(6),
                hint="Keep one row per customer, or set customers.duplicates: first (or last) to keep the "
                "first (or last) row of each id.",
            )
        chosen = ~ids.duplicated(keep=settings.duplicates)
        typer.note(
            "customer_id",
            str(id_column),
            "id",
            None,
            f"{int((~chosen).sum())} duplicate row(s) of {int(ids[repeated].nunique())} id(s) left out "
            f"(customers.duplicates: {settings.duplicates})",
        )
        df, ids = df[chosen.to_numpy()], ids[chosen]
    index = pd.RangeIndex(len(df))
    table = pd.DataFrame({"customer_id": ids.to_numpy()}, index=index)
    emails = pd.DataFrame({"customer_id": ids.to_numpy()}, index=index)
    signup = settings.columns.get("signup_date")
    dropped = {_canonical(c) for c in settings.drop}
    labels = {_canonical(k): v for k, v in settings.labels.items()}
    for column in df.columns:
        name = _canonical(column)
        if column == id_column or name in dropped or column == "source_row":
            continue
        raw = df[column].reset_index(drop=True)
        text = schema._as_text(raw)
        if PERSONAL_NAME.search(name) or text.str.fullmatch(EMAIL_VALUE, na=False).sum() > 0.5 * text.notna().sum() > 0:
            if "mail" in name or text.str.fullmatch(EMAIL_VALUE, na=False).any():
                emails["email"] = text.where(text.str.fullmatch(EMAIL_VALUE, na=False))
            typer.note(name, str(column), "personal", None, "personal data: kept out of every table and report")
            continue
        if CONSENT_NAME.search(name):
            emails["consent"] = schema.parse_flags(raw).to_numpy()
            typer.note(name, str(column), "personal", None, "contact permission: kept with the contacts only")
            continue
        if name in labels:
            codes = schema.normalize_ids(text)
            mapping = {str(k): str(v) for k, v in labels[name].items()}
            mapped = codes.map(mapping)
            unknown = codes.notna() & mapped.isna()
            note = (
                f"{int(unknown.sum())} value(s) without a label set missing: {_examples(codes[unknown])}"
                if unknown.any()
                else ""
            )
            table[name] = pd.Categorical(mapped, categories=list(dict.fromkeys(mapping.values())))
            typer.note(name, str(column), "category", table[name], note)
            continue
        if column == signup or SIGNUP_NAME.search(name):
            dates = schema.parse_dates(raw, file=file)
            table["signup_date"] = dates.to_numpy()
            unread = text.notna() & dates.isna()
            typer.note(
                "signup_date",
                str(column),
                "date",
                dates,
                f"{int(unread.sum())} unreadable date(s) set missing" if unread.any() else "",
            )
            continue
        numbers = schema.parse_numbers(raw)
        if BIRTH_YEAR_NAME.search(name) and _is_numeric(text, numbers):
            table["age_band"], note = typer.age_bands(str(column), numbers)
            typer.note("age_band", str(column), "band", table["age_band"], note)
            continue
        geography = GEOGRAPHY_NAME.search(name) is not None
        if _is_numeric(text, numbers) and not geography:
            if set(numbers.dropna().unique()) <= {0.0, 1.0}:
                table[name] = numbers.map({1.0: True, 0.0: False}).astype("boolean")
                typer.note(name, str(column), "flag", table[name])
            else:
                table[name], note = typer.numbers(str(column), numbers)
                typer.note(name, str(column), "number", table[name], note)
            continue
        if geography:
            if POSTCODE_NAME.search(name):
                text = text.str.upper().str.replace(r"\s+", "", regex=True).str[:2]
                name = "postcode_prefix"
            table[name] = pd.Categorical(text)
            typer.note(name, str(column), "geography", table[name])
            continue
        distinct = text.dropna().unique()
        if len(distinct) >= 2 and np.mean([bool(BAND_VALUE.match(v)) for v in distinct]) >= 0.8:
            table[name] = pd.Categorical(text, categories=band_order(text), ordered=True)
            typer.note(name, str(column), "band", table[name])
            continue
        text, note = typer.rare(str(column), text)
        table[name] = pd.Categorical(text)
        typer.note(name, str(column), "category", table[name], note)
    info = pd.DataFrame(typer.info, columns=INFO_COLUMNS)
    present = [c for c in ("email", "consent") if c in emails]
    emails = emails.dropna(subset=present, how="all") if present else emails.iloc[:0]
    return AttributeTable(table=table, info=info, emails=emails.reset_index(drop=True))


#: Kinds shown as a mix (shares of each value) per segment; numbers are shown as medians.
MIX_KINDS = ("band", "category", "flag", "geography")
