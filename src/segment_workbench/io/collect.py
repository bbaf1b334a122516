"""01_collect's entry point: read the source named by the config, map it to the contract, type
its values and split personal data off into a contacts table.

Every row read is kept (parsing failures become NaN/NaT and are removed, with a logged
reason, by the cleaning step). ``source_row`` is the 1-based record number in the source.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from segment_workbench.config import SourceConfig, validated
from segment_workbench.datasets import synthetic
from segment_workbench.errors import ConfigError, InputError
from segment_workbench.io import schema
from segment_workbench.io.campaign_file import parse_campaign, read_campaign_file
from segment_workbench.io.contacts import apply_exclusions, contacts_table
from segment_workbench.io.detection import existing_file
from segment_workbench.io.mapping import map_columns
from segment_workbench.io.presets import PRESETS, Preset
from segment_workbench.io.readers import read_csv, read_excel, read_parquet, read_sql


@dataclass
class Collected:
    """What 01_collect writes: typed transactions (no personal data), contacts, extras, and how
    many customers and order lines the exclusion list kept out."""

    transactions: pd.DataFrame
    contacts: pd.DataFrame
    file: str
    extras: dict[str, pd.DataFrame] = field(default_factory=dict)
    excluded_customers: int = 0
    excluded_lines: int = 0
    source_columns: dict[str, str] = field(default_factory=dict)  # contract name -> the source's name


def read_source(
    source: SourceConfig, env_file: Path | None = None
) -> tuple[pd.DataFrame, str, dict[str, pd.DataFrame]]:
    """The source's rows as read (column names as in the source), a label naming the file,
    and extra tables (the synthetic demo's customers, survey and ground truth). ``env_file``:
    the project's ``.env``, where a sql source's URL may be kept."""
    kind = source.kind
    preset = preset_of(source)
    extras: dict[str, pd.DataFrame] = {}
    if kind == "synthetic":
        demo = synthetic.generate(n_customers=int(source.n_customers), seed=int(source.seed))
        df, label = demo.transactions, f"synthetic demo (seed {source.seed})"
        # Names and e-mails are not needed by any analysis: dropped here (data minimization);
        # e-mail and consent reach the contacts table from the order lines.
        attributes = demo.attributes.drop(columns=["name", "email", "consent"])
        extras = {
            "attributes": attributes,
            "survey": demo.survey,
            "ground_truth": demo.ground_truth,
            "campaign": parse_campaign(demo.campaign, label),
        }
    elif kind == "sql":
        df, label = read_sql(source, env_file), f"sql via ${source.url_env}"
    else:
        if not source.path:
            raise ConfigError(f"A {kind} source needs source.path.")
        path = existing_file(source.path, "input file", "source.path")
        label = str(path)
        # the kind was checked with the config: csv, excel or parquet here
        df = (
            read_parquet(path)
            if kind == "parquet"
            else {"csv": read_csv, "excel": read_excel}[kind](path, source, preset)
        )
    if len(df) == 0:
        raise InputError(
            "The source has a header but no data rows.",
            file=label,
            hint="Export the orders again, or check the query/sheet.",
        )
    df = df.reset_index(drop=True)
    df.insert(0, "source_row", pd.RangeIndex(1, len(df) + 1))
    return df, label, extras


def preset_of(source: SourceConfig) -> Preset:
    return PRESETS[source.preset]


def collect(
    source: SourceConfig | dict[str, Any], campaign_path: str | Path | None = None, env_file: Path | None = None
) -> Collected:
    """Read, map and type the source (a ``SourceConfig`` or its keys as a dict), and the campaign
    file when given; personal data goes to ``contacts`` (one row per customer: latest e-mail and
    consent seen), never into the transactions; customers on ``source.exclusions`` are dropped
    from everything. ``env_file``: the project's ``.env`` (a sql source's URL)."""
    if not isinstance(source, SourceConfig):
        source = validated({"source": source}).source
    typed, label, extras, source_columns = _typed_source(source, env_file)
    if campaign_path:
        extras["campaign"] = read_campaign_file(campaign_path)
    excluded = (0, 0)
    if source.exclusions:
        typed, extras, *excluded = apply_exclusions(typed, extras, source.exclusions)
    contacts = contacts_table(typed)
    transactions = typed.drop(columns=[c for c in schema.PII + ["consent"] if c in typed])
    return Collected(
        transactions=transactions,
        contacts=contacts,
        file=label,
        extras=extras,
        excluded_customers=excluded[0],
        excluded_lines=excluded[1],
        source_columns=source_columns,
    )


def _typed_source(
    source: SourceConfig, env_file: Path | None
) -> tuple[pd.DataFrame, str, dict[str, pd.DataFrame], dict]:
    """The source read, mapped and typed; its text as read is freed column by column as it is
    typed (at 10M lines it is as large as the typed table)."""
    df, label, extras = read_source(source, env_file)
    preset = preset_of(source)
    if preset.prepare is not None:
        df = preset.prepare(df)
    mapped, source_columns = map_columns(df, source, preset, label)
    del df  # the mapped columns are its only holders now
    typed = schema.coerce_types(
        mapped,
        label,
        decimal=source.decimal,
        date_format=source.date_format or preset.date_format,
        dayfirst=source.dayfirst,
        consume=True,
    )
    return typed, label, extras, source_columns
