"""The typed config: everything is validated at load time, with the key, the value, the allowed
values and the closest match in the message."""

import datetime
import typing

import pytest

from segment_workbench import config
from segment_workbench.cleaning.rules import RULE_NAMES
from segment_workbench.errors import ConfigError
from segment_workbench.io.presets import PRESETS


def _load(tmp_path, text):
    path = tmp_path / "x.yaml"
    path.write_text(text)
    return config.load_config(path)


def test_unknown_key_suggests_the_closest(tmp_path):
    with pytest.raises(ConfigError, match="Unknown key 'clenaing'. Did you mean 'cleaning'"):
        _load(tmp_path, "clenaing: {}\n")


def test_unknown_nested_key(tmp_path):
    with pytest.raises(ConfigError, match="Unknown key 'source.pth'. Did you mean 'path'"):
        _load(tmp_path, "source: {kind: csv, pth: a.csv}\n")


#: Every enumerated key, a typo of an allowed value, and the value the message suggests.
ENUMERATED = [
    ("clv", "model", "bgnbd", "bg_nbd", ["auto", "bg_nbd", "pareto_nbd", "mbg_nbd", "bg_cnbd_k", "mbg_cnbd_k"]),
    ("segmentation", "method", "kmean", "kmeans", ["kmeans", "gmm"]),
    ("cohorts", "period", "m", "M", ["W", "M", "Q"]),
    (None, "time_unit", "week", "weeks", ["days", "weeks", "months"]),
    ("source", "kind", "cvs", "csv", ["synthetic", "csv", "excel", "parquet", "sql"]),
    ("source", "preset", "cdnw", "cdnow", list(PRESETS)),
    ("source", "decimal", ";", None, [".", ","]),
]


@pytest.mark.parametrize("section, key, bad, suggested, allowed", ENUMERATED, ids=lambda v: str(v))
def test_each_enumerated_key_fails_at_load_naming_key_value_and_allowed(
    tmp_path, section, key, bad, suggested, allowed
):
    text = f"{key}: {bad!r}\n" if section is None else f"{section}: {{{key}: {bad!r}}}\n"
    with pytest.raises(ConfigError) as error:
        _load(tmp_path, text)
    message = str(error.value)
    dotted = key if section is None else f"{section}.{key}"
    assert f"{dotted}: {bad!r} is not an allowed value." in message
    assert f"Allowed values: {', '.join(allowed)}." in message
    if suggested:
        assert f"Did you mean '{suggested}'?" in message


def test_list_enumerations_steps_and_skipped_rules(tmp_path):
    with pytest.raises(ConfigError, match=r"steps: '03_segmnt' is not an allowed value. Did you mean '03_segment'"):
        _load(tmp_path, "steps: [01_collect, 03_segmnt]\n")
    with pytest.raises(ConfigError, match=r"cleaning.skip: 'duplicate_row' .* Did you mean 'duplicate_rows'"):
        _load(tmp_path, "cleaning: {skip: [duplicate_row]}\n")


def test_enumerations_agree_with_the_code():
    assert list(typing.get_args(config.CleaningRule)) == RULE_NAMES
    assert set(typing.get_args(config.PresetName)) == set(PRESETS)
    assert list(typing.get_args(config.Step)) == config.ALL_STEPS
    assert set(typing.get_args(config.TimeUnit)) == set(config.TIME_UNIT_DAYS)


def test_every_problem_is_listed_at_once(tmp_path):
    with pytest.raises(ConfigError) as error:
        _load(tmp_path, "clv: {model: bgnbd, horizon_periods: -1}\ncohorts: {period: Y}\n")
    message = str(error.value)
    assert "clv.model" in message and "clv.horizon_periods" in message and "cohorts.period" in message


def test_defaults_overrides_and_paths(tmp_path):
    (tmp_path / "sub").mkdir()
    path = tmp_path / "sub" / "shop.yaml"
    path.write_text("source: {kind: csv, path: ../orders.csv}\ncampaign: {path: sent.csv}\ncleaning:\n")
    cfg = config.load_config(path, {"as_of": "2024-06-30", "source.preset": "uci_online_retail"})
    assert cfg.run_name == "shop"
    assert cfg.source.path == str((tmp_path / "orders.csv").resolve())
    assert cfg.source.preset == "uci_online_retail"
    assert cfg.campaign.path == str((tmp_path / "sub" / "sent.csv").resolve())
    assert cfg.source.seed == 42  # untouched defaults are kept
    assert cfg.cleaning == config.CleaningConfig()  # an empty section takes its defaults
    assert cfg.as_of == "2024-06-30"


def test_project_folder_is_the_one_holding_configs(tmp_path):
    (tmp_path / "configs").mkdir()
    inside, beside = tmp_path / "configs" / "a.yaml", tmp_path / "b.yaml"
    for path in (inside, beside):
        path.write_text("run_name: x\n")
    assert config.project_dir(config.load_config(inside), inside) == tmp_path
    assert config.project_dir(config.load_config(beside), beside) == tmp_path
    elsewhere = tmp_path / "configs" / "c.yaml"
    elsewhere.write_text("project_dir: ../shop\n")
    assert config.project_dir(config.load_config(elsewhere), elsewhere) == tmp_path / "shop"


@pytest.mark.parametrize(
    "key, value, message",
    [
        ("time_unit", "fortnights", "time_unit: 'fortnights' is not an allowed value"),
        ("as_of", "the day after tomorrow", "as_of must be a date"),
        ("segmentation", {"k_range": [5, 2]}, r"segmentation.k_range: must be \[low, high\]"),
        ("clv", {"interval": 1.5}, "clv.interval: Input should be less than 1"),
    ],
)
def test_bad_values(key, value, message):
    with pytest.raises(ConfigError, match=message):
        config.Config.from_parameters(**{key: value})


def test_parse_override():
    assert config.parse_override("source.n_customers=500") == ("source.n_customers", 500)
    assert config.parse_override("as_of=2025-06-30")[0] == "as_of"
    with pytest.raises(ConfigError):
        config.parse_override("no-equals-sign")


def test_unit_days():
    assert config.unit_days("weeks") == 7
    assert config.unit_days("months") == pytest.approx(30.4375)


def test_as_of_argument_today_or_a_date():
    assert config.as_of_argument("today") == datetime.date.today().isoformat()
    assert config.as_of_argument("2026-01-31") == "2026-01-31"
    with pytest.raises(ConfigError, match="as_of must be a date"):
        config.as_of_argument("next tuesday")
