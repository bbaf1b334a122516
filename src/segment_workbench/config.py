"""The run configuration: one typed model, validated entirely when a config is loaded.

A config is a YAML mapping; every key has a default here, so a config only states what
differs. Unknown keys and values outside an enumeration fail at load time, before any step
runs, with the key, the bad value, the allowed values and the closest match. Relative paths
are resolved against the config file's folder; reports and ``.env`` live in the project
folder (:func:`project_dir`).
"""

from __future__ import annotations

import datetime
import difflib
import re
from pathlib import Path
from typing import Any, Literal

import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from segment_workbench.errors import ConfigError

#: Length of one time unit in days. A month is 365.25 / 12 days.
TIME_UNIT_DAYS = {"days": 1.0, "weeks": 7.0, "months": 365.25 / 12}

#: Steps in the order they run; the file numbers follow it.
ALL_STEPS = ["01_collect", "02_clean", "03_segment", "04_cohorts", "05_cltv", "06_campaign", "07_owner_report"]

#: The earlier steps whose artifacts each step reads (when they are part of the run). The
#: runner starts a step once those have completed, so 04_cohorts, 05_cltv and 06_campaign run
#: side by side. A step never reads an artifact of a later step, nor of an earlier run.
STEP_INPUTS = {
    "01_collect": [],
    "02_clean": ["01_collect"],
    "03_segment": ["01_collect", "02_clean"],
    "04_cohorts": ["01_collect", "02_clean", "03_segment"],
    "05_cltv": ["02_clean", "03_segment"],
    "06_campaign": ["01_collect", "02_clean", "03_segment"],
    "07_owner_report": ["01_collect", "02_clean", "03_segment", "04_cohorts", "05_cltv", "06_campaign"],
}

TimeUnit = Literal["days", "weeks", "months"]
Step = Literal["01_collect", "02_clean", "03_segment", "04_cohorts", "05_cltv", "06_campaign", "07_owner_report"]
#: The cleaning rules, in the order they run (``segment_workbench.cleaning.rules.RULES``; a test
#: checks that the two agree).
CleaningRule = Literal[
    "repeated_header",
    "missing_customer_id",
    "customer_id_case",
    "test_orders",
    "unparseable_date",
    "future_date",
    "cancelled_status",
    "invalid_quantity",
    "invalid_price",
    "non_product_lines",
    "extreme_amount",
    "duplicate_rows",
    "cancellations",
]
#: Column presets of known exports (``segment_workbench.io.presets.PRESETS``; a test checks them).
PresetName = Literal["generic", "uci_online_retail", "cdnow", "shopify_orders"]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class _TableSource(_Section):
    """A table read from a file or a database: the order source, the customers file, the survey."""

    path: str | None = None  # csv/excel/parquet: the file, relative to the config file
    columns: dict[str, str] = {}  # contract column -> column in your file
    sheet: str | int | None = None  # excel: sheet name or 0-based index; None = the first with the required columns
    encoding: str | None = None  # None = detect (UTF-8, UTF-8 with BOM, cp1252/latin-1)
    delimiter: str | None = None  # None = detect among , ; tab |
    decimal: Literal[".", ","] | None = None  # None = detect per column
    url_env: str | None = None  # sql: name of the environment variable holding the SQLAlchemy URL
    query: str | None = None  # sql: the query returning the rows


