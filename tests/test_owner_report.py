"""The owner report's sentences, from artifacts (the browser tests check the rendered page)."""

import re
import shutil

import pandas as pd
import pytest

from helpers import artifacts, owner_report

pytestmark = pytest.mark.xdist_group("runner")


def test_rules_in_words():
    assert owner_report.rule_in_words("orders > 2 and days since last order ≤ 60") == "more than 2 orders, last order at most 60 days ago"
    assert owner_report.rule_in_words("average order value > 179.18", "£") == "average order more than £179"


def test_change_words():
    assert [owner_report.change_words(v) for v in (0.124, -0.03, 0.001, float("nan"))] == ["up 12%", "down 3%", "unchanged", "not comparable"]


def test_comparison_with_the_previous_run(demo_run, tmp_path):
    _, result = demo_run
    previous = tmp_path / "previous"
    shutil.copytree(result.run_dir / "data", previous / "data")
    customers = artifacts.read(previous, "customers.parquet")
    older = customers.iloc[: len(customers) - 30].copy()
    older.attrs = {**customers.attrs, "as_of": "2025-09-30"}
    artifacts.write(older, previous, "customers.parquet")
    profile = artifacts.read(previous, "segment_profiles.csv")
    profile.loc[0, "customers"] -= 10  # that segment grew by 10 since
    artifacts.write(profile, previous, "segment_profiles.csv")
    sentences = owner_report.comparison(result.run_dir, previous, "£")
    assert sentences[0].startswith("Since the last report (as of 2025-09-30): customers up")
    assert f"({len(older):,} to {len(customers):,})" in sentences[0]
    first = profile.loc[0]
    assert any(s.startswith(f"{first['segment']}: up") for s in sentences)
    assert sentences[-1].startswith("The biggest move in the last months")
    # the same as_of is not a previous report: only the migration headline remains
    assert len(owner_report.comparison(result.run_dir, result.run_dir, "£")) == 1


def test_data_notes_account_for_every_removed_line(demo_run):
    _, result = demo_run
    log = pd.read_csv(result.run_dir / "data" / "cleaning_log.csv")
    notes = owner_report.data_notes(result.run_dir, "£")
    removed = int(log["rows_removed"].sum())
    assert f"{removed:,}" in notes and "without a customer" in notes
    numbers = [int(n.replace(",", "")) for n in re.findall(r"(\d[\d,]*) (?:without a customer|returns|duplicated lines|other lines)", notes)]
    assert sum(numbers) == removed  # the paragraph's parts add up to the total set aside
