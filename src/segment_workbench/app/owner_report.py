"""The owner's report: one self-contained, plain-language HTML page per run.

Every sentence is built from the run's artifacts. A section whose analysis did not run says
which step is missing instead of failing. Nothing personal is shown: no customer ids, names
or e-mails; data strings (product and segment names) are HTML-escaped by the template.
"""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
import markupsafe
import matplotlib.pyplot as plt
import pandas as pd

from segment_workbench.app.resources import templates_dir
from segment_workbench.campaigns.campaign import ALL, join_words
from segment_workbench.campaigns.outcomes import differing_cuts
from segment_workbench.customers import engine
from segment_workbench.io import artifacts
from segment_workbench.lifecycle.cohorts import second_period_return
from segment_workbench.lifecycle.trend import monthly_sales
from segment_workbench.segmentation.pipeline import NOT_YET
from segment_workbench.segmentation.profiles import distinctive_traits
from segment_workbench.segmentation.targeting import (
    SLIPPING_FILE,
    VALUABLE,
    slug,
    worth_targeting,
)
from segment_workbench.viz import plots

RECENT_DAYS = 90  # "active" = bought in the last 90 days; change = last 90 days vs the 90 before


@dataclass(frozen=True)
class Units:
    """The words of a report: money (``currency`` before amounts) or, for a visit log without
    prices, visits (no currency, no money words); and what the data are."""

    currency: str = ""
    in_visits: bool = False
    dated: bool = True  # False: a customer table (no purchase dates)

    def amount(self, value: float) -> str:
        if self.in_visits:
            shown = f"{value:,.0f}" if abs(value) >= 10 else f"{value:.1f}".removesuffix(".0")
            return f"{shown} visit{'' if shown == '1' else 's'}"
        return f"{self.currency}{value:,.0f}"

    @property
    def sales(self) -> str:
        return "visits" if self.in_visits else "sales"

    @property
    def bought(self) -> str:
        return "visited" if self.in_visits else "bought"

    @property
    def source(self) -> str:
        return "visit log" if self.in_visits else "order history" if self.dated else "customer table"


def money(value: float, unit: Units) -> str:
    """An amount for the owner: ``£1,234``, or ``1,234 visits`` with visit ``Units``."""
    return unit.amount(value)


def percent(value: float) -> str:
    return f"{value:.0%}"


def change_words(change: float) -> str:
    """ "up 12%", "down 3%", "unchanged", or above +300% a multiple: "up 19-fold" (a
    percentage in the thousands means nothing to an owner)."""
    if change != change:  # NaN
        return "not comparable"
    if abs(change) < 0.005:
        return "unchanged"
    if change > 3:
        times = 1 + change
        return f"up {times:.0f}-fold" if times >= 9.5 else f"up {times:.1f}-fold".replace(".0-", "-")
    return f"{'up' if change > 0 else 'down'} {abs(change):.0%}"


def _ago(low: float, high: float) -> str:
    """A span of days as the owner would say it, in one unit: "3–5 months", "2 weeks"."""
    for limit, days, name in ((14, 1, "day"), (61, 7, "week"), (730, 30.4, "month"), (float("inf"), 365.25, "year")):
        if high < limit:
            a, b = round(low / days), max(1, round(high / days))
            a = min(a, b)
            return f"{b} {name}{'s' if b != 1 else ''}" if a == b else f"{a}–{b} {name}s"
    return ""


def centre_in_words(row, unit: Units = Units()) -> str:
    """A segment described by its middle half of customers (``segment_profiles``' quartiles):
    "usually 1 order, last order 3–5 months ago, orders of £20–£45"."""
    low, high = round(row.orders_low), round(row.orders_high)
    what = "visit" if unit.in_visits else "order"
    orders = f"{high} {what}{'s' if high != 1 else ''}" if low == high else f"{low}–{high} {what}s"
    words = [
        f"usually {orders}",
        f"last {what} {_ago(row.days_since_last_order_low, row.days_since_last_order_high)} ago",
    ]
    if not unit.in_visits:
        words.append(f"{what}s of {money(row.avg_order_value_low, unit)}–{money(row.avg_order_value_high, unit)}")
    discount = getattr(row, "discount_share_mean", float("nan"))
    if not unit.in_visits and discount == discount and discount >= 0.08:
        words.append(f"{discount:.0%} of spend discounted")
    return ", ".join(words)


