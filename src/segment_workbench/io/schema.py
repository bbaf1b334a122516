"""The transaction contract: column names, types, parsing of messy values, validation.

One row is one order line. ``unit_price`` is the price actually paid per unit (after any
discount); ``amount = quantity * unit_price`` is the line's revenue in the shop's currency;
``discount`` (optional) is the currency amount knocked off the line, for reporting only.
Negative quantities are returns/cancellations (netted by the cleaning step).

Only ``customer_id`` and ``order_date`` are required: a visit log (a grocery panel, a gym, a
loyalty card) has nothing else. Without ``order_id`` an order is a customer's day (or
timestamp, ``source.order_per``); without ``quantity`` each line is one unit; without any price
the data are counted in **visits**: each order is worth 1 (or ``source.value_per_visit`` in
the shop's currency), and every step speaks in visits (``complete_orders``).
"""

from __future__ import annotations

from collections.abc import Callable

import duckdb
import numpy as np
import pandas as pd
import pandera.pandas as pa
import pyarrow

from segment_workbench.customers.engine import no_progress_bar
from segment_workbench.errors import InputError
from segment_workbench.io.dtypes import TEXT

REQUIRED = ["customer_id", "order_date"]
ORDER_COLUMNS = ["order_id", "quantity"]  # derived when missing (a visit log)
PRICE_COLUMNS = ["unit_price", "amount"]  # one of them, or the data are counted in visits
OPTIONAL = [
    "product_id",
    "product_name",
    "category",
    "country",
    "city",
    "channel",
    "status",
    "discount",
    "cost",
    "email",
    "consent",
]
CONTRACT = REQUIRED + ORDER_COLUMNS + PRICE_COLUMNS + OPTIONAL
NUMERIC = ["quantity", "unit_price", "amount", "discount", "cost"]
#: Text with few distinct values, typed as pandas categoricals: each value is stored once and
#: each line holds a small code (at 10M lines, a twentieth of the memory of the text), and
#: string rules run once per distinct value. Their categories are ``TEXT``, sorted.
LABELS = ["product_id", "product_name", "category", "country", "city", "channel", "status"]
#: Personal data: kept out of the transaction artifacts, stored apart in contacts.parquet.
PII = ["email"]

_MISSING_TOKENS = {"", "nan", "NaN", "None", "null", "NULL", "NA", "N/A", "n/a", "-"}


def _as_text(series: pd.Series) -> pd.Series:
    """Trimmed text with the usual missing-value tokens as missing, as ``TEXT``."""
    text = series.astype(TEXT).str.strip()
    return text.mask(text.isin(_MISSING_TOKENS))


def _as_labels(series: pd.Series, clean: Callable[[pd.Series], pd.Series]) -> pd.Series:
    """``clean(series)`` as a categorical, with ``clean`` applied to each distinct value once
    (values it makes equal, such as "UK" and "UK ", become one category)."""
    raw = series.astype(TEXT).astype("category")
    codes, categories = pd.factorize(clean(raw.cat.categories.to_series()), sort=True)  # missing: -1
    new_code = np.append(codes, -1)  # indexed by the old code; -1 (missing) stays -1
    labels = pd.Categorical.from_codes(new_code[raw.cat.codes.to_numpy()], categories=categories.astype(TEXT))
    return pd.Series(labels, index=series.index, name=series.name)


def _plain_first(text: pd.Series, plain: str, sql_type: str, general: Callable[[pd.Series], pd.Series]) -> pd.Series:
    """``general(text)``, faster: the values written plainly (fully matching ``plain``) are cast
    by DuckDB (vectorized, no Python string objects); the others, and plain ones DuckDB refuses
    (such as 2025-02-30), go to ``general``, each distinct value once (messy values repeat).
    ``plain`` must only match values that DuckDB and ``general`` read alike."""
    is_plain = text.str.fullmatch(plain).fillna(False).to_numpy(bool)
    with duckdb.connect() as con:
        no_progress_bar(con)
        con.register("text", pyarrow.table({"value": pyarrow.array(text.array)}))
        cast = con.sql(f"SELECT TRY_CAST(value AS {sql_type}) FROM text").to_arrow_table().column(0)
    values = cast.to_numpy(zero_copy_only=False).copy()  # writable
    rest = ~(is_plain & cast.is_valid().to_numpy(zero_copy_only=False))
    if rest.any():
        codes, distinct = pd.factorize(text[rest], use_na_sentinel=False)
        values[rest] = general(pd.Series(distinct, dtype=TEXT)).to_numpy(values.dtype)[codes]
    return pd.Series(values, index=text.index, name=text.name)


