"""Reading and writing a run's artifacts: ``<run_dir>/data/<name>.parquet|csv``.

Notebooks never build paths themselves; they ask for an artifact by name (the constants
below), so each step reads exactly what the earlier steps of the same run wrote. Facts about a
table that are not columns (the source's column names, the CLV fit's parameters) travel in its
Parquet schema metadata (``write(..., meta=)``, ``read_meta``) or in a JSON artifact.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import joblib
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from segment_workbench.errors import ConfigError, InputError

# 01_collect
RAW = "raw.parquet"
CONTACTS = "contacts.parquet"
ATTRIBUTES = "attributes.parquet"
ATTRIBUTE_INFO = "attribute_info.csv"
SURVEY = "survey.parquet"
GROUND_TRUTH = "ground_truth.parquet"
CAMPAIGN = "campaign.parquet"
# 02_clean
TRANSACTIONS = "transactions.parquet"
CLEANING_LOG = "cleaning_log.csv"
REMOVED_ROWS = "removed_rows.parquet"
PURCHASE_DAYS = "purchase_days.parquet"  # the cleaned lines summed per customer and day (file sources)
CUSTOMERS = "customers.parquet"
# 03_segment
SEGMENTS = "segments.parquet"
SEGMENT_RULES = "segment_rules.csv"
SEGMENT_MODEL = "segment_model.joblib"
SEGMENT_PROFILES = "segment_profiles.csv"
TARGET_RANKING = "target_ranking.csv"
SEGMENT_MIGRATION = "segment_migration.csv"  # between RFM segments (the analyst's)
SEGMENT_MOVES = "segment_moves.csv"  # between the behavioural segments (the owner's)
ATTRIBUTE_MIX = "attribute_mix.csv"
RESPONSE_RATES = "response_rates.csv"
NEEDS_GROUPS = "needs_groups.csv"
# 04_cohorts
COHORT_RETENTION = "cohort_retention.csv"
COHORT_REVENUE = "cohort_revenue.csv"
SURVIVAL_BY_SEGMENT = "survival_by_segment.csv"
CHURN_DRIVERS = "churn_drivers.csv"
# 05_cltv
CLV = "clv.parquet"
CLV_BY_SEGMENT = "clv_by_segment.csv"
CLV_PARAMS = "clv_params.json"
CLV_SCORECARD = "clv_scorecard.csv"
# 06_campaign
SEGMENT_KPIS = "segment_kpis.csv"
CAMPAIGN_RESULTS = "campaign_results.csv"
OUTCOME_LIFTS = "outcome_lifts.csv"  # an outcome file's read-out (campaign.kind: outcomes)
HETEROGENEITY = "heterogeneity.csv"
TARGETING = "targeting.csv"  # cross-fitted values of the rule, the best single arm, the uplift model
TARGETING_RULE = "targeting_rule.csv"

#: The key of the workbench's own entry in a Parquet file's schema metadata.
META_KEY = b"segment_workbench"


@dataclass(frozen=True)
class RunMeta:
    """What every step after 02_clean needs besides the tables: "now" (the last day included),
    the unit of the customer table's durations, what the data measure value in (``currency``,
    or ``visits`` for a visit log without prices: each visit counts 1) and the input's level
    (``lines``: dated purchases; ``customers``: one row per customer, no dates of purchases).
    Written with ``customers.parquet``."""

    as_of: pd.Timestamp
    time_unit: str
    value_unit: str = "currency"
    level: str = "lines"

    @property
    def in_visits(self) -> bool:
        return self.value_unit == "visits"

    @property
    def dated(self) -> bool:
        """True when the data hold dated purchases (not a customer-level table)."""
        return self.level == "lines"

    def to_json(self) -> dict[str, str]:
        return {
            "as_of": f"{self.as_of:%Y-%m-%d}",
            "time_unit": self.time_unit,
            "value_unit": self.value_unit,
            "level": self.level,
        }

    def check_time_unit(self, time_unit: str) -> None:
        """Raise ConfigError when a step is asked for another unit than the table's."""
        if time_unit != self.time_unit:
            raise ConfigError(
                f"The customer table is in {self.time_unit}, but time_unit is {time_unit}; re-run 02_clean."
            )