def figure_uri(ax, dpi: int = 90) -> str:
    """A chart as a PNG data URI (embedded in the page), then closed."""
    fig = ax.figure
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def headline(run_dir: Path, unit: Units) -> dict[str, Any]:
    customers = artifacts.read(run_dir, artifacts.CUSTOMERS)
    as_of = artifacts.run_meta(run_dir).as_of
    active = int((customers["days_since_last_order"] < RECENT_DAYS).sum())
    repeat = float((customers["n_orders"] >= 2).mean())
    total = customers["revenue_total"].sum()
    head = {
        "as_of": as_of,
        "customers": len(customers),
        "revenue": unit.amount(total),
        "revenue_label": "visits" if unit.in_visits else "total spent",
        "active": active,
        "active_label": f"{unit.bought} in the last {RECENT_DAYS} days",
        "repeat_rate": repeat,
        "repeat_label": "came more than once" if unit.in_visits else "ordered more than once",
        "top_products": [],
        "trend": None,
    }
    came_back = f"{repeat:.0%} of all customers have {'come' if unit.in_visits else 'ordered'} more than once."
    if not unit.dated:
        head["sentences"] = [
            f"{len(customers):,} customers spent {unit.amount(total)} with you in the period your table covers.",
            f"{active:,} of them ({active / len(customers):.0%}) had bought within the last {RECENT_DAYS} days when "
            f"the table was made; {came_back}",
        ]
        return head
    tx = engine.lines_table(artifacts.lines(run_dir))
    window = pd.Timedelta(days=RECENT_DAYS)
    revenue_recent = engine.activity_between(tx, as_of - window, as_of)["revenue"].sum()
    revenue_before = engine.activity_between(tx, as_of - 2 * window, as_of - window)["revenue"].sum()
    change = (revenue_recent - revenue_before) / revenue_before if revenue_before else float("nan")
    if "product_name" in tx.columns:
        head["top_products"] = engine.top_values(tx, "product_name")
    _, first, last = engine.day_span(tx)
    head["trend"] = _trend(engine.monthly_amounts(tx), first, as_of, unit)
    what = f"made {unit.amount(total)}" if unit.in_visits else f"spent {unit.amount(total)} with you"
    head["sentences"] = [
        f"From {_date(first)} to {_date(last)}, {len(customers):,} customers {what}.",
        f"{active:,} of them ({active / len(customers):.0%}) {unit.bought} in the last {RECENT_DAYS} days; {came_back}",
        f"{unit.sales.capitalize()} in the last {RECENT_DAYS} days: {unit.amount(revenue_recent)}, "
        f"{change_words(change)} on the {RECENT_DAYS} days before.",
    ]
    return head


def _responses(run_dir: Path) -> dict[str, str]:
    """Per segment, its response to the most recent past campaign vs all customers (a
    customer table's response columns), as a phrase."""
    rates = artifacts.read_optional(run_dir, artifacts.RESPONSE_RATES)
    if rates is None:
        return {}
    last = rates.columns[-2]  # the columns: segment, campaigns in the config's order, customers
    overall = rates.loc[rates["segment"] == "All customers", last].iloc[0]
    return {
        r["segment"]: f"{r[last]:.0%} accepted the {last} offer (all customers: {overall:.0%})"
        for _, r in rates.iterrows()
        if r["segment"] != "All customers"
    }


