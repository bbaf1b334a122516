import pytest

from helpers import config
from helpers.errors import ConfigError


def test_unknown_key_suggests_the_closest(tmp_path):
    path = tmp_path / "x.yaml"
    path.write_text("clenaing: {}\n")
    with pytest.raises(ConfigError, match="Did you mean 'cleaning'"):
        config.load_config(path)


def test_unknown_nested_key(tmp_path):
    path = tmp_path / "x.yaml"
    path.write_text("source: {kind: csv, pth: a.csv}\n")
    with pytest.raises(ConfigError, match="source.pth.*Did you mean 'path'"):
        config.load_config(path)


def test_defaults_overrides_and_paths(tmp_path):
    (tmp_path / "sub").mkdir()
    path = tmp_path / "sub" / "shop.yaml"
    path.write_text("source: {kind: csv, path: ../orders.csv}\ncampaign: {path: sent.csv}\n")
    cfg = config.load_config(path, {"as_of": "2024-06-30", "source.preset": "uci_online_retail"})
    assert cfg["run_name"] == "shop"
    assert cfg["source"]["path"] == str((tmp_path / "orders.csv").resolve())
    assert cfg["source"]["preset"] == "uci_online_retail"
    assert cfg["campaign"]["path"] == str((tmp_path / "sub" / "sent.csv").resolve())
    assert cfg["source"]["seed"] == 42  # untouched defaults are kept
    assert cfg["as_of"] == "2024-06-30"


@pytest.mark.parametrize("key, value, message", [
    ("time_unit", "fortnights", "time_unit must be one of"),
    ("as_of", "the day after tomorrow", "as_of must be a date"),
    ("steps", ["01_collect", "03_segmnt"], "Unknown step"),
])
def test_bad_values(key, value, message):
    with pytest.raises(ConfigError, match=message):
        config.merge_config({key: value})


def test_parse_override():
    assert config.parse_override("source.n_customers=500") == ("source.n_customers", 500)
    assert config.parse_override("as_of=2025-06-30")[0] == "as_of"
    with pytest.raises(ConfigError):
        config.parse_override("no-equals-sign")


def test_unit_days():
    assert config.unit_days("weeks") == 7
    assert config.unit_days("months") == pytest.approx(30.4375)


def test_as_of_argument_today_or_a_date():
    import datetime

    assert config.as_of_argument("today") == datetime.date.today().isoformat()
    assert config.as_of_argument("2026-01-31") == "2026-01-31"
    with pytest.raises(ConfigError, match="as_of must be a date"):
        config.as_of_argument("next tuesday")