def write_customers(table: pd.DataFrame, run_dir: str | Path, meta: RunMeta) -> Path:
    """Write the customer table with the run's metadata."""
    return write(table, run_dir, CUSTOMERS, meta=meta.to_json())


def run_meta(run_dir: str | Path) -> RunMeta:
    """The run's ``as_of`` and time unit, as 02_clean wrote them with the customer table."""
    meta = read_meta(run_dir, CUSTOMERS)
    if "as_of" not in meta:
        raise InputError(
            f"{CUSTOMERS} in {run_dir} does not say its as_of and time unit.",
            hint="It was written by an older version: re-run the whole config.",
        )
    return RunMeta(
        pd.Timestamp(meta["as_of"]),
        meta["time_unit"],
        meta.get("value_unit", "currency"),
        meta.get("level", "lines"),
    )


def data_dir(run_dir: str | Path) -> Path:
    path = Path(run_dir) / "data"
    path.mkdir(parents=True, exist_ok=True)
    return path


def write(df: pd.DataFrame, run_dir: str | Path, name: str, meta: dict[str, Any] | None = None) -> Path:
    """Write ``name`` (``x.parquet`` or ``x.csv``) into the run's data folder; ``meta`` (JSON-ready)
    goes into a Parquet file's schema metadata, read back by ``read_meta``."""
    path = data_dir(run_dir) / name
    if path.suffix == ".parquet":
        table = pa.Table.from_pandas(df, preserve_index=False)
        if meta is not None:
            table = table.replace_schema_metadata(
                {**(table.schema.metadata or {}), META_KEY: json.dumps(meta).encode()}
            )
        pq.write_table(table, path)
    elif path.suffix == ".csv":
        df.to_csv(path, index=False)
    else:
        raise ValueError(f"Unsupported artifact type: {name}")
    return path


def write_lines(
    lines, run_dir: str | Path, name: str, meta: dict[str, Any] | None = None, recipe: dict[str, Any] | None = None
) -> Path:
    """Order lines to ``name``: a frame as ``write`` does; an ibis table on DuckDB (``io.scan``'s
    typed file) written by DuckDB straight to Parquet, with ``meta`` in the file's key-value
    metadata, so the lines never pass through pandas; lines in a database stay there, and
    ``recipe`` (how to reach them again: no password) is written instead."""
    if isinstance(lines, pd.DataFrame):
        return write(lines, run_dir, name, meta)
    if recipe is not None:
        return write_recipe(run_dir, name, {**recipe, "meta": meta or {}})
    path = data_dir(run_dir) / name
    backend = lines._find_backend()
    options = "FORMAT parquet, COMPRESSION zstd"
    if meta is not None:
        options += f", KV_METADATA {{{META_KEY.decode()}: '{json.dumps(meta).replace(chr(39), chr(39) * 2)}'}}"
    backend.raw_sql(f"COPY ({backend.compile(lines)}) TO '{path.as_posix()}' ({options})")
    return path


def _recipe(run_dir: str | Path, name: str) -> Path:
    return Path(run_dir) / "data" / name.replace(".parquet", ".in-database.json")


def write_recipe(run_dir: str | Path, name: str, recipe: dict[str, Any]) -> Path:
    """In place of the lines ``name`` (raw, cleaned or removed lines left in the source
    database): how later steps reach them (``io.scan.from_recipe``)."""
    data_dir(run_dir)
    path = _recipe(run_dir, name)
    path.write_text(json.dumps(recipe, indent=2), encoding="utf-8")
    return path


def read_recipe(run_dir: str | Path, name: str) -> dict[str, Any]:
    return json.loads(_recipe(run_dir, name).read_text(encoding="utf-8"))


def exists(run_dir: str | Path, name: str) -> bool:
    """Whether an earlier step wrote ``name`` (as a file, or as lines left in the database)."""
    return (Path(run_dir) / "data" / name).is_file() or _recipe(run_dir, name).is_file()


def _existing(run_dir: str | Path, name: str) -> Path:
    """The artifact's path; a clear error says which step to run first when it is missing."""
    path = Path(run_dir) / "data" / name
    if not path.is_file():
        raise InputError(
            f"Artifact {name} is missing in {path.parent}.",
            file=str(path),
            hint="Run the earlier steps first (workbench run CONFIG, or the notebooks in order with the same run_dir).",
        )
    return path