def customer_groups(run_dir: Path, unit: Units) -> dict[str, Any] | None:
    profile = artifacts.read_optional(run_dir, artifacts.SEGMENT_PROFILES)
    if profile is None:
        return None
    mix = artifacts.read_optional(run_dir, artifacts.ATTRIBUTE_MIX)
    who = distinctive_traits(mix) if mix is not None else {}
    responses = _responses(run_dir)
    groups = []
    for row in profile.itertuples():
        traits = [centre_in_words(row, unit)]
        traits += [t[0].upper() + t[1:] for t in who.get(row.segment, [])[:2]]
        traits += [responses[row.segment]] if row.segment in responses else []
        groups.append(
            {
                "name": row.segment,
                "customers": int(row.customers),
                "share_customers": row.share_customers,
                "share_revenue": row.share_revenue,
                "per_customer": money(row.revenue_per_customer, unit),
                "traits": traits,
                "not_ours": bool(row.not_our_customer) and not unit.in_visits,
            }
        )
    chart = figure_uri(plots.segment_shares(profile, unit.sales))
    return {"groups": groups, "chart": chart}


def _newcomers(run_dir: Path) -> pd.DataFrame | None:
    """Per segment: its customers whose first purchase falls in the last ``RECENT_DAYS`` days, and
    their spend (None without segments or dates)."""
    segments = artifacts.read_optional(run_dir, artifacts.SEGMENTS)
    if segments is None:
        return None
    customers = artifacts.read(run_dir, artifacts.CUSTOMERS)
    if "first_purchase" not in customers:  # a customer table without first purchase or sign-up dates
        return None
    as_of = artifacts.run_meta(run_dir).as_of
    frame = customers[["customer_id", "first_purchase", "revenue_total"]].merge(
        segments[["customer_id", "cluster_name"]], on="customer_id"
    )
    frame["new"] = frame["first_purchase"] > as_of - pd.Timedelta(days=RECENT_DAYS)
    frame["new_revenue"] = frame["revenue_total"].where(frame["new"], 0.0)
    return frame.groupby("cluster_name").agg(
        customers=("new", "size"), new=("new", "sum"), new_revenue=("new_revenue", "sum")
    )


def _change_phrase(segment: str, growth: float, newcomers: pd.DataFrame | None, unit: Units) -> str:
    """The group's change in the last ``RECENT_DAYS`` days: a group made mostly of customers who
    joined in that window is said as "new in the last 90 days: N customers, £X" (its growth on
    the window before would only measure its own arrival)."""
    if newcomers is not None and segment in newcomers.index:
        r = newcomers.loc[segment]
        if r["new"] > 0.5 * r["customers"]:
            return f", new in the last {RECENT_DAYS} days: {int(r['new']):,} customers, {money(r['new_revenue'], unit)}"
    if growth != growth:
        return ""
    if growth <= -0.995:
        return f", no {unit.sales} in the last {RECENT_DAYS} days"
    return f", {unit.sales} {change_words(growth)} in the last {RECENT_DAYS} days"


def focus(run_dir: Path, unit: Units) -> list[dict[str, Any]] | None:
    ranking = artifacts.read_optional(run_dir, artifacts.TARGET_RANKING)
    if ranking is None:
        return None
    top = worth_targeting(ranking).head(3)
    newcomers = _newcomers(run_dir)
    return [
        {
            "segment": r.segment,
            "action": r.action,
            "channel": r.channel,
            "kpi": r.kpi,
            "why": f"{r.size:.0%} of customers, {r.value:.0%} of {unit.sales}"
            + _change_phrase(r.segment, r.growth, newcomers, unit),
        }
        for r in top.itertuples()
    ]