class SourceConfig(_TableSource):
    """Where the purchases come from and how to read them: order lines, a visit log (customer
    and date only) or a customer table (``level: customers``, one row per customer)."""

    kind: Literal["synthetic", "csv", "excel", "parquet", "sql"] = "synthetic"
    level: Literal["lines", "customers"] = "lines"  # customers: one row per customer with totals
    preset: PresetName = "generic"  # a known export's column names and formats
    date_format: str | None = None  # e.g. "%d/%m/%Y"; None = ISO 8601, then mixed formats
    dayfirst: bool | None = None  # 03/04/2024: true = 3 April; None = read from the data (a day above 12)
    n_customers: int = Field(3000, ge=1)  # synthetic
    seed: int = 42  # synthetic
    exclusions: str | None = None  # CSV of customers who opted out (customer_id and/or email): never collected
    # How 01_collect reads order lines: "engine" maps and types them in DuckDB while scanning the file
    # (Parquet; no line held in memory), "frame" in pandas; "auto" = the engine past 5M lines.
    engine: Literal["auto", "frame", "engine"] = "auto"
    # A log without order ids: one order per customer per "day" or per "timestamp".
    order_per: Literal["day", "timestamp"] = "day"
    # A log without prices (visits): value of one visit in the shop's currency; None = count visits.
    value_per_visit: float | None = Field(None, gt=0)
    # level: customers — columns holding spend per category and purchases per channel
    # ({label: column}); the totals are their sums unless revenue_total / n_orders are mapped.
    spend_by_category: dict[str, str] = {}
    purchases_by_channel: dict[str, str] = {}
    responses: dict[str, str] = {}  # level: customers — {campaign label: 0/1 column}: responses to past campaigns
    behaviour: list[str] = []  # level: customers — other numeric behaviour columns to cluster on
    ignore: list[str] = []  # level: customers — columns to leave out (constants, internal codes)

    @model_validator(mode="after")
    def _customer_level(self) -> SourceConfig:
        if self.level == "lines" and (self.spend_by_category or self.purchases_by_channel or self.responses):
            raise ValueError(
                "spend_by_category, purchases_by_channel and responses describe a customer table: set level: customers"
            )
        return self


class CustomersFileConfig(_TableSource):
    """An optional file with one row per customer and any attributes (demographics, geography,
    sign-up channel), joined to the orders on customer_id."""

    kind: Literal["csv", "excel", "parquet", "sql"] | None = None  # None = no customers file
    labels: dict[str, dict[str, str]] = {}  # column -> {code: label}, e.g. {Gender: {"0": male, "1": female}}
    drop: list[str] = []  # columns to leave out
    duplicates: Literal["error", "first", "last"] = "error"  # several rows for one customer id
    implausible: Literal["missing", "error"] = "missing"  # odd values: logged and set missing, or stop
    rare_share: float = Field(0.005, ge=0, lt=1)  # category values rarer than this are grouped as "Other"


class SurveyConfig(_TableSource):
    """An optional survey file: one row per respondent (customer_id) with Likert items."""

    kind: Literal["csv", "excel", "parquet", "sql"] | None = None  # None = no survey file
    scale: tuple[float, float] | None = None  # lowest and highest answer; None = read from the answers
    reverse: list[str] = []  # items worded the other way round: answered x counts as low + high - x
    n_factors: int | None = Field(None, ge=1)  # None = parallel analysis chooses
    max_missing: float = Field(0.5, ge=0, le=1)  # respondents missing more items than this share are left out


class CleaningConfig(_Section):
    """Parameters of the cleaning rules (``segment_workbench.cleaning.rules``)."""

    skip: list[CleaningRule] = []  # rules to switch off
    cancellation_prefix: str | None = "C"  # order ids starting with this are cancellations/returns
    test_patterns: dict[str, str] = {"customer_id": "^TEST", "product_name": "(?i)^test order"}
    non_product_codes: list[str] = []  # product_id values that are fees, postage, adjustments
    cancelled_statuses: list[str] = ["voided", "refunded", "cancelled"]
    max_line_amount: float | None = Field(None, gt=0)  # drop single lines worth more (None = keep all)


class SegmentationConfig(_Section):
    """Behavioural clusters, RFM, profiles and the target ranking."""

    k: int | None = Field(None, ge=1)  # number of clusters; None = chosen by k_rule
    method: Literal["kmeans", "gmm"] = "kmeans"
    k_range: tuple[int, int] = (2, 8)
    # stable = the richest stable k between 3 and 7; silhouette = the smallest k near the best silhouette
    k_rule: Literal["stable", "silhouette"] = "stable"
    min_stability: float = Field(0.8, ge=0, le=1)  # the stable rule's least adjusted Rand index over resamples
    min_share: float = Field(0.03, ge=0, lt=1)  # the stable rule's least share of customers in a segment
    features: list[str] | None = (
        None  # None = orders, avg_order_value, days_since_last_order, tenure_days (+ discount_share)
    )
    names: dict[str, str] = {}  # generated name -> your name, e.g. {"Big spenders": "VIPs"}
    rfm_map: list[dict[str, Any]] | None = None  # None = the 11-segment map in segment_workbench/segmentation/rfm.py
    weights: dict[Literal["size", "value", "growth", "margin"], float] = {}  # target ranking weights
    playbook: dict[str, list[str]] = {}  # segment -> [action, channel, KPI]
    cost_per_order: float = Field(0.0, ge=0)  # cost to serve one order (currency)
    growth_days: int = Field(90, ge=1)  # growth = revenue in the last N days vs the N days before
    migration_days: int = Field(90, ge=1)  # migration matrix from as_of minus N days to as_of
    signup_attributes: list[str] | None = None  # attributes that predict a new customer's segment; None = all usable

    @field_validator("k_range")
    @classmethod
    def _ordered(cls, value: tuple[int, int]) -> tuple[int, int]:
        if not 1 <= value[0] <= value[1]:
            raise ValueError(f"must be [low, high] with 1 <= low <= high, got {list(value)}")
        return value


