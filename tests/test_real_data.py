"""Every dataset in ../shared/data end to end with its config in configs/: facts checked by hand
(counts in ../shared/data/PROVENANCE.md, or computed here from the files by other means), and
no Python warning on any page. Skipped, with the reason, where ../shared is absent.
"""

import re

import pandas as pd
import pytest
from support import REPO, SHARED_DATA

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


WARNING = re.compile(r"\w*(Runtime|Future|Deprecation|User|SettingWithCopy|Convergence|Pending)Warning")
MONEY = re.compile(r"(?i)revenue|spend|spent|sales|price|order value|currency|monetary|margin|money|[$£€]")


def run_config(name: str, reports):
    """Run configs/<name>.yaml into ``reports``; every step complete or skipped, no warning on a
    page, and an owner's report that tells one story (``consistency.problems``)."""
    from segment_workbench.app import consistency, runner

    result = runner.run(REPO / "configs" / f"{name}.yaml", reports_root=reports)
    assert {step.status for step in result.steps} <= {"complete", "skipped"}
    for page in result.run_dir.glob("*.html"):
        found = WARNING.search(page.read_text())
        assert found is None, (page.name, found and found.group())
    owner = result.run_dir / "owner_report.html"
    assert consistency.problems(owner.read_text(), result.run_dir) == []
    return result


def page_text(path) -> str:
    """What a reader sees on a page: no markup, styles, scripts or embedded images."""
    from segment_workbench.app.consistency import page_text as visible

    return " ".join(visible(path.read_text()).split())


@pytest.mark.xdist_group("runner")
def test_uci_online_retail_end_to_end_without_warnings(shared_data, tmp_path):
    from segment_workbench.io import artifacts

    result = run_config("uci_online_retail", tmp_path)
    log = artifacts.read(result.run_dir, artifacts.CLEANING_LOG)
    assert log["rows_removed"].sum() == 153_603 and int(log.iloc[-1]["rows_remaining"]) == 388_306
    assert len(artifacts.read(result.run_dir, artifacts.CUSTOMERS)) == 4_324
    assert artifacts.run_meta(result.run_dir).as_of == pd.Timestamp("2011-12-09")
    # the country mix per segment: every customer has a country (from the order lines), and
    # each segment's shares add up to 1
    mix = artifacts.read(result.run_dir, artifacts.ATTRIBUTE_MIX)
    country = mix[mix["attribute"] == "country"]
    assert set(country["segment"]) == {
        "All customers",
        *artifacts.read(result.run_dir, artifacts.SEGMENTS)["cluster_name"],
    }
    assert (country.groupby("segment")["with_value"].first() == country.groupby("segment")["customers"].first()).all()
    assert country.groupby("segment")["share"].sum().round(9).eq(1).all()
    # the UK: between the customers who bought only there and those who bought there at all
    tx = artifacts.read(result.run_dir, artifacts.TRANSACTIONS, columns=["customer_id", "country"])
    uk = tx["country"].astype(str).eq("United Kingdom").groupby(tx["customer_id"]).agg(["all", "any"]).sum()
    shown = country.query("segment == 'All customers' and value == 'United Kingdom'")["share"].iloc[0] * 4_324
    assert uk["all"] <= round(shown) <= uk["any"] and 0.89 < shown / 4_324 < 0.92