def campaign_result(run_dir: Path, unit: Units) -> str | None:
    """One sentence per campaign variant from 06_campaign's read-out, in the owner's words."""
    results = artifacts.read_optional(run_dir, artifacts.CAMPAIGN_RESULTS)
    if results is None:
        return None
    sentences = []
    for (name, variant), r in results[results["segment"] != ALL].groupby(["campaign", "variant"], sort=True):
        worked, backfired = r[r["verdict"] == "worked"], r[r["verdict"] == "backfired"]
        label = f"“{name}”" + (f" ({variant})" if variant not in ("offer", "test") else "")
        parts = []
        if len(worked):
            parts.append(
                f"worked for {join_words(list(worked['segment']))}: {100 * worked['lift'].mean():.0f} more buyers per 100 contacted, "
                f"about {money(worked['incremental_revenue'].sum(), unit)} of extra sales for "
                f"{money(worked['cost'].sum(), unit)} spent on sending it"
            )
        if len(backfired):
            parts.append(f"put off {join_words(list(backfired['segment']))}")
        if parts:
            parts.append(
                "it made no clear difference for the other groups" if len(worked) + len(backfired) < len(r) else ""
            )
            sentences.append(f"{label} " + "; ".join(p for p in parts if p) + ".")
        else:
            sentences.append(f"{label} made no clear difference to who bought, in any group.")
    return " ".join(sentences)


def _date(ts: pd.Timestamp) -> str:
    return f"{ts.day} {ts:%B %Y}"


def _clv_horizon(run_dir: Path) -> str | None:
    if not artifacts.exists(run_dir, artifacts.CLV_PARAMS):
        return None
    params = artifacts.read_json(run_dir, artifacts.CLV_PARAMS)
    return f"{params['settings']['horizon_periods']} {params['time_unit']}"


#: Below this chance of buying in the next 90 days a customer counts as "unlikely to buy".
UNLIKELY = 0.2


def _at_risk_by_model(values: pd.DataFrame, segments: pd.DataFrame | None, unit: Units, horizon: str | None) -> list:
    """Per group, the customers the CLV model gives less than ``UNLIKELY`` chance of buying in the
    next 90 days: the report's one meaning of "losing" (groups with at least a fifth of them,
    worst first, three at most)."""
    frame = values[["customer_id", "p_purchase_90d", "clv"]]
    if segments is not None:
        frame = frame.merge(segments[["customer_id", "cluster_name"]], on="customer_id", how="left")
    group = (
        frame["cluster_name"].fillna("Other") if "cluster_name" in frame else pd.Series("All customers", frame.index)
    )
    by = frame.assign(group=group, unlikely=frame["p_purchase_90d"] < UNLIKELY).groupby("group", sort=False)
    table = by.agg(
        customers=("unlikely", "size"),
        unlikely=("unlikely", "sum"),
        expected=("p_purchase_90d", "mean"),
        value=("clv", "sum"),
    )
    table["share"] = table["unlikely"] / table["customers"]
    buy = "come back" if unit.in_visits else "buy"
    lines = []
    for name, r in table[table["share"] >= 0.2].sort_values("share", ascending=False).head(3).iterrows():
        line = (
            f"{name}: {int(r.unlikely):,} of {int(r.customers):,} customers ({r.share:.0%}) are unlikely to {buy} in "
            f"the next 90 days (less than a 1-in-5 chance each); the model expects "
            f"{f'about {r.expected:.0%}' if r.expected >= 0.005 else 'almost none'} of the group to {buy} in that time"
        )
        if horizon:
            line += f" and {money(r.value, unit)} from it over the next {horizon}"
        lines.append(line + ".")
    return lines


def losing(run_dir: Path, unit: Units) -> dict[str, Any] | None:
    """Who is slipping away, in the CLV model's per-customer chance of buying in the next 90 days
    (04's churn threshold stays the survival analysis' definition, on the 04 page); without the
    CLV step, the share of each group past that threshold, named as such."""
    retention = artifacts.read_optional(run_dir, artifacts.COHORT_RETENTION)
    values = artifacts.read_optional(run_dir, artifacts.CLV)
    survival = artifacts.read_optional(run_dir, artifacts.SURVIVAL_BY_SEGMENT)
    if retention is None or (values is None and survival is None):
        return None
    back = second_period_return(retention)
    sentence = (
        f"On average {back:.0%} of new customers come back in the month after their first purchase."
        if back == back
        else "There is not yet a full month after anyone's first purchase to measure returning customers."
    )
    notes = []
    if values is not None and "p_purchase_90d" in values:
        at_risk = _at_risk_by_model(
            values, artifacts.read_optional(run_dir, artifacts.SEGMENTS), unit, _clv_horizon(run_dir)
        )
        if (values["p_alive"] >= 0.99).mean() > 0.9:
            notes.append(
                "The history is too short for the model to tell who has stopped for good, so it counts almost "
                "everyone as still a customer; the chance of buying in the next 90 days is the better guide."
            )
    else:
        churn = survival.assign(share=survival["churned"] / survival["customers"]).sort_values("share", ascending=False)
        threshold = int(survival["threshold_days"].iloc[0])
        at_risk = [
            f"{row.group}: {row.share:.0%} have gone more than {threshold} days without {'coming' if unit.in_visits else 'buying'}."
            for row in churn.head(3).itertuples()
            if row.share >= 0.2
        ]
    return {"sentence": sentence, "at_risk": at_risk, "notes": notes}