class CampaignConfig(_Section):
    """The campaign read-out and the next test's design. ``kind: contacts`` (a list of contacted
    customers, judged on the orders) or ``kind: outcomes`` (one row per contacted customer with
    the arm and the outcomes already measured, read on its own)."""

    kind: Literal["contacts", "outcomes"] = "contacts"
    path: str | None = (
        None  # CSV/Excel: customer_id, campaign, variant ("control" = held back), send_date, cost_per_contact
    )
    arm: str = "variant"  # outcomes: the column holding each customer's arm
    control: str | None = None  # outcomes: the arm that got no message
    binary: list[str] = []  # outcomes: 0/1 outcome columns (visited, converted); the first is the primary
    amount: str | None = None  # outcomes: the amount outcome (spend in the window)
    segments: list[str] = []  # outcomes: columns whose values are segments (bands, categories)
    groups: dict[str, list[str]] = {}  # outcomes: a segment from 0/1 columns, e.g. {product_line: [mens, womens]}
    bins: dict[str, list[float]] = {}  # outcomes: numbers cut into segments at these edges ([low, high) each)
    features: list[str] = []  # outcomes: what was known before the send, for the uplift model; [] = the segments'
    cost_per_contact: float = Field(0.0, ge=0)  # outcomes: the cost of one message, in the shop's currency
    compare_arms: bool = False  # outcomes: also compare the arms with each other
    folds: int = Field(5, ge=2)  # outcomes: cross-fitting folds for the targeting rule and the uplift model
    window_days: int = Field(14, ge=1)  # a contact converts by ordering within this many days of the send
    margin: float = Field(1.0, gt=0, le=1)  # profit share of revenue, for the ROI
    alpha: float = Field(0.05, gt=0, lt=1)  # significance level (Holm-adjusted across segments)
    min_customers: int = Field(30, ge=1)  # fewer in either arm of a segment: "not enough customers to tell"
    allow_unknown_ids: bool = False  # true: ids found in no order are contacts who never bought
    power: float = Field(0.8, gt=0, lt=1)  # next test: chance of detecting the lift
    target_lift: float = Field(0.05, gt=0, lt=1)  # next test: the rise in conversion to detect (0.05 = 5 points)
    test_share: float = Field(0.5, gt=0, lt=1)  # next test: share of the audience that gets the message


class CohortsConfig(_Section):
    """Acquisition cohorts and the survival analysis' churn definition."""

    period: Literal["W", "M", "Q"] = "M"  # weeks, months, quarters
    threshold_days: int | None = Field(None, ge=1)  # churn = no purchase for longer; None = suggested from the gaps
    threshold_quantile: float = Field(0.9, gt=0, lt=1)  # the suggestion: this quantile of the gaps between purchases


class ClvConfig(_Section):
    """Repeat-purchase and spend models, the holdout check and the valuation."""

    # auto = the lowest holdout relative MAE (valuation.choose_model)
    model: Literal["auto", "bg_nbd", "pareto_nbd", "mbg_nbd", "bg_cnbd_k", "mbg_cnbd_k"] = "auto"
    holdout_periods: float | None = Field(None, gt=0)  # in time_unit; None = the last third of the data
    horizon_periods: int = Field(52, ge=1)  # CLV horizon, in time_unit
    annual_discount_rate: float = Field(0.10, ge=0)  # converted to a rate per period of time_unit
    margin: float = Field(1.0, gt=0, le=1)  # profit share of revenue; 1.0 = CLV as revenue
    n_simulations: int = Field(300, ge=1)  # draws for the prediction intervals
    interval: float = Field(0.90, gt=0, lt=1)  # width of the prediction intervals