@pytest.mark.xdist_group("runner")
def test_ifood_customer_table_end_to_end(shared_data, tmp_path):
    """iFood: one row per customer. 6 customers bought nothing (web + catalogue + store = 0) and
    are removed; 334 of the 2,234 left accepted the last campaign; 3 birth years before 1901,
    one income of 666,666 and 7 marital statuses (Alone, Absurd, YOLO) are logged."""
    from segment_workbench.io import artifacts

    result = run_config("ifood", tmp_path)
    steps = {s.step: s for s in result.steps}
    assert [s for s, r in steps.items() if r.status == "skipped"] == ["04_cohorts", "05_cltv", "06_campaign"]
    assert "an export of orders with their dates would" in steps["05_cltv"].summary
    run = result.run_dir
    log = artifacts.read(run, artifacts.CLEANING_LOG)
    assert log.set_index("rule")["rows_removed"].to_dict()["no_purchases"] == 6
    customers = artifacts.read(run, artifacts.CUSTOMERS)
    assert len(customers) == 2_234 and customers["revenue_total"].sum() == 1_356_946
    assert customers["response_last_campaign"].sum() == 334
    notes = artifacts.read(run, artifacts.ATTRIBUTE_INFO).set_index("column")["note"]
    assert "1900, 1893, 1899" in notes["age_band"] and "666666" in notes["income"]
    assert "Alone (3), Absurd (2), YOLO (2)" in notes["marital_status"]
    rates = artifacts.read(run, artifacts.RESPONSE_RATES).set_index("segment")
    assert rates.loc["All customers", "last campaign"] == pytest.approx(334 / 2_234)
    sizes = rates.drop(index="All customers")["customers"]
    assert (rates.drop(index="All customers")["last campaign"] * sizes).sum() == pytest.approx(334)
    mix = artifacts.read(run, artifacts.ATTRIBUTE_MIX)
    age = mix.query("attribute == 'age_band' and segment == 'All customers'")
    assert age["with_value"].iloc[0] == 2_231  # 2,234 less the three born before 1901
    # segments named by what and where they buy; the owner's report says which steps need dates
    names = artifacts.read(run, artifacts.SEGMENT_PROFILES)["segment"]
    assert names.str.contains(r": .*(wines|meat|fish|fruits|sweets|gold|web|catalogue|store)").all()
    owner = page_text(run / "owner_report.html")
    assert "needs the date of each purchase" in owner and "accepted the last campaign offer" in owner
    assert "1893" not in owner and "YOLO" not in owner


@pytest.mark.xdist_group("runner")
def test_grocery_visit_log_runs_in_visits(shared_data, tmp_path):
    """The grocery log: 10,483 visits of 1,525 customers, no prices. No config as_of: the run is
    as of the last visit, 2007-12-30, and says so. Value is counted in visits everywhere."""
    from segment_workbench.io import artifacts

    result = run_config("grocery", tmp_path)
    run = result.run_dir
    meta = artifacts.run_meta(run)
    assert meta.in_visits and meta.as_of == pd.Timestamp("2007-12-30")
    assert "as of 2007-12-30 (the last order day in the data)" in page_text(run / "index.html")
    customers = artifacts.read(run, artifacts.CUSTOMERS)
    assert len(customers) == 1_525 and customers["revenue_total"].sum() == 10_483 == customers["n_orders"].sum()
    values = artifacts.read(run, artifacts.CLV)
    # CLV in visits: the discounted expected visits, at most the undiscounted ones
    assert (values["clv"] <= values["expected_purchases"] + 1e-9).all() and values["clv"].sum() > 0
    assert values["clv"].corr(values["expected_purchases"]) > 0.999
    for page in run.glob("*.html"):
        found = MONEY.search(page_text(page))
        assert found is None, (page.name, found and page_text(page)[max(0, found.start() - 60) : found.end() + 40])
    assert "visits" in page_text(run / "owner_report.html")


@pytest.mark.xdist_group("runner")
def test_apparel_attributes_reach_profiles_assignment_and_churn_drivers(shared_data, tmp_path):
    """Apparel (simulated): 600 customers, all with gender and channel (296 female, 228
    offline); 4 purchases at 0.00 removed."""
    from segment_workbench.io import artifacts

    result = run_config("apparel", tmp_path)
    run = result.run_dir
    log = artifacts.read(run, artifacts.CLEANING_LOG)
    assert log.set_index("reason")["rows_removed"].get("missing_zero_or_negative_price") == 4
    mix = artifacts.read(run, artifacts.ATTRIBUTE_MIX)
    overall = mix[mix["segment"] == "All customers"].set_index(["attribute", "value"])
    assert overall.loc[("gender", "female"), "share"] * 600 == pytest.approx(296)
    assert overall.loc[("channel", "offline"), "share"] * 600 == pytest.approx(228)
    assert (overall["with_value"] == 600).all()
    segment_page = page_text(run / "03_segment.html")
    assert "600 of 600 customers have a gender." in segment_page
    assert re.search(r"Cross-validated accuracy \*?\*?\d+%\*?\*? from gender, channel on 600 customers", segment_page)
    assert "always guessing the largest segment" in segment_page
    drivers = artifacts.read(run, artifacts.CHURN_DRIVERS)
    assert {"gender=female", "channel=offline"} <= set(drivers["covariate"])