def worth(run_dir: Path, unit: Units) -> dict[str, Any] | None:
    table = artifacts.read_optional(run_dir, artifacts.CLV_BY_SEGMENT)
    horizon = _clv_horizon(run_dir)
    if table is None or horizon is None:
        return None
    label = table.columns[0]
    rows = [
        {
            "name": r[label],
            "customers": int(r["customers"]),
            "mean": money(r["clv_mean"], unit),
            "low": money(r["clv_mean_low"], unit),
            "high": money(r["clv_mean_high"], unit),
            "total": money(r["clv_total"], unit),
        }
        for _, r in table.iterrows()
    ]
    total = money(table["clv_total"].sum(), unit)
    intro = (
        f"Your current customers are expected to make about <b>{total}</b> over the next {horizon}"
        if unit.in_visits
        else f"Your current customers are expected to bring about <b>{total}</b> over the next {horizon}"
    )
    return {
        "horizon": horizon,
        "rows": rows,
        "intro": markupsafe.Markup(intro.replace(total, str(markupsafe.escape(total)))),
        "total": total,
        "chart": figure_uri(plots.value_bands(table, label, "expected visits" if unit.in_visits else "expected value")),
    }


def data_notes(run_dir: Path, unit: Units) -> str:
    log = artifacts.read(run_dir, artifacts.CLEANING_LOG)
    removed = int(log["rows_removed"].sum())
    kept = int(log["rows_remaining"].iloc[-1])
    total = removed + kept
    no_id = log[log["rule"] == "missing_customer_id"]
    returns = log[log["reason"] == "return_netted"]["rows_removed"].sum()
    duplicates = log[log["reason"] == "exact_duplicate"]["rows_removed"].sum()
    rows = "visits" if unit.in_visits else "order lines" if unit.dated else "customers in your table"
    parts = [f"Of {total:,} {rows}, {removed:,} ({removed / total:.1%}) were set aside before the analysis"]
    details = []
    if not unit.dated:
        reasons = {
            "missing_customer_id": "without a customer number",
            "missing_recency_orders_or_spend": "with the last purchase, purchases or spend missing",
            "negative_value": "with a negative amount",
            "no_purchases": "who never bought",
        }
        details = [
            f"{int(r.rows_removed):,} {reasons.get(r.reason, r.reason)}" for r in log.itertuples() if r.rows_removed
        ]
        return parts[0] + (": " + "; ".join(details) if details else "") + "."
    if unit.in_visits and int(no_id["rows_removed"].sum()):
        details.append(
            f"{int(no_id['rows_removed'].sum()):,} without a customer, which no customer figure here includes"
        )
    elif int(no_id["rows_removed"].sum()):
        details.append(
            f"{int(no_id['rows_removed'].sum()):,} without a customer (guest orders, worth "
            f"{money(no_id['revenue_removed'].sum(), unit)}), which no customer figure here includes"
        )
    if returns:
        details.append(f"{int(returns):,} returns, subtracted from the orders they belong to")
    if duplicates:
        details.append(f"{int(duplicates):,} duplicated lines")
    other = removed - int(no_id["rows_removed"].sum()) - int(returns) - int(duplicates)
    if other > 0:
        details.append(
            f"{other:,} other visits (unreadable dates, visits after the report date)"
            if unit.in_visits
            else f"{other:,} other lines (tests, unreadable dates or prices, lines after the report date, fully returned items)"
        )
    return parts[0] + (": " + "; ".join(details) if details else "") + "."


