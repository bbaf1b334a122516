"""Run configuration: defaults, loading a YAML config, validation, paths and time units.

A config is a YAML mapping whose top-level keys are notebook parameters. Every key has a
default here, so a config only states what differs from the demo. Relative paths inside a
config are resolved against the folder of the config file.
"""

from __future__ import annotations

import copy
import datetime
import difflib
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from helpers.errors import ConfigError

PROJECT_ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS_DIR = PROJECT_ROOT / "notebooks"

#: Length of one time unit in days. A month is 365.25 / 12 days.
TIME_UNIT_DAYS = {"days": 1.0, "weeks": 7.0, "months": 365.25 / 12}

#: Steps in the order they run. 07_campaign runs before 06_owner_report so that the owner's
#: report, the run's final product, can state the campaign result.
ALL_STEPS = ["01_collect", "02_clean", "03_segment", "04_cohorts", "05_cltv", "07_campaign", "06_owner_report"]

#: The earlier steps whose artifacts each step reads (when they are part of the run). The
#: runner starts a step once those have completed, so 04_cohorts, 05_cltv and 07_campaign run
#: side by side. 03_segment also reads clv.parquet, but only from an earlier run (--only).
STEP_INPUTS = {
    "01_collect": [],
    "02_clean": ["01_collect"],
    "03_segment": ["01_collect", "02_clean"],
    "04_cohorts": ["01_collect", "02_clean", "03_segment"],
    "05_cltv": ["02_clean", "03_segment"],
    "07_campaign": ["01_collect", "02_clean", "03_segment"],
    "06_owner_report": ["01_collect", "02_clean", "03_segment", "04_cohorts", "05_cltv", "07_campaign"],
}

