"""The owner report's sentences, from artifacts (the browser tests check the rendered page)."""

import re
import shutil

import pandas as pd
import pytest

from segment_workbench.app import owner_report
from segment_workbench.io import artifacts

pytestmark = pytest.mark.xdist_group("runner")


def test_segment_centre_in_words():
    row = pd.Series(
        {
            "orders_low": 1.0,
            "orders_high": 1.0,
            "days_since_last_order_low": 95.0,
            "days_since_last_order_high": 150.0,
            "avg_order_value_low": 19.6,
            "avg_order_value_high": 45.2,
            "discount_share_mean": 0.02,
        }
    )
    assert (
        owner_report.centre_in_words(row, owner_report.Units("£"))
        == "usually 1 order, last order 3–5 months ago, orders of £20–£45"
    )
    busy = row.copy()
    busy[["orders_low", "orders_high", "days_since_last_order_low", "days_since_last_order_high"]] = [3, 6, 8, 30]
    busy["discount_share_mean"] = 0.15
    assert owner_report.centre_in_words(busy, owner_report.Units("£")).endswith("£20–£45, 15% of spend discounted")
    assert owner_report.centre_in_words(busy, owner_report.Units(in_visits=True)) == (
        "usually 3–6 visits, last visit 1–4 weeks ago"
    )


def test_change_words():
    assert [owner_report.change_words(v) for v in (0.124, -0.03, 0.001, float("nan"), 3.5, 17.63)] == [
        "up 12%",
        "down 3%",
        "unchanged",
        "not comparable",
        "up 4.5-fold",
        "up 19-fold",
    ]


def test_comparison_with_the_previous_run(demo_run, tmp_path):
    _, result = demo_run
    previous = tmp_path / "previous"
    shutil.copytree(result.run_dir / "data", previous / "data")
    customers = artifacts.read(previous, artifacts.CUSTOMERS)
    older = customers.iloc[: len(customers) - 30].copy()
    artifacts.write_customers(older, previous, artifacts.RunMeta(pd.Timestamp("2025-09-30"), "weeks"))
    profile = artifacts.read(previous, "segment_profiles.csv")
    profile.loc[0, "customers"] -= 10  # that segment grew by 10 since
    artifacts.write(profile, previous, "segment_profiles.csv")
    sentences = owner_report.comparison(result.run_dir, previous, owner_report.Units("£"))
    assert sentences[0].startswith("Since the last report (as of 2025-09-30): customers up")
    assert f"({len(older):,} to {len(customers):,})" in sentences[0]
    first = profile.loc[0]
    assert any(s.startswith(f"{first['segment']}: up") for s in sentences)
    assert sentences[-1].startswith("The biggest move since the last report")
    # the same as_of is not a previous report: only the migration headline remains
    only = owner_report.comparison(result.run_dir, result.run_dir, owner_report.Units("£"))
    assert len(only) == 1 and only[0].startswith("The biggest move in the last months")


def test_campaign_result_in_one_sentence(tmp_path):
    rows = [
        ("All contacts", "worked", 0.05, 900.0, 60.0),
        ("Bargain hunters", "worked", 0.14, 2779.4, 38.0),
        ("Big spenders", "no clear effect", -0.09, 67.0, 20.0),
        ("Loyal", "not enough customers to tell", 0.2, 5.0, 2.0),
    ]
    results = pd.DataFrame(rows, columns=["segment", "verdict", "lift", "incremental_revenue", "cost"]).assign(
        campaign="Autumn offer", variant="offer"
    )
    assert owner_report.campaign_result(tmp_path, owner_report.Units("£")) is None  # no campaign analysed: no sentence
    artifacts.write(results, tmp_path, "campaign_results.csv")
    assert owner_report.campaign_result(tmp_path, owner_report.Units("£")) == (
        "“Autumn offer” worked for Bargain hunters: 14 more buyers per 100 contacted, about £2,779 of extra sales for £38 "
        "spent on sending it; it made no clear difference for the other groups."
    )
    artifacts.write(results.assign(verdict="no clear effect", variant="10% off"), tmp_path, "campaign_results.csv")
    assert (
        owner_report.campaign_result(tmp_path, owner_report.Units("£"))
        == "“Autumn offer” (10% off) made no clear difference to who bought, in any group."
    )


def test_owner_report_links_the_demo_campaign(demo_run):
    _, result = demo_run
    page = (result.run_dir / "owner_report.html").read_text()
    assert "Your last campaign:</b> “Autumn offer”" in page


def test_data_notes_account_for_every_removed_line(demo_run):
    _, result = demo_run
    log = pd.read_csv(result.run_dir / "data" / "cleaning_log.csv")
    notes = owner_report.data_notes(result.run_dir, owner_report.Units("£"))
    removed = int(log["rows_removed"].sum())
    assert f"{removed:,}" in notes and "without a customer" in notes
    numbers = [
        int(n.replace(",", ""))
        for n in re.findall(r"(\d[\d,]*) (?:without a customer|returns|duplicated lines|other lines)", notes)
    ]
    assert sum(numbers) == removed  # the paragraph's parts add up to the total set aside


def test_the_demo_report_tells_one_story_and_the_check_catches_each_kind_of_contradiction(demo_run):
    from segment_workbench.app import consistency

    _, result = demo_run
    html = (result.run_dir / "owner_report.html").read_text()
    assert consistency.problems(html, result.run_dir) == []
    segments = artifacts.read(result.run_dir, artifacts.SEGMENTS)
    ours = segments["cluster_name"].value_counts()
    one_name = ours.index[0]

    def card(name: str, first: str) -> str:
        return f'<div class="card"><h3>{name}</h3><p>x</p><ul><li>{first}</li></ul></div>'

    planted = {
        "not a segment": card("Window shoppers", "usually 1 order"),
        "RFM": "<p>224 customers went from “Hibernating” to “Fading customers”.</p>",
        "second meaning": "<p>Fading customers: 67% have stopped buying.</p>",
        "above 300%": "<p>sales up 1863% in the last 90 days</p>",
    }
    for label, fragment in planted.items():
        found = consistency.problems(html.replace("</main>", fragment + "</main>"), result.run_dir)
        assert len(found) == 1, (label, found)
    # a card whose description contradicts its name
    if any(name.startswith("One-time") for name in ours.index):
        name = next(name for name in ours.index if name.startswith("One-time"))
        wrong = card(name, "usually 2–4 orders, last order 3–5 months ago")
        assert (
            "not as usually 1 order"
            in consistency.problems(html.replace("</main>", wrong + "</main>"), result.run_dir)[0]
        )
    assert consistency.named_groups(card(one_name, "usually 1 order")) == [one_name]