def comparison(run_dir: Path, previous_dir: Path | None, unit: Units) -> list[str]:
    """Sentences comparing with the previous complete run of the same config, and the biggest
    move between the behavioural segments in this run."""
    sentences = []
    if previous_dir is not None and not artifacts.exists(previous_dir, artifacts.CUSTOMERS):
        previous_dir = None
    since_last = False
    if previous_dir is not None:
        now, then = artifacts.read(run_dir, artifacts.CUSTOMERS), artifacts.read(previous_dir, artifacts.CUSTOMERS)
        now_as_of, then_as_of = artifacts.run_meta(run_dir).as_of, artifacts.run_meta(previous_dir).as_of
        since_last = then_as_of < now_as_of
        if then_as_of != now_as_of:
            sentences.append(
                f"Since the last report (as of {then_as_of:%Y-%m-%d}): customers {change_words(len(now) / len(then) - 1)} "
                f"({len(then):,} to {len(now):,}), {unit.sales} {change_words(now['revenue_total'].sum() / then['revenue_total'].sum() - 1)}."
            )
        before, after = (
            artifacts.read_optional(previous_dir, artifacts.SEGMENT_PROFILES),
            artifacts.read_optional(run_dir, artifacts.SEGMENT_PROFILES),
        )
        if before is not None and after is not None and then_as_of != now_as_of:
            merged = after.merge(before, on="segment", suffixes=("", "_before"))
            merged["growth"] = merged["customers"] / merged["customers_before"] - 1
            for r in merged.sort_values("growth").iloc[[0, -1]].drop_duplicates("segment").itertuples():
                sentences.append(
                    f"{r.segment}: {change_words(r.growth)} ({r.customers_before:,} to {r.customers:,} customers)."
                )
    migration = artifacts.read_optional(run_dir, artifacts.SEGMENT_MOVES)  # the report's own groups, never RFM's
    if migration is not None:
        matrix = migration.set_index("segment_before")
        moves = [(matrix.at[a, b], a, b) for a in matrix.index for b in matrix.columns if a != b and a != NOT_YET]
        if moves:
            count, a, b = max(moves)
            sentences.append(
                f"The biggest move {'since the last report' if since_last else 'in the last months'}: "
                f"{int(count):,} customers went from “{a}” to “{b}”."
            )
    return sentences


def _trend(totals: pd.Series, first: pd.Timestamp, as_of: pd.Timestamp, unit: Units) -> dict[str, Any] | None:
    """The last complete month's sales against the same month a year earlier, and the chart of
    the last twelve months, from the sales per month (``engine.monthly_amounts``) and the first
    order's day."""
    table = monthly_sales(totals, first, as_of)
    complete = table[~table["partial"]]
    if complete.empty:
        return None
    last = complete.iloc[-1]
    sentence = f"{unit.sales.capitalize()} in {last['month'].strftime('%B %Y')}: {money(last['sales'], unit)}"
    before = last["sales_year_before"]
    if before == before and before > 0:
        sentence += (
            f", {change_words(last['sales'] / before - 1)} on {(last['month'] - 12).strftime('%B %Y')} "
            f"({money(before, unit)})."
        )
    else:
        sentence += "; your data do not reach back to the same month a year earlier, so this is not yet a trend."
    return {"sentence": sentence, "chart": figure_uri(plots.monthly_trend(table, unit.sales))}


SLIPPING_NAME = "Valuable and slipping"
SLIPPING_ACTION = "Check in personally before they drift away: a thank-you, what is new, a reason to come back"