class Config(_Section):
    """A whole run. Sections given as None in YAML (``cleaning:`` with nothing under it) take
    their defaults."""

    run_name: str | None = None  # reports land in <project>/reports/<run_name>/; default: the config file's name
    as_of: str | None = None  # "now": the last calendar day included; None = the day of the last order
    time_unit: TimeUnit = "weeks"  # unit of recency, T and horizons
    random_state: int = 42  # seed for every random step
    shop_name: str | None = None  # shown in the owner's report
    currency: str = ""  # symbol shown before amounts
    project_dir: str | None = None  # reports/ and .env live here; None = the folder holding configs/
    source: SourceConfig = SourceConfig()
    customers: CustomersFileConfig = CustomersFileConfig()
    survey: SurveyConfig = SurveyConfig()
    cleaning: CleaningConfig = CleaningConfig()
    segmentation: SegmentationConfig = SegmentationConfig()
    campaign: CampaignConfig = CampaignConfig()
    cohorts: CohortsConfig = CohortsConfig()
    clv: ClvConfig = ClvConfig()
    steps: list[Step] = list(ALL_STEPS)

    @model_validator(mode="before")
    @classmethod
    def _empty_sections(cls, data: Any) -> Any:
        if isinstance(data, dict):
            return {k: v for k, v in data.items() if not (v is None and k in _SECTIONS)}
        return data

    @field_validator("as_of", mode="before")
    @classmethod
    def _as_of(cls, value: Any) -> str | None:
        return None if value is None else f"{parse_as_of(value):%Y-%m-%d}"

    @field_validator("steps")
    @classmethod
    def _steps_in_order(cls, value: list[str]) -> list[str]:
        return [s for s in ALL_STEPS if s in value]

    @classmethod
    def from_parameters(cls, **parameters: Any) -> Config:
        """A config from notebook parameters (sections as dicts); raises ConfigError."""
        return validated(parameters)

    def parameters(self) -> dict[str, Any]:
        """The config as JSON-ready notebook parameters."""
        return self.model_dump(mode="json")


#: Why each step that needs dated purchases is skipped for a customer-level source.
NEEDS_DATED_PURCHASES = {
    "04_cohorts": "Skipped: a customer table has no purchase dates; an export of orders with their dates "
    "would give acquisition cohorts and how long customers stay.",
    "05_cltv": "Skipped: the lifetime-value models need each customer's purchase dates; an export of orders "
    "with their dates would enable them.",
    "06_campaign": "Skipped: monthly KPIs and campaign read-outs need dated orders; the response rates to past "
    "campaigns per segment are in 03_segment.",
}


def skipped_steps(cfg: Config) -> dict[str, str]:
    """Steps of ``cfg`` its data cannot support, each with the sentence saying why and what
    data would enable it."""
    if cfg.source.level != "customers":
        return {}
    return {step: why for step, why in NEEDS_DATED_PURCHASES.items() if step in cfg.steps}


_SECTIONS = {
    name
    for name, f in Config.model_fields.items()
    if isinstance(f.annotation, type) and issubclass(f.annotation, BaseModel)
}


def _suggest(name: Any, known: list[str]) -> str:
    same_letters = [k for k in known if k.lower() == str(name).lower()]
    close = same_letters or difflib.get_close_matches(str(name), known, n=1)
    return f" Did you mean '{close[0]}'?" if close else ""


def _fields_at(loc: tuple[Any, ...]) -> list[str]:
    """The known keys of the section at ``loc`` (the key's parent)."""
    model: type[BaseModel] = Config
    for part in loc[:-1]:
        annotation = model.model_fields[part].annotation if part in model.model_fields else None
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            model = annotation
    return list(model.model_fields)


