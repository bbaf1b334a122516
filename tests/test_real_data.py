"""The real UCI Online Retail data through collect + clean with configs/uci_online_retail.yaml.

Expected counts are those in ../shared/data/PROVENANCE.md.
"""

import pandas as pd
import pytest
from support import REPO

from segment_workbench.cleaning import rules as cleaning
from segment_workbench.config import load_config
from segment_workbench.customers import table as customers
from segment_workbench.io.collect import collect

pytestmark = pytest.mark.slow


def test_uci_online_retail_collect_and_clean(shared_data):
    cfg = load_config(REPO / "configs" / "uci_online_retail.yaml")
    raw = collect(cfg.source).transactions
    assert len(raw) == 541_909
    assert raw["customer_id"].nunique() == 4_372 and raw["customer_id"].isna().sum() == 135_080
    assert raw["order_id"].str.startswith("C").sum() == 9_288
    assert raw["quantity"].sum() == 5_176_450 and (raw["quantity"] < 0).sum() == 10_624
    assert (
        str(raw["order_date"].min()) == "2010-12-01 08:26:00" and str(raw["order_date"].max()) == "2011-12-09 12:50:00"
    )

    result = cleaning.clean(raw, cfg.as_of, cfg.cleaning)
    removed = result.log.groupby("reason")["rows_removed"].sum()
    assert removed["missing_customer_id"] == 135_080  # the first rule: every row without an id
    assert result.rows_in == len(result.transactions) + removed.sum()
    # every cancellation line with a customer id is removed (netted or unmatched), none kept
    assert not result.transactions["order_id"].str.startswith("C").any()
    table = customers.build_customer_table(result.transactions, cfg.as_of, cfg.time_unit)
    assert 4_000 < len(table) <= 4_372 and table["customer_id"].is_unique


@pytest.mark.xdist_group("runner")
def test_uci_online_retail_end_to_end_without_warnings(shared_data, tmp_path):
    """The whole config on the real data: facts checked by hand, and no Python warning on any page."""
    import re

    from segment_workbench.app import runner
    from segment_workbench.io import artifacts

    result = runner.run(REPO / "configs" / "uci_online_retail.yaml", reports_root=tmp_path)
    assert all(step.status == "complete" for step in result.steps)
    log = artifacts.read(result.run_dir, artifacts.CLEANING_LOG)
    assert log["rows_removed"].sum() == 153_603 and int(log.iloc[-1]["rows_remaining"]) == 388_306
    assert len(artifacts.read(result.run_dir, artifacts.CUSTOMERS)) == 4_324
    assert artifacts.run_meta(result.run_dir).as_of == pd.Timestamp("2011-12-09")
    for page in result.run_dir.glob("*.html"):
        assert not re.search(r"(Runtime|Future|Deprecation|User|SettingWithCopy)Warning", page.read_text()), page.name
