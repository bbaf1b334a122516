"""01_collect's entry point: read the source named by the config, map it to the contract, type
its values and split personal data off into a contacts table; read the optional customers file
(attributes) and survey file.

Every row read is kept (parsing failures become NaN/NaT and are removed, with a logged
reason, by the cleaning step). ``source_row`` is the 1-based record number in the source.
A customer-level source (``source.level: customers``) gives one row per customer instead of
order lines (``segment_workbench.io.customer_level``); its descriptive columns become attributes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ibis
import pandas as pd

from segment_workbench.config import CustomersFileConfig, SourceConfig, SurveyConfig, resolve_as_of, validated
from segment_workbench.customers import engine
from segment_workbench.datasets import synthetic
from segment_workbench.errors import ConfigError, InputError
from segment_workbench.io import scan, schema
from segment_workbench.io.attributes import AttributeTable, type_attributes
from segment_workbench.io.campaign_file import parse_campaign, read_campaign_file
from segment_workbench.io.contacts import add_contacts, apply_exclusions, contacts_table
from segment_workbench.io.customer_level import split_customer_table
from segment_workbench.io.detection import existing_file
from segment_workbench.io.mapping import map_columns
from segment_workbench.io.presets import PRESETS, Preset
from segment_workbench.io.readers import read_csv, read_excel, read_parquet, read_sql, read_table
from segment_workbench.io.survey_file import prepare_answers


@dataclass
class Collected:
    """What 01_collect writes: typed transactions (a frame, or an ibis table over the source file
    when the engine collects it: ``io.scan``; at ``level`` customers, the typed customer
    table; no personal data), contacts, attributes, extras, how many customers and order lines
    the exclusion list kept out, and a sentence per thing derived or left out (``notes``)."""

    transactions: pd.DataFrame | ibis.Table
    contacts: pd.DataFrame
    file: str
    extras: dict[str, pd.DataFrame] = field(default_factory=dict)
    excluded_customers: int = 0
    excluded_lines: int = 0
    source_columns: dict[str, str] = field(default_factory=dict)  # contract name -> the source's name
    attributes: AttributeTable | None = None
    level: str = "lines"
    value_unit: str = "currency"  # or "visits": a log without prices
    notes: list[str] = field(default_factory=list)
    recipe: dict[str, Any] | None = None  # a sql source's lines left in the database: how to reach them again

    def meta(self) -> dict[str, Any]:
        """What 02_clean needs to know about the source, stored with raw.parquet."""
        return {"source_columns": self.source_columns, "level": self.level, "value_unit": self.value_unit}


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
    source: SourceConfig | dict[str, Any],
    campaign_path: str | Path | None = None,
    env_file: Path | None = None,
    *,
    customers: CustomersFileConfig | None = None,
    survey: SurveyConfig | None = None,
    as_of: str | None = None,
) -> Collected:
    """Read, map and type the source (a ``SourceConfig`` or its keys as a dict), the customers
    file, the survey file and the campaign file when given; personal data goes to ``contacts``
    (one row per customer: latest e-mail and consent seen), never into the transactions or
    attributes; customers on ``source.exclusions`` are dropped from everything. ``env_file``:
    the project's ``.env`` (a sql source's URL); ``as_of``: the config's (ages are computed at it)."""
    if not isinstance(source, SourceConfig):
        source = validated({"source": source}).source
    notes: list[str] = []
    recipe = None
    if source.level == "customers":
        df, label, extras = read_source(source, env_file)
        typed, attribute_columns = split_customer_table(df, source, label)
        del df
        source_columns, value_unit = {}, "currency"
        when = resolve_as_of(as_of, table_dates(typed))
        attributes = type_attributes(attribute_columns, label, CustomersFileConfig(), when)
    elif scan.wanted(source, env_file):  # typed by the engine as it scans the file or runs the query
        typed, source_columns, value_unit, notes, label = scan.typed_lines(source, preset_of(source), env_file)
        extras, attributes = {}, None
        if source.kind == "sql":  # the lines stay in the database: later steps rebuild them from this
            recipe = {"source": source.model_dump(mode="json"), "env_file": str(env_file) if env_file else None}
        when = resolve_as_of(as_of, pd.Series([engine.day_span(typed)[2]]))
    else:
        typed, label, extras, source_columns = _typed_source(source, env_file)
        typed, value_unit, notes = schema.complete_orders(typed, source.order_per, source.value_per_visit)
        when = resolve_as_of(as_of, typed["order_date"])
        attributes = None
        if "attributes" in extras:  # the synthetic demo's
            attributes = type_attributes(extras.pop("attributes"), label, CustomersFileConfig(), when)
    scanned = isinstance(typed, ibis.Table)
    if customers is not None and customers.kind is not None:
        ids = engine.customer_ids(typed) if scanned else typed["customer_id"]
        attributes = _customers_file(customers, ids, env_file, when, notes)
    if survey is not None and survey.kind is not None:
        answers, file = read_table(survey, "survey file", "survey", env_file)
        extras["survey"], survey_notes = prepare_answers(answers, survey, file)
        notes += survey_notes
    if campaign_path:
        extras["campaign"] = read_campaign_file(campaign_path)
    excluded = (0, 0)
    if source.exclusions:
        if attributes is not None:
            extras["attributes"], extras["emails"] = attributes.table, attributes.emails
        typed, extras, *excluded = (scan.apply_exclusions if scanned else apply_exclusions)(
            typed, extras, source.exclusions
        )
        if attributes is not None:
            attributes.table, attributes.emails = extras.pop("attributes"), extras.pop("emails")
    contacts = scan.contacts(typed) if scanned else contacts_table(typed)
    if attributes is not None:
        contacts = add_contacts(contacts, attributes.emails)
    personal = [c for c in schema.PII + ["consent"] if c in typed.columns]
    transactions = typed.drop(*personal) if scanned else typed.drop(columns=personal)
    return Collected(
        transactions=transactions,
        contacts=contacts,
        file=label,
        extras=extras,
        excluded_customers=excluded[0],
        excluded_lines=excluded[1],
        source_columns=source_columns,
        attributes=attributes,
        level=source.level,
        value_unit=value_unit,
        notes=notes,
        recipe=recipe,
    )