DEFAULTS: dict[str, Any] = {
    # Name of the run: reports land in reports/<run_name>/. Defaults to the config's file name.
    "run_name": None,
    # "Now" for every step: the last calendar day included. None = the day of the last order.
    "as_of": "2025-12-31",
    # Unit of recency, T and horizons in the customer table and the models.
    "time_unit": "weeks",
    # Seed for every random step.
    "random_state": 42,
    # For the owner's report: the shop's name and the currency symbol shown before amounts.
    "shop_name": None,
    "currency": "",
    "source": {
        "kind": "synthetic",  # csv | excel | parquet | sql | synthetic | cdnow (whitespace text)
        "path": None,
        "preset": "generic",  # uci_online_retail | cdnow | shopify_orders | generic
        "columns": {},  # generic preset: contract column -> column in your file
        "sheet": None,  # excel: sheet name or 0-based index; None = first sheet with the required columns
        "encoding": None,  # None = detect (UTF-8, UTF-8 with BOM, cp1252/latin-1)
        "delimiter": None,  # None = detect among , ; tab |
        "decimal": None,  # None = detect per column ("." or ",")
        "date_format": None,  # e.g. "%d/%m/%Y"; None = ISO 8601, then mixed formats
        "dayfirst": None,  # 03/04/2024: true = 3 April, false = 4 March, None = read from the data (a day above 12)
        "url_env": None,  # sql: name of the environment variable holding the SQLAlchemy URL
        "query": None,  # sql: the query returning one row per order line
        "n_customers": 3000,  # synthetic
        "seed": 42,  # synthetic
        "exclusions": None,  # CSV of customers who opted out or asked to be forgotten (customer_id and/or email column): never collected
    },
    "cleaning": {
        "skip": [],  # names of cleaning rules to switch off
        "cancellation_prefix": "C",  # order ids starting with this are cancellations/returns
        "test_patterns": {"customer_id": "^TEST", "product_name": "(?i)^test order"},
        "non_product_codes": [],  # product_id values that are fees, postage, adjustments
        "cancelled_statuses": ["voided", "refunded", "cancelled"],
        "max_line_amount": None,  # drop single lines worth more than this (None = keep all)
    },
    "segmentation": {
        "k": None,  # number of behavioural clusters; None = chosen by silhouette (smallest k within 5% of the best)
        "method": "kmeans",  # kmeans | gmm
        "k_range": [2, 8],
        "features": None,  # None = orders, avg_order_value, days_since_last_order, tenure_days (+ discount_share)
        "names": {},  # generated name -> your name, e.g. {"Big spenders": "VIPs"}
        "rfm_map": None,  # None = the 11-segment map in helpers/rfm.py
        "weights": {},  # target ranking weights: size, value, growth, margin
        "playbook": {},  # segment -> [action, channel, KPI]; adds to helpers/targeting.py's
        "cost_per_order": 0.0,  # cost to serve one order (currency), for net value per customer
        "growth_days": 90,  # growth = revenue in the last N days vs the N days before
        "migration_days": 90,  # migration matrix from as_of minus N days to as_of
        "n_factors": 2,  # survey factors
        "signup_attributes": ["age_band", "region", "channel", "acquisition_source"],
    },
    "campaign": {
        "path": None,  # CSV/Excel: customer_id, campaign, variant ("control" = held back), send_date, cost_per_contact
        "window_days": 14,  # a contact converts by ordering within this many days from the send date
        "margin": 1.0,  # profit share of revenue, for the ROI
        "alpha": 0.05,  # significance level of the verdicts (Holm-adjusted across segments)
        "min_customers": 30,  # fewer in either arm of a segment -> "not enough customers to tell"
        "allow_unknown_ids": False,  # true: ids found in no order are contacts who never bought
        "power": 0.8,  # experiment design: chance of detecting the lift
        "target_lift": 0.05,  # experiment design: the rise in conversion to detect (0.05 = 5 points)
        "test_share": 0.5,  # experiment design: share of a segment's audience that gets the message
    },
    "cohorts": {
        "period": "M",  # cohort period: W (weeks), M (months), Q (quarters)
        "threshold_days": None,  # churn = no purchase for more than this; None = suggested from purchase gaps
        "threshold_quantile": 0.9,  # the suggestion: this quantile of the gaps between purchases
    },
    "clv": {
        "model": "auto",  # bg_nbd | pareto_nbd | auto (the one with the lower holdout error)
        "holdout_periods": None,  # in time_unit; None = the last third of the data
        "horizon_periods": 52,  # CLV horizon, in time_unit
        "annual_discount_rate": 0.10,  # converted to a rate per period of time_unit
        "margin": 1.0,  # profit share of revenue; 1.0 = CLV as revenue
        "n_simulations": 300,  # draws for the prediction intervals
        "interval": 0.90,  # width of the prediction intervals
    },
    "steps": list(ALL_STEPS),
}


def _suggest(name: str, known: list[str]) -> str:
    close = difflib.get_close_matches(name, known, n=1)
    return f" Did you mean '{close[0]}'?" if close else ""


def merge_config(overrides: dict[str, Any], base: dict[str, Any] | None = None) -> dict[str, Any]:
    """Defaults updated with ``overrides``; nested sections are merged key by key.

    Raises ConfigError for an unknown key, naming the closest known one.
    """
    cfg = copy.deepcopy(DEFAULTS if base is None else base)
    for key, value in (overrides or {}).items():
        if key not in DEFAULTS:
            raise ConfigError(
                f"Unknown config key '{key}'.{_suggest(key, list(DEFAULTS))} "
                f"Known keys: {', '.join(DEFAULTS)}."
            )
        default = DEFAULTS[key]
        if isinstance(default, dict) and value is not None:
            if not isinstance(value, dict):
                raise ConfigError(f"Config key '{key}' must be a mapping, got {value!r}.")
            for bad in (k for k in value if k not in default):
                raise ConfigError(
                    f"Unknown key '{key}.{bad}'.{_suggest(bad, list(default))} "
                    f"Known keys of '{key}': {', '.join(default)}."
                )
            cfg[key] = {**cfg[key], **value}
        else:
            cfg[key] = value
    validate(cfg)
    return cfg