def normalize_ids(series: pd.Series) -> pd.Series:
    """Identifiers as trimmed strings; ``"12345.0"`` (a float written by Excel/pandas) -> ``"12345"``."""
    text = _as_text(series)
    written_as_float = text.str.match(r"^\d+\.0+$", na=False)
    if not written_as_float.any():
        return text
    return text.where(~written_as_float, text.str.replace(r"\.0+$", "", regex=True))


def detect_decimal(text: pd.Series) -> str:
    """``","`` when more values end in a comma plus 1–2 digits than in a dot plus 1–2 digits."""
    with_comma = text[text.str.contains(",", regex=False, na=False)]  # a plain substring search first
    comma = with_comma.str.contains(r"\d,\d{1,2}$", regex=True).sum()
    if comma == 0:
        return "."
    dot = text.str.contains(r"\d\.\d{1,2}$", regex=True, na=False).sum()
    return "," if comma > dot else "."


_PLAIN_NUMBER = r"-?(\d+\.?\d*|\.\d+)"  # read alike by DuckDB and by pd.to_numeric


def parse_numbers(series: pd.Series, decimal: str | None = None) -> pd.Series:
    """Floats from numbers written as text: ``"1,234.50"``, ``"1.234,50"``, ``"€ 12,50"``, ``"(3.00)"``.

    Thousands separators, currency symbols and spaces are removed; accounting-style
    parentheses mean negative. ``decimal=None`` detects the decimal mark per column.
    Unparseable values become NaN (the cleaning step removes and logs those rows).
    """
    if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
        return series.astype("float64")
    text = _as_text(series)
    negative = text.str.match(r"^\(.*\)$", na=False)
    text = text.str.replace(r"[^\d,.\-]", "", regex=True)
    decimal = decimal or detect_decimal(text)
    if decimal == ",":
        text = text.str.replace(".", "", regex=False).str.replace(",", ".", regex=False)
    else:
        text = text.str.replace(",", "", regex=False)
    values = _plain_first(text, _PLAIN_NUMBER, "DOUBLE", lambda rest: pd.to_numeric(rest, errors="coerce"))
    return values.where(~negative, -values)


_PLAIN_ISO_DATE = r"\d{4}-\d{2}-\d{2}([ T]\d{2}(:\d{2}(:\d{2}(\.\d{1,9})?)?)?)?"
_NUMERIC_DATE = r"^(\d{1,2})[/.\-](\d{1,2})[/.\-](\d{4}|\d{2})(.*)$"
_NUMERIC_DATE_START = r"^\d{1,2}[/.\-]\d{1,2}[/.\-]\d{2}"