def table_dates(table: pd.DataFrame) -> pd.Series | None:
    """The dates of a customer table (last and first purchases), or None when it has neither."""
    present = [table[c] for c in ("last_purchase", "first_purchase") if c in table]
    return pd.concat(present) if present else None


def _customers_file(
    settings: CustomersFileConfig,
    order_ids: pd.Series,
    env_file: Path | None,
    as_of: pd.Timestamp | None,
    notes: list[str],
) -> AttributeTable:
    """The customers file typed, restricted to customers in the orders (the others are counted
    in ``notes``); InputError when no id matches any order (a wrong id column, or another shop)."""
    df, file = read_table(settings, "customers file", "customers", env_file)
    attributes = type_attributes(df, file, settings, as_of)
    known = attributes.table["customer_id"].isin(set(order_ids.dropna()))
    if not known.any():
        raise InputError(
            f"None of the {len(known):,} customer ids in the customers file matches a customer in the orders.",
            file=file,
            column="customer_id",
            rows=pd.DataFrame(
                {
                    "customers file id": attributes.table["customer_id"].head(3).to_numpy(),
                    "an id in the orders": order_ids.dropna().drop_duplicates().head(3).to_numpy(),
                }
            ),
            hint="Check that customers.columns.customer_id names the column holding the same ids as the orders.",
        )
    if not known.all():
        notes.append(
            f"Customers file: {int(known.sum()):,} of {len(known):,} customers have orders; the attributes of the "
            f"{int((~known).sum()):,} without orders are kept out."
        )
    attributes.table = attributes.table[known.to_numpy()].reset_index(drop=True)
    attributes.emails = attributes.emails[attributes.emails["customer_id"].isin(set(order_ids.dropna()))]
    return attributes


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