def validate(cfg: dict[str, Any]) -> None:
    """Check values that every step relies on; raise ConfigError naming the key."""
    if cfg["time_unit"] not in TIME_UNIT_DAYS:
        raise ConfigError(
            f"time_unit must be one of {', '.join(TIME_UNIT_DAYS)}, got {cfg['time_unit']!r}."
        )
    if cfg["as_of"] is not None:
        parse_as_of(cfg["as_of"])
    unknown_steps = [s for s in cfg["steps"] if s not in ALL_STEPS]
    if unknown_steps:
        raise ConfigError(
            f"Unknown step(s) {unknown_steps}.{_suggest(unknown_steps[0], ALL_STEPS)} "
            f"Steps: {', '.join(ALL_STEPS)}."
        )


def parse_as_of(value: Any) -> pd.Timestamp:
    """The ``as_of`` date as a midnight Timestamp (the last calendar day included)."""
    try:
        ts = pd.Timestamp(value)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"as_of must be a date like 2025-12-31, got {value!r}.") from exc
    if ts is pd.NaT:
        raise ConfigError(f"as_of must be a date like 2025-12-31, got {value!r}.")
    return ts.normalize()


def as_of_argument(text: str) -> str:
    """``--as-of`` on the command line: "today" (the machine's local date; the only place the
    workbench reads the clock, for scheduled refreshes) or a date, as an ISO string."""
    value = datetime.date.today() if text.strip().lower() == "today" else parse_as_of(text)
    return f"{value:%Y-%m-%d}"


def resolve_as_of(value: Any, order_dates: pd.Series) -> pd.Timestamp:
    """``as_of`` from the config, or, when it is None, the day of the last parseable order date."""
    if value is not None:
        return parse_as_of(value)
    last = order_dates.max()
    if pd.isna(last):
        raise ConfigError("as_of is not set and no order date could be read to infer it.")
    return pd.Timestamp(last).normalize()


def unit_days(time_unit: str) -> float:
    """Length of ``time_unit`` in days; raises ConfigError for an unknown unit."""
    try:
        return TIME_UNIT_DAYS[time_unit]
    except KeyError:
        raise ConfigError(
            f"time_unit must be one of {', '.join(TIME_UNIT_DAYS)}, got {time_unit!r}."
        ) from None


def resolve_paths(cfg: dict[str, Any], base_dir: Path) -> dict[str, Any]:
    """A copy of ``cfg`` with its file paths (source.path, source.exclusions, campaign.path) made
    absolute against ``base_dir``."""
    cfg = copy.deepcopy(cfg)
    for section, key in (("source", "path"), ("source", "exclusions"), ("campaign", "path")):
        path = cfg[section].get(key)
        if path:
            cfg[section][key] = str((base_dir / Path(path).expanduser()).resolve())
    return cfg


def load_config(path: str | Path, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Read a YAML config, merge it over the defaults and apply ``-p`` style overrides.

    ``overrides`` maps dotted keys (``source.path``) to values.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"Config file not found: {path}")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"Config file {path} is not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"Config file {path} must be a mapping of keys to values.")
    for dotted, value in (overrides or {}).items():
        apply_override(raw, dotted, value)
    raw.setdefault("run_name", path.stem)
    cfg = merge_config(raw)
    if cfg["run_name"] is None:
        cfg["run_name"] = path.stem
    return resolve_paths(cfg, path.parent)


def apply_override(raw: dict[str, Any], dotted: str, value: Any) -> None:
    """Set ``raw[a][b] = value`` for ``dotted='a.b'`` (at most one level of nesting)."""
    head, _, tail = dotted.partition(".")
    if tail:
        section = raw.setdefault(head, {})
        if not isinstance(section, dict):
            raise ConfigError(f"Cannot set '{dotted}': '{head}' is not a mapping.")
        section[tail] = value
    else:
        raw[head] = value


def parse_override(text: str) -> tuple[str, Any]:
    """Parse ``key=value`` from the command line; the value is read as a YAML scalar."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise ConfigError(f"Parameter override must look like key=value, got {text!r}.")
    return key.strip(), yaml.safe_load(value)