def _describe(error: dict[str, Any]) -> str:
    """One pydantic error as a sentence naming the key, the value and what is allowed."""
    loc = error["loc"]
    key = ".".join(str(p) for p in loc if not isinstance(p, int) and not str(p).startswith("function-"))
    if error["type"] == "extra_forbidden":
        known = _fields_at(loc)
        section = ".".join(str(p) for p in loc[:-1])
        where = f"Known keys of '{section}'" if section else "Known keys"
        return f"Unknown key '{key}'.{_suggest(loc[-1], known)} {where}: {', '.join(known)}."
    if error["type"] in ("literal_error", "enum"):
        allowed = re.findall(r"'([^']*)'", error.get("ctx", {}).get("expected", ""))
        value = error["input"]
        return (
            f"{key}: {value!r} is not an allowed value.{_suggest(value, allowed)} Allowed values: {', '.join(allowed)}."
        )
    if error["type"] == "value_error":
        return f"{key or 'config'}: {error['msg'].removeprefix('Value error, ')}."
    return f"{key or 'config'}: {error['msg']} (got {error['input']!r})."


def validated(data: dict[str, Any], source: str = "") -> Config:
    """``data`` (a parsed YAML mapping) as a Config; every problem in one ConfigError."""
    try:
        return Config.model_validate(data or {})
    except ValidationError as exc:
        problems = [_describe(e) for e in exc.errors()]
        where = f"Config {source}: " if source else ""
        raise ConfigError(where + ("\n".join(problems) if len(problems) > 1 else problems[0])) from None


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


def resolve_as_of(value: Any, order_dates: pd.Series | None) -> pd.Timestamp:
    """``as_of`` from the config, or, when it is None, the day of the last parseable order date
    (``order_dates`` None: a customer table without any date column)."""
    if value is not None:
        return parse_as_of(value)
    if order_dates is None:
        raise ConfigError(
            "as_of is not set, and the customer table has no date to infer it from: set as_of to the day its "
            "recency (days since the last purchase) was counted to, e.g. as_of: 2024-06-30."
        )
    last = order_dates.max()
    if pd.isna(last):
        raise ConfigError("as_of is not set and no order date could be read to infer it.")
    return pd.Timestamp(last).normalize()


def unit_days(time_unit: str) -> float:
    """Length of ``time_unit`` in days; raises ConfigError for an unknown unit."""
    try:
        return TIME_UNIT_DAYS[time_unit]
    except KeyError:
        raise ConfigError(f"time_unit must be one of {', '.join(TIME_UNIT_DAYS)}, got {time_unit!r}.") from None


def default_project_dir(config_path: str | Path) -> Path:
    """The folder holding ``configs/`` when the config sits in one, else the config's folder."""
    folder = Path(config_path).resolve().parent
    return folder.parent if folder.name == "configs" else folder


def project_dir(cfg: Config, config_path: str | Path) -> Path:
    """The shop's project folder, where ``reports/`` and ``.env`` are: ``project_dir`` from the
    config (relative to the config file), else ``default_project_dir``."""
    if cfg.project_dir:
        return (Path(config_path).resolve().parent / Path(cfg.project_dir).expanduser()).resolve()
    return default_project_dir(config_path)


def _resolve_paths(cfg: Config, base_dir: Path) -> Config:
    """``cfg`` with its file paths made absolute."""
    for section, key in (
        ("source", "path"),
        ("source", "exclusions"),
        ("customers", "path"),
        ("survey", "path"),
        ("campaign", "path"),
    ):
        part = getattr(cfg, section)
        path = getattr(part, key)
        if path:
            setattr(part, key, str((base_dir / Path(path).expanduser()).resolve()))
    return cfg


def load_config(path: str | Path, overrides: dict[str, Any] | None = None) -> Config:
    """Read a YAML config, apply ``-p`` style ``overrides`` (dotted keys such as ``source.path``)
    and validate it all; raises ConfigError naming the file and every bad key."""
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
    cfg = validated(raw, str(path))
    if cfg.run_name is None:
        cfg.run_name = path.stem
    return _resolve_paths(cfg, path.resolve().parent)


def apply_override(raw: dict[str, Any], dotted: str, value: Any) -> None:
    """Set ``raw[a][b] = value`` for ``dotted='a.b'`` (at most one level of nesting)."""
    head, _, tail = dotted.partition(".")
    if tail:
        section = raw.setdefault(head, {})
        if section is None:
            section = raw[head] = {}
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
