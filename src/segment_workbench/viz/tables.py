"""Tables for notebook display: no index, text left-aligned, numbers formatted for reading."""

from __future__ import annotations

import pandas as pd
from pandas.io.formats.style import Styler


def styled(df: pd.DataFrame, formats: dict[str, str] | None = None, percent: list[str] | None = None) -> Styler:
    """A Styler for display. Floats get thousands separators and 2 decimals (whole numbers
    none), integers thousands separators, ``percent`` columns ``12.3%``, missing values ``—``."""
    fmt: dict[str, str] = {}
    for col in df.columns:
        dtype = df[col].dtype
        if col in (percent or []):
            fmt[col] = "{:.1%}"
        elif pd.api.types.is_integer_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype):
            fmt[col] = "{:,}"
        elif pd.api.types.is_float_dtype(dtype):
            whole = df[col].dropna().mod(1).eq(0).all()
            fmt[col] = "{:,.0f}" if whole and len(df[col].dropna()) else "{:,.2f}"
        elif pd.api.types.is_datetime64_any_dtype(dtype):
            fmt[col] = "{:%Y-%m-%d %H:%M}"
    fmt.update(formats or {})
    text = [c for c in df.columns if c not in fmt]
    return (
        df.style.format(fmt, na_rep="—")
        .hide(axis="index")
        .set_properties(subset=text, **{"text-align": "left"})
        .set_table_styles([{"selector": "th", "props": [("text-align", "left")]}])
    )


def visits_name(column: str) -> str | None:
    """A value column's name for a visit log ("revenue" -> "visits", "clv" -> "expected_visits");
    None for columns without meaning there (order value, margin, net value: always 1 or equal)."""
    if any(w in column for w in ("order_value", "margin", "net_value", "monetary")):
        return None
    return column.replace("revenue", "visits").replace("clv", "expected_visits")


def in_visits(df: pd.DataFrame) -> pd.DataFrame:
    """A table of a visit log (no prices) for display: columns renamed by ``visits_name``, the
    meaningless ones left out."""
    names = {c: visits_name(c) for c in df.columns}
    return df.drop(columns=[c for c, n in names.items() if n is None]).rename(columns=names)
