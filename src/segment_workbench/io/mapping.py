"""Mapping a source's column names to the transaction contract (``segment_workbench.io.schema``)."""

from __future__ import annotations

import difflib
import re
from typing import Any

import pandas as pd

from segment_workbench.config import SourceConfig
from segment_workbench.errors import InputError
from segment_workbench.io import schema
from segment_workbench.io.presets import Preset


def _canonical(name: Any) -> str:
    return re.sub(r"[\s_\-]+", "_", str(name).strip().lower())


def column_mapping(source: SourceConfig, preset: Preset) -> dict[str, str]:
    mapping = dict(preset.columns)
    mapping.update(source.columns or {})
    return mapping


def map_columns(
    df: pd.DataFrame, source: SourceConfig, preset: Preset, file: str
) -> tuple[pd.DataFrame, dict[str, str]]:
    """The source's contract columns under contract names, and the source's name of each.

    A contract column is taken from the column the mapping names, or else from a column with
    the contract name itself (matched ignoring case, spaces, ``-`` and ``_``).
    """
    mapping = column_mapping(source, preset)
    by_canonical = {_canonical(c): c for c in df.columns}
    out = pd.DataFrame({"source_row": df["source_row"]})
    source_columns: dict[str, str] = {}
    for contract_col in schema.CONTRACT:
        wanted = mapping.get(contract_col, contract_col)
        found = wanted if wanted in df.columns else by_canonical.get(_canonical(wanted))
        if found is not None:
            out[contract_col] = df[found]
            source_columns[contract_col] = str(found)
        elif contract_col in mapping and source.columns.get(contract_col):
            raise InputError(
                f"The config maps {contract_col} to column '{wanted}', which the file does not have.",
                file=file,
                column=wanted,
                hint=f"The file's columns are {list(df.columns)}.{_close(wanted, df.columns)}",
            )
    missing = [c for c in schema.REQUIRED if c not in out]
    if missing:
        available = [c for c in df.columns if c != "source_row"]
        suggestions = "".join(
            f" For {c}:{_close(mapping.get(c, c), df.columns)}"
            for c in missing
            if _close(mapping.get(c, c), df.columns)
        )
        raise InputError(
            f"Required column(s) missing: {', '.join(missing)}.",
            file=file,
            column=", ".join(missing),
            rows=df[available].head(3),
            hint=(
                f"The file has the columns {available}.{suggestions} Map your column names in the config "
                "(source.columns: {customer_id: YourColumn, ...}) or choose a preset "
                "(uci_online_retail, cdnow, shopify_orders)."
            ),
        )
    return out, source_columns


def find_column(df: pd.DataFrame, wanted: str, file: str, key: str, hint: str = "") -> str:
    """The column of ``df`` named ``wanted`` (or matching it ignoring case, spaces, ``-`` and
    ``_``); an InputError naming the config ``key``, the file's columns and the closest one when
    there is none. ``hint``: what to do, when more than "map it" should be said."""
    found = wanted if wanted in df.columns else {_canonical(c): c for c in df.columns}.get(_canonical(wanted))
    if found is None:
        columns = [c for c in df.columns if c != "source_row"]
        raise InputError(
            f"The file has no column '{wanted}' ({key}).",
            file=file,
            column=wanted,
            rows=df[columns].head(3),
            hint=f"The file's columns are {columns}.{_close(wanted, df.columns)} {hint}".rstrip(),
        )
    return found


def _close(name: str, columns: pd.Index) -> str:
    match = difflib.get_close_matches(str(name), [str(c) for c in columns], n=1, cutoff=0.6)
    return f" Did you mean '{match[0]}'?" if match else ""