def _audience(name: str, action: str, path: Path, values: pd.DataFrame | None, unit: Units) -> dict[str, Any]:
    """One audience of "what to do this month": its file, size, e-mail consent and what the CLV
    model expects of it in the next 30 days."""
    people = pd.read_csv(path, dtype={"customer_id": str}, usecols=["customer_id", "email"])
    emails = int(people["email"].notna().sum())
    item = {
        "name": name,
        "action": action,
        "file": f"audiences/{path.name}",
        "customers": len(people),
        "consent": (f"{emails:,} ({emails / len(people):.0%}) can be e-mailed" if emails else "none can be e-mailed")
        if len(people)
        else "",
        "expect": "",
    }
    if values is not None and len(people):
        mine = values[values["customer_id"].isin(people["customer_id"])]
        verb = "visit" if unit.in_visits else "order"
        share = mine["p_purchase_30d"].mean()
        who = f"About {share:.0%} of them are" if share >= 0.005 else "Almost none of them is"
        item["expect"] = f"{who} expected to {verb} in the next 30 days"
        if not unit.in_visits:
            item["expect"] += f"; each order is worth about {money(mine['expected_order_value'].median(), unit)}"
        item["expect"] += "."
    return item


def this_month(run_dir: Path, unit: Units) -> list[dict[str, Any]] | None:
    """The three groups to act on first (the target ranking's), each with its audience file, and
    the valuable customers who are slipping (05_cltv's audience), when they exist."""
    ranking = artifacts.read_optional(run_dir, artifacts.TARGET_RANKING)
    if ranking is None:
        return None
    folder = run_dir / "audiences"
    values = artifacts.read_optional(run_dir, artifacts.CLV)
    items = [
        _audience(r.segment, r.action, folder / f"{slug(r.segment)}.csv", values, unit)
        for r in worth_targeting(ranking).head(3).itertuples()
        if (folder / f"{slug(r.segment)}.csv").exists()
    ]
    if (folder / SLIPPING_FILE).exists():
        slipping = _audience(SLIPPING_NAME, SLIPPING_ACTION, folder / SLIPPING_FILE, values, unit)
        slipping["who"] = (
            f"your top {VALUABLE:.0%} of customers by {unit.sales} whose chance of "
            f"{'coming back' if unit.in_visits else 'buying'} in the next 90 days is below one in two"
        )
        items.append(slipping)
    return items


STEP_NEEDED = {
    "groups": "the segmentation step (03_segment)",
    "focus": "the segmentation step (03_segment)",
    "this_month": "the segmentation step (03_segment)",
    "losing": "the cohort and churn step (04_cohorts)",
    "worth": "the customer value step (05_cltv)",
}