def _numeric_dates_as_iso(text: pd.Series, dayfirst: bool | None, file: str | None) -> pd.Series:
    """Dates written as 03/04/2024 (or with . or -) rewritten as ISO text in one consistent
    order. With ``dayfirst=None`` the order is read from the data: a first number above 12
    (and a second one not) means day first, the reverse means month first; both, or neither while
    ambiguous values exist, is an InputError. Values impossible in the chosen order become
    unparseable (and are removed, logged, by the cleaning step)."""
    # Only the values that start like one go through the (per-value, Python) extract.
    found = text.str.match(_NUMERIC_DATE_START, na=False).to_numpy()
    if not found.any():
        return text
    parts = text[found].str.extract(_NUMERIC_DATE)
    matched = parts[0].notna().to_numpy()
    if not matched.any():
        return text
    parts = parts[matched]
    found[found] = matched  # now: the positions of the numeric dates
    first, second = parts[0].astype(int), parts[1].astype(int)
    if dayfirst is None:
        day_first, month_first = (first > 12) & (second <= 12), (second > 12) & (first <= 12)
        column = str(text.name or "order_date")
        examples = pd.DataFrame({column: text[found]})
        if day_first.any() and month_first.any():
            raise InputError(
                f"The dates in {column} mix day-first (31/01/2024) and month-first (01/31/2024) values.",
                file=file,
                column=column,
                rows=pd.concat([examples[day_first.to_numpy()].head(2), examples[month_first.to_numpy()].head(3)]),
                hint="Export the dates in one format, or set source.date_format (e.g. '%d/%m/%Y') so the rows that do not fit are removed and logged.",
            )
        ambiguous = (first <= 12) & (second <= 12) & (first != second)
        if ambiguous.any() and not (day_first.any() or month_first.any()):
            raise InputError(
                f"The dates in {column} are ambiguous: no value shows whether 03/04/2024 means 3 April or 4 March.",
                file=file,
                column=column,
                rows=examples[ambiguous.to_numpy()],
                hint="Write the dates as year-month-day (2024-04-03), or, for the order file, set source.dayfirst: "
                "true (day/month/year) or false (month/day/year) in the config.",
            )
        dayfirst = bool(day_first.any())
    day, month = (first, second) if dayfirst else (second, first)
    year = parts[2].where(parts[2].str.len() == 4, "20" + parts[2])
    iso = year + "-" + month.astype(str).str.zfill(2) + "-" + day.astype(str).str.zfill(2) + parts[3].fillna("")
    out = text.copy()
    out[found] = iso.to_numpy()
    return out


def parse_dates(
    series: pd.Series, date_format: str | None = None, dayfirst: bool | None = None, file: str | None = None
) -> pd.Series:
    """Datetimes (naive, shop-local) from text; unparseable values become NaT.

    With no ``date_format``: numeric dates (03/04/2024) are put in one day/month order (see
    ``_numeric_dates_as_iso``; ``dayfirst=None`` reads it from the data), then ISO 8601, then
    pandas' mixed-format parser for the rest (``15 March 2024``). A trailing UTC offset
    (``+0200``, ``Z``) is dropped so the wall-clock time of the shop is kept.
    """
    if pd.api.types.is_datetime64_any_dtype(series):
        out = series
        if getattr(out.dt, "tz", None) is not None:
            out = out.dt.tz_localize(None)
        return out.astype("datetime64[ns]")
    text = _as_text(series).str.replace(r"\s*(Z|UTC|[+-]\d{2}:?\d{2})$", "", regex=True)
    if date_format:
        return pd.to_datetime(text, format=date_format, errors="coerce")
    text = _numeric_dates_as_iso(text, dayfirst, file)
    return _plain_first(text, _PLAIN_ISO_DATE, "TIMESTAMP_NS", _general_dates)


def _general_dates(text: pd.Series) -> pd.Series:
    """ISO 8601, then pandas' mixed-format parser for the rest (``15 March 2024``)."""
    parsed = pd.to_datetime(text, format="ISO8601", errors="coerce")
    retry = parsed.isna() & text.notna() & ~text.str.match(r"^\d{4}-\d{2}-\d{2}", na=False)
    if retry.any():
        parsed[retry] = pd.to_datetime(text[retry], format="mixed", errors="coerce")
    return parsed.astype("datetime64[ns]")


def parse_flags(series: pd.Series) -> pd.Series:
    """Booleans from yes/no, true/false, 1/0, y/n (any case); anything else is missing."""
    text = _as_text(series).str.lower()
    yes = text.isin(["yes", "y", "true", "1", "1.0"]).to_numpy(bool)
    no = text.isin(["no", "n", "false", "0", "0.0"]).to_numpy(bool)
    return pd.Series(pd.arrays.BooleanArray(yes, ~(yes | no)), index=series.index, name=series.name)