@pytest.mark.xdist_group("runner")
def test_cdnow_pages_have_no_warning(shared_data, tmp_path):
    """(The demo's pages are checked in test_report.py.)"""
    run_config("cdnow", tmp_path)


def test_every_shared_dataset_has_a_config():
    """One config per dataset in ../shared/data (a file name in a config's paths)."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real datasets not found at {SHARED_DATA}")
    configs = " ".join(p.read_text() for p in (REPO / "configs").glob("*.yaml"))
    data = [p.name for p in SHARED_DATA.iterdir() if p.suffix in (".csv", ".gz", ".txt")]
    assert [name for name in data if name not in configs] == []


@pytest.mark.xdist_group("runner")
def test_hillstrom_outcome_file_read_out(shared_data, tmp_path):
    """The e-mail test read on its own: every cut tested for heterogeneity, the three ways to
    send valued by cross-fitting, and the owner's report in plain words."""
    from segment_workbench.io import artifacts

    result = run_config("hillstrom", tmp_path)
    run = result.run_dir
    lifts = artifacts.read(run, artifacts.OUTCOME_LIFTS)
    assert set(lifts["dimension"]) == {
        "All customers",
        "history_segment",
        "zip_code",
        "channel",
        "newbie",
        "product_line",
        "recency_band",
    }
    overall = lifts.query("dimension == 'All customers' and outcome == 'spend'").set_index("arm")
    assert overall["value_against"].round(3).eq(0.653).all()
    assert set(artifacts.read(run, artifacts.HETEROGENEITY)["dimension"]) == set(lifts["dimension"]) - {"All customers"}
    values = artifacts.read(run, artifacts.TARGETING).set_index("policy")
    assert list(values.index) == ["rule", "best single arm", "uplift model"]
    assert (values["low"] < values["value"]).all() and (values["value"] < values["high"]).all()
    # sending everyone the Mens e-mail: about $770 per 1,000 customers (1.423 - 0.653), within the interval
    assert values.loc["best single arm", "low"] < 770 < values.loc["best single arm", "high"]
    owner = page_text(run / "owner_report.html")
    assert "Mens E-Mail: 1.3% conversion against 0.6% with No E-Mail; $770 more spend per 1,000 customers" in owner
    assert "What to do next:" in owner
    page = page_text(run / "06_campaign.html")
    assert "Cross-fitted, per 1,000 customers against sending nothing" in page and "Qini" in page


def test_grocery_holdout_scorecard_near_the_btydplus_vignette(shared_data):
    """The BTYDplus split (calibration to 2006-12-31, 52 weeks of holdout): Pareto/NBD's relative
    MAE is 0.679 here, 0.688 in the BTYDplus vignette; MBG/CNBD-k finds k = 2 as in BTYDplus'
    grocery demo and is chosen, at 0.630 (0.644 in the vignette: BTYDplus approximates the
    conditional expectation for k > 1, here it is exact); every model beats the naive baselines."""
    from segment_workbench.clv import holdout as calibration
    from segment_workbench.clv import valuation

    tx = collect(load_config(REPO / "configs" / "grocery.yaml").source).transactions
    split = calibration.calibration_holdout(tx, "2006-12-31", "2007-12-30", "weeks")
    assert len(split.table) == 1_525 and split.table["frequency_holdout"].sum() == 3_389
    fitted = {name: valuation.fit_transaction_model(name, split.table, "weeks") for name in valuation.MODELS}
    card = valuation.holdout_scorecard(fitted, split).set_index("model")
    assert card.loc["pareto_nbd", "relative_mae"] == pytest.approx(0.679, abs=0.002)
    assert abs(card.loc["pareto_nbd", "relative_mae"] - 0.688) < 0.015
    assert card.loc[list(valuation.MODELS), "relative_mae"].max() < card.loc["calibration_rate", "relative_mae"]
    assert fitted["mbg_cnbd_k"].k_ == 2 and fitted["bg_cnbd_k"].k_ == 2
    assert valuation.choose_model(card.reset_index(), "auto") == "mbg_cnbd_k"
    assert card.loc["mbg_cnbd_k", "relative_mae"] == pytest.approx(0.630, abs=0.002)
    assert card.loc["mbg_cnbd_k", "relative_mae"] <= 0.65