def experiment(run_dir: Path, unit: Units) -> dict[str, Any] | None:
    """The outcome file's test in the owner's words (06_campaign with ``campaign.kind:
    outcomes``): what each message did, for whom it differed, what it is worth per 1,000
    customers, and what to do next; None without such a read-out."""
    lifts = artifacts.read_optional(run_dir, artifacts.OUTCOME_LIFTS)
    if lifts is None:
        return None
    values = artifacts.read_optional(run_dir, artifacts.TARGETING)
    rule = artifacts.read_optional(run_dir, artifacts.TARGETING_RULE)
    het = artifacts.read_optional(run_dir, artifacts.HETEROGENEITY)
    control = lifts["against"].iloc[0]
    overall = lifts[(lifts["segment"] == "All customers") & (lifts["against"] == control)]
    amount = next(iter(overall.loc[overall["kind"] == "amount", "outcome"]), None)
    rate = next(iter(overall.loc[overall["kind"] == "rate", "outcome"]), None)
    did = []
    for arm, rows in overall.groupby("arm", sort=False):
        rows = rows.set_index("outcome")
        parts = []
        if rate is not None:
            r = rows.loc[rate]
            parts.append(f"{r['value_arm']:.1%} {rate} against {r['value_against']:.1%} with {control}")
        if amount is not None:
            r = rows.loc[amount]
            worth = "more" if r["lift"] >= 0 else "less"
            parts.append(
                f"{money(1000 * abs(r['lift']), unit)} {worth} {amount} per 1,000 customers "
                f"(somewhere between {money(1000 * r['lift_low'], unit)} and {money(1000 * r['lift_high'], unit)})"
            )
        did.append(f"{arm}: " + "; ".join(parts) + ".")
    for_whom = ""
    if het is not None and amount in het:
        differ = differing_cuts(het, amount)  # as 06_campaign reads it: Holm over all cuts
        for_whom = (
            f"The gain in {amount} differs across customers by {join_words(differ)}; check the advice below: "
            "only a rule that also pays on customers it was not built from is worth following."
            if differ
            else f"The data cannot tell whether the messages work better for some customers than for others ({amount})."
        )
    advice = ""
    if values is not None:
        v = values.set_index("policy")["value"]
        best = v.idxmax()
        if best == "rule" and rule is not None:
            plan = "; ".join(
                f"{r.arm} to customers with {r.dimension.replace('_', ' ')} {r.segment}" for r in rule.itertuples()
            )
            advice = f"Send by group: {plan}. Worth about {money(v['rule'], unit)} per 1,000 customers, against {money(v['best single arm'], unit)} for the best single message."
        else:
            arm = overall.loc[overall["outcome"] == amount].sort_values("lift").iloc[-1]["arm"] if amount else ""
            advice = (
                f"Send {arm} to everyone: about {money(v['best single arm'], unit)} more per 1,000 customers than sending "
                f"nothing. Choosing the message by customer group was worth {money(v['rule'], unit)} when checked on customers "
                "the choice was not made from: no better, so keep it simple."
            )
    return {"did": did, "for_whom": for_whom, "advice": advice, "control": control}


NEEDS_DATES = {"losing": "who you are losing", "worth": "what your customers are worth"}


def build(run_dir: str | Path, previous_dir: str | Path | None = None, currency: str = "", shop: str = "") -> str:
    """The owner report's HTML for a run directory."""
    run_dir = Path(run_dir)
    previous = Path(previous_dir) if previous_dir else None
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(templates_dir()), autoescape=True)
    if not artifacts.exists(run_dir, artifacts.CUSTOMERS):  # an outcome file read on its own
        unit = Units(currency=currency)
        return env.get_template("owner_report.html.j2").render(
            shop=shop, head=None, unit=unit, experiment=experiment(run_dir, unit), missing={}, comparison=[]
        )
    meta = artifacts.run_meta(run_dir)
    unit = Units(currency="" if meta.in_visits else currency, in_visits=meta.in_visits, dated=meta.dated)
    head = headline(run_dir, unit)
    sections = {
        "groups": customer_groups(run_dir, unit),
        "focus": focus(run_dir, unit),
        "this_month": this_month(run_dir, unit),
        "losing": losing(run_dir, unit),
        "worth": worth(run_dir, unit),
    }
    missing = {
        name: (
            f"Not in this report: {NEEDS_DATES[name]} needs the date of each purchase, and your data has one row "
            "per customer. An export of your orders with their dates would add it."
            if not meta.dated and name in NEEDS_DATES
            else f"Not in this report: this part needs {STEP_NEEDED[name]}, which was not part of this run. "
            "Ask your analyst to add it to the run's steps."
        )
        for name, value in sections.items()
        if value is None
    }
    return env.get_template("owner_report.html.j2").render(
        shop=shop,
        head=head,
        unit=unit,
        missing=missing,
        notes=data_notes(run_dir, unit),
        comparison=comparison(run_dir, previous, unit),
        recent_days=RECENT_DAYS,
        campaign=campaign_result(run_dir, unit),
        experiment=experiment(run_dir, unit),
        **sections,
    )


def write(run_dir: str | Path, previous_dir: str | Path | None = None, currency: str = "", shop: str = "") -> Path:
    path = Path(run_dir) / "owner_report.html"
    path.write_text(build(run_dir, previous_dir, currency, shop), encoding="utf-8")
    return path
