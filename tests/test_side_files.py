"""A shop's own files beside its orders: the demo shop written as CSV files (orders, a customers
file with names and e-mails, a survey with a reverse-worded item) and run from a config, as a
user would."""

from __future__ import annotations

import re

import pandas as pd
import pytest
import yaml

from segment_workbench.app import cli, runner
from segment_workbench.io import artifacts
from segment_workbench.segmentation import survey

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("runner")]


@pytest.fixture(scope="module")
def side_files_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("side")
    assert cli.main(["demo-data", str(tmp / "data"), "--customers", "400", "--seed", "5"]) == 0
    survey = pd.read_csv(tmp / "data" / "survey.csv")
    survey["q4_quality_over_price"] = 6 - survey["q4_quality_over_price"]  # asked the other way round
    survey.loc[survey.index[:5], "q2_wait_for_sales"] = None  # a few unanswered items
    survey.to_csv(tmp / "data" / "survey.csv", index=False)
    config = {
        "run_name": "side",
        "currency": "€",
        "source": {"kind": "csv", "path": "data/transactions.csv"},
        "customers": {"kind": "csv", "path": "data/customers.csv"},
        "survey": {"kind": "csv", "path": "data/survey.csv", "scale": [1, 5], "reverse": ["q4_quality_over_price"]},
        "steps": ["01_collect", "02_clean", "03_segment", "07_owner_report"],
    }
    path = tmp / "side.yaml"
    path.write_text(yaml.safe_dump(config))
    return tmp, runner.run(path, reports_root=tmp / "reports")


def test_customers_file_is_typed_and_its_personal_data_stays_out(side_files_run):
    tmp, result = side_files_run
    run = result.run_dir
    people = pd.read_csv(tmp / "data" / "customers.csv")
    info = artifacts.read(run, artifacts.ATTRIBUTE_INFO).set_index("column")
    assert info.loc[["name", "email", "consent"], "kind"].eq("personal").all()
    attributes = artifacts.read(run, artifacts.ATTRIBUTES)
    assert not {"name", "email", "consent"} & set(attributes.columns)
    assert list(attributes["age_band"].cat.categories) == sorted(people["age_band"].unique())  # 18-24 ... 65+
    for page in run.glob("*.html"):
        text = page.read_text()
        assert not re.search(r"@example\.com", text), page.name
        assert not any(name in text for name in people["name"].head(50)), page.name
    mix = artifacts.read(run, artifacts.ATTRIBUTE_MIX)
    region = mix.query("attribute == 'region' and segment == 'All customers'").set_index("value")["share"]
    customers = artifacts.read(run, artifacts.CUSTOMERS)["customer_id"]
    expected = people.set_index("customer_id").loc[customers, "region"].value_counts(normalize=True)
    pd.testing.assert_series_equal(region.sort_index(), expected.sort_index(), check_names=False)


def test_survey_file_reverse_item_and_parallel_analysis(side_files_run):
    _, result = side_files_run
    page = (result.run_dir / "03_segment.html").read_text()
    assert re.search(r"\d factor\(s\), chosen by parallel analysis", page)
    assert re.search(r"[\d,]+ respondents; [\d,]+ of them are customers with purchases", page)
    assert "needs-based groups" in page
    answers = artifacts.read(result.run_dir, artifacts.SURVEY)
    assert answers["q2_wait_for_sales"].notna().all()  # the unanswered items got the item's median
    loadings, _ = survey.factor_analysis(answers, 2)
    quality = next(c for c in loadings.columns if "quality" in c or "premium" in c)
    # recoded, the reverse-worded item loads with the other quality items again
    assert loadings.loc["q4_quality_over_price", quality] > 0.6