def coerce_types(
    df: pd.DataFrame,
    file: str,
    *,
    decimal: str | None = None,
    date_format: str | None = None,
    dayfirst: bool | None = None,
    consume: bool = False,
) -> pd.DataFrame:
    """Typed contract columns. Missing ``amount``/``unit_price`` is derived from the other.
    ``consume=True`` takes the columns out of ``df`` as they are typed, so each column's text
    is freed once typed, when nothing else holds it (at 10M lines the text is gigabytes).

    Raises InputError when no order date at all can be parsed.
    """
    out = pd.DataFrame(index=df.index)
    for col in list(df.columns):
        values = df.pop(col) if consume else df[col]
        if col == "source_row":
            out[col] = values.astype("int64")
        elif col in ("customer_id", "order_id"):
            out[col] = normalize_ids(values)
        elif col == "product_id":
            out[col] = _as_labels(values, normalize_ids)
        elif col == "order_date":
            out[col] = parse_dates(values, date_format, dayfirst, file)
            if out[col].notna().sum() == 0:
                raise InputError(
                    "No order date could be read: every value in the date column is unparseable.",
                    file=file,
                    column="order_date",
                    rows=out[[c for c in ("source_row", "order_id") if c in out]].assign(order_date=values),
                    hint="Set source.date_format in the config (e.g. '%d/%m/%Y') or check that the "
                    "right column is mapped to order_date.",
                )
        elif col in NUMERIC:
            out[col] = parse_numbers(values, decimal)
        elif col == "consent":
            out[col] = parse_flags(values)
        elif col in LABELS:
            out[col] = _as_labels(values, _as_text)
        else:
            out[col] = _as_text(values)
    return _price_and_amount(out)


def _price_and_amount(lines: pd.DataFrame) -> pd.DataFrame:
    """``lines`` with ``amount`` or ``unit_price`` derived from the other and ``quantity``, when
    one of them is missing (in place)."""
    if "quantity" in lines:
        if "amount" not in lines and "unit_price" in lines:
            lines["amount"] = lines["quantity"] * lines["unit_price"]
        elif "unit_price" not in lines and "amount" in lines:
            lines["unit_price"] = lines["amount"] / lines["quantity"]
    return lines


def complete_orders(
    typed: pd.DataFrame, order_per: str = "day", value_per_visit: float | None = None
) -> tuple[pd.DataFrame, str, list[str]]:
    """Typed lines with the order columns a visit log lacks (see the module docstring), the
    unit value is measured in (``currency`` or ``visits``) and a sentence per derived column."""
    notes = []
    if "order_id" not in typed:
        when = typed["order_date"].dt.strftime("%Y-%m-%d" if order_per == "day" else "%Y-%m-%d %H:%M:%S")
        typed["order_id"] = (typed["customer_id"] + "@" + when).astype(TEXT)
        notes.append(f"No order id column: one order per customer per {order_per}.")
    if "quantity" not in typed:
        typed["quantity"] = 1.0
        notes.append("No quantity column: each line counts as one unit.")
    value_unit = "currency"
    _price_and_amount(typed)  # a quantity may have just been derived
    if "amount" not in typed:
        lines_per_order = typed.groupby("order_id", observed=True, dropna=False)["order_id"].transform("size")
        typed["amount"] = (value_per_visit or 1.0) / lines_per_order.to_numpy(float)
        typed["unit_price"] = typed["amount"] / typed["quantity"]
        if value_per_visit is None:
            value_unit = "visits"
            notes.append("A visit log (customer and date only): counted in visits, each order is one visit.")
        else:
            notes.append(
                f"No price or amount column: each visit is worth {value_per_visit:,.2f} (source.value_per_visit)."
            )
    return typed, value_unit, notes


#: What every cleaned transaction satisfies (checked at the end of the cleaning step).
CLEAN_TRANSACTIONS = pa.DataFrameSchema(
    {
        "customer_id": pa.Column(TEXT, nullable=False, coerce=True),
        "order_id": pa.Column(TEXT, nullable=False, coerce=True),
        "order_date": pa.Column("datetime64[ns]", nullable=False),
        "quantity": pa.Column(float, pa.Check.gt(0)),
        "unit_price": pa.Column(float, pa.Check.gt(0)),
        "amount": pa.Column(float, pa.Check.gt(0)),
    },
    strict=False,
)
