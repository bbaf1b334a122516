"""The campaign file, read and typed at collection like the orders (06_campaign analyses it).

Kept apart from ``segment_workbench.campaigns.campaign`` so that collecting data does not import the statistics.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from segment_workbench.errors import InputError
from segment_workbench.io import schema
from segment_workbench.io.detection import existing_file

REQUIRED = ["customer_id", "campaign", "variant", "send_date"]


def read_campaign_file(path: str | Path) -> pd.DataFrame:
    """The campaign file (CSV or Excel) as a typed table; see ``parse_campaign``."""
    path = existing_file(path, "campaign file", "campaign.path")
    if path.suffix.lower() in (".xlsx", ".xls"):
        raw = pd.read_excel(path, dtype=str)
    else:
        raw = pd.read_csv(path, dtype=str, sep=None, engine="python", encoding="utf-8-sig")
    return parse_campaign(raw, str(path))


def parse_campaign(raw: pd.DataFrame, file: str = "campaign file") -> pd.DataFrame:
    """Typed campaign rows from text: customer_id, campaign, variant ("control" marks the
    control group; any other value is a variant that got the message), send_date, and
    cost_per_contact (currency, 0 when the column is absent), plus source_row (1-based).
    Headers match case- and space-insensitively; an empty or unreadable value is an error."""
    raw = raw.astype("string")
    raw.columns = [str(c).strip().lower().replace(" ", "_") for c in raw.columns]
    missing = [c for c in REQUIRED if c not in raw]
    if missing:
        raise InputError(
            f"The campaign file has no {', '.join(missing)} column.",
            file=file,
            column=missing[0],
            rows=raw.head(3),
            hint=f"It needs the columns {', '.join(REQUIRED)} (and optionally cost_per_contact).",
        )
    out = pd.DataFrame(
        {
            "source_row": np.arange(1, len(raw) + 1),
            "customer_id": schema.normalize_ids(raw["customer_id"]),
            "campaign": raw["campaign"].str.strip(),
            "variant": raw["variant"].str.strip(),
            "send_date": schema.parse_dates(raw["send_date"], file=file),
        }
    )
    cost = raw["cost_per_contact"].fillna("0") if "cost_per_contact" in raw else pd.Series("0", index=raw.index)
    out["cost_per_contact"] = schema.parse_numbers(cost).to_numpy()
    for column in ("customer_id", "campaign", "variant", "send_date", "cost_per_contact"):
        bad = out[out[column].isna() | (out[column].astype("string") == "")]
        if len(bad):
            raise InputError(
                f"{len(bad)} row(s) of the campaign file have an empty or unreadable {column}.",
                file=file,
                column=column,
                rows=raw.loc[bad.index].assign(source_row=bad["source_row"]),
                hint="Fill in or remove these rows; dates like 2025-10-06 and plain numbers are read.",
            )
    return out