def read(run_dir: str | Path, name: str, columns: list[str] | None = None) -> pd.DataFrame:
    """Read an artifact written by an earlier step; text columns of Parquet files come back as
    Arrow-backed strings (``dtypes.TEXT``), as they were written. ``columns``: read only those
    of a Parquet file's columns that it has (the rest is never loaded)."""
    path = _existing(run_dir, name)
    if path.suffix != ".parquet":
        return pd.read_csv(path)
    if columns is not None:
        present = set(pq.read_schema(path).names)
        columns = [c for c in columns if c in present]
    with pd.option_context("mode.string_storage", "pyarrow"):
        return pd.read_parquet(path, columns=columns)


def lines(run_dir: str | Path, name: str = TRANSACTIONS):
    """The cleaned lines (or ``RAW``, or the removed rows: ``REMOVED_ROWS``) for the engine
    (``segment_workbench.customers.engine.lines_table``): the Parquet file's path, scanned, never
    loaded whole; or, for lines left in the source database, an ibis table over them there."""
    if _recipe(run_dir, name).is_file():
        from segment_workbench.io import scan

        return scan.from_recipe(read_recipe(run_dir, name))
    return _existing(run_dir, name)


def save_purchase_days(run_dir: str | Path, transactions):
    """02_clean: the cleaned lines (a Parquet path, or an ibis table in the source database)
    summed per customer and purchase day, as ``engine.PurchaseDays``. From a file they are
    written as ``PURCHASE_DAYS`` for the later steps; in a database they stay there (per
    customer and day is more than the per-customer tables that may leave it)."""
    from segment_workbench.customers import engine

    days = engine.purchase_days(transactions)
    path = data_dir(run_dir) / PURCHASE_DAYS
    path.unlink(missing_ok=True)  # an earlier run's, in an interactive run folder
    return days.saved(path) if isinstance(transactions, Path) else days


def purchase_days(run_dir: str | Path):
    """The cleaned lines summed per customer and purchase day (``engine.PurchaseDays``): scanned
    from 02_clean's ``PURCHASE_DAYS`` when it wrote one (lines from a file), else summed now by
    the engine holding the lines and kept there (lines in the source database)."""
    from segment_workbench.customers import engine

    transactions = lines(run_dir)
    path = data_dir(run_dir) / PURCHASE_DAYS
    if path.is_file():
        return engine.PurchaseDays(engine.read_parquet(path), engine.lines_table(transactions, engine.LINE_COLUMNS))
    return engine.purchase_days(transactions).cache()


def read_optional(run_dir: str | Path, name: str, columns: list[str] | None = None) -> pd.DataFrame | None:
    """An artifact that an earlier step writes only sometimes (attributes, survey, campaign), or None."""
    return read(run_dir, name, columns) if exists(run_dir, name) else None


def read_meta(run_dir: str | Path, name: str) -> dict[str, Any]:
    """The ``meta`` written with a Parquet artifact ({} when none was)."""
    if _recipe(run_dir, name).is_file():
        return read_recipe(run_dir, name).get("meta", {})
    metadata = pq.read_schema(_existing(run_dir, name)).metadata or {}
    return json.loads(metadata[META_KEY]) if META_KEY in metadata else {}


def write_json(record: dict[str, Any], run_dir: str | Path, name: str) -> Path:
    """Write a JSON artifact (``x.json``)."""
    path = data_dir(run_dir) / name
    path.write_text(json.dumps(record, indent=2), encoding="utf-8")
    return path


def read_json(run_dir: str | Path, name: str) -> dict[str, Any]:
    """A JSON artifact written by an earlier step."""
    return json.loads(_existing(run_dir, name).read_text(encoding="utf-8"))


def write_model(model: object, run_dir: str | Path, name: str) -> Path:
    """Save a fitted model (``x.joblib``) for later steps of the same run and environment."""
    path = data_dir(run_dir) / name
    joblib.dump(model, path)
    return path


def read_model(run_dir: str | Path, name: str) -> object:
    """A model saved by an earlier step."""
    return joblib.load(_existing(run_dir, name))
