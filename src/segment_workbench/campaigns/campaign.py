"""06_campaign: per-segment KPIs over time, campaign A/B read-outs and experiment design.

Segments are **frozen** at a date: a customer's segment in a month, or at a campaign's send
date, is the one the 03_segment model gives them from their orders *before* that date
(``segmentation.SegmentModel.segments_at``). Re-segmenting therefore never rewrites history, and
a campaign cannot move customers between the groups it is judged in.

The statistics, named so the reader knows what was done:

- conversion lift: difference of proportions (test − control) with **Newcombe's hybrid score
  interval** and the **Miettinen–Nurminen score test** p-value (statsmodels);
- revenue per customer: difference of means with **Welch's t** interval and p-value (scipy);
- verdicts use **Holm-adjusted** conversion p-values across the segments of one campaign
  variant, so testing five segments does not find an effect by chance one time in four;
- design: the normal approximation on Cohen's h (statsmodels ``NormalIndPower``).

Conversion = at least one order in the window ``[send_date, send_date + window_days)``;
revenue = the cleaned order revenue in that window (currency of the shop).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
from scipy import stats
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.proportion import confint_proportions_2indep, proportion_effectsize, test_proportions_2indep

from segment_workbench.customers import engine
from segment_workbench.errors import InputError
from segment_workbench.segmentation.targeting import slug, with_consented_email

CONTROL = "control"
NEW_CUSTOMERS = "New customers"  # KPIs: customers whose first order is in the period
NOT_YET = "(not a customer yet)"  # read-out: contacts with no order before the send date
ALL = "All contacts"
VERDICTS = ("worked", "backfired", "no clear effect", "not enough customers to tell")


# --- KPIs per segment over time --------------------------------------------------------------


def segment_kpis(
    transactions, segments_at: Callable[[pd.Timestamp], pd.Series], as_of: pd.Timestamp, period: str = "M"
) -> pd.DataFrame:
    """Monthly (``period``) KPIs per frozen segment, one row per period and segment.

    ``segments_at(start)`` gives customer_id -> segment from the orders before ``start``;
    customers whose first order falls in the period are counted under ``NEW_CUSTOMERS``.
    Columns: period, period_start, segment, customers (in the segment at the period's start;
    for new customers, those acquired in it), active_customers (bought in the period), orders
    (placed in the period), revenue, avg_order_value (revenue / orders), repeat_rate (share of
    active customers with two or more orders in the period), retention (active / customers;
    empty for new customers), partial (the period continues after as_of). ``transactions``:
    cleaned lines as ``segment_workbench.customers.engine`` takes them, or their
    ``engine.PurchaseDays``.
    """
    as_of = pd.Timestamp(as_of).normalize()
    lines = engine.lines_table(transactions, ["customer_id", "order_date"])
    activity = engine.activity_by_period(transactions, as_of, period).cache()  # one pass for every period
    rows = []
    for p in pd.period_range(engine.day_span(lines)[1], as_of, freq=period):
        start, end = p.start_time, min(p.end_time.normalize(), as_of)
        frozen = segments_at(start)
        this_period = activity.filter(activity.period_start == start.date())
        active = _active_by_segment(this_period.select("customer_id", "orders", "revenue").to_pyarrow(), frozen)
        sizes = frozen.value_counts()
        sizes[NEW_CUSTOMERS] = active["active"].get(NEW_CUSTOMERS, 0)
        for segment, size in sizes.items():
            n, orders, revenue, repeat = active.loc[segment].tolist() if segment in active.index else (0, 0, 0.0, 0)
            rows.append(
                {
                    "period": str(p),
                    "period_start": start,
                    "segment": segment,
                    "customers": int(size),
                    "active_customers": int(n),
                    "orders": int(orders),
                    "revenue": float(revenue),
                    "avg_order_value": revenue / orders if orders else np.nan,
                    "repeat_rate": repeat / n if n else np.nan,
                    "retention": n / size if size and segment != NEW_CUSTOMERS else np.nan,
                    "partial": end < p.end_time.normalize(),
                }
            )
    return pd.DataFrame(rows)


def _active_by_segment(active: pa.Table, frozen: pd.Series) -> pd.DataFrame:
    """Per segment of ``frozen`` (customer_id -> segment; ``NEW_CUSTOMERS`` for the active
    customers it does not hold): active customers, orders, revenue (summed exactly) and repeat
    buyers (two or more orders), from ``active`` (customer_id, orders, revenue). Joined in the
    embedded DuckDB: millions of text ids hash there several times faster than in pandas."""
    segments = pa.table(
        {"customer_id": pa.array(frozen.index.array, pa.string()), "segment": pa.array(frozen.to_numpy(), pa.string())}
    )
    joined = duckdb.from_arrow(active).join(duckdb.from_arrow(segments), "customer_id", how="left")
    sums = joined.aggregate(
        "segment, count(*) AS active, sum(orders) AS orders, sum(revenue::DECIMAL(38, 9))::DOUBLE AS revenue, "
        "count(*) FILTER (WHERE orders >= 2) AS repeat",
        "segment",
    ).df()
    return sums.assign(segment=sums["segment"].fillna(NEW_CUSTOMERS)).set_index("segment")


def check_campaign(
    campaign: pd.DataFrame,
    known_ids: pd.Series,
    as_of: pd.Timestamp,
    file: str = "campaign file",
    allow_unknown_ids: bool = False,
) -> tuple[pd.DataFrame, list[str]]:
    """Validate a campaign table against the orders; returns it (one row per campaign and
    customer) and notes on what was changed. Raises InputError for a send date after as_of,
    a customer in both arms of a campaign, a campaign without a control group, or customer
    ids found in no order (unless ``allow_unknown_ids``: then they are contacts who never bought)."""
    as_of = pd.Timestamp(as_of).normalize()
    notes: list[str] = []
    shown = [c for c in ("source_row", "customer_id", "campaign", "variant", "send_date") if c in campaign]
    late = campaign[campaign["send_date"].dt.normalize() > as_of]
    if len(late):
        raise InputError(
            f"{len(late)} row(s) were sent after as_of {as_of.date()}: their results cannot be known yet.",
            file=file,
            column="send_date",
            rows=late[shown],
            hint="Run with a later as_of (workbench run CONFIG --as-of today), or remove these rows.",
        )
    arms = campaign.groupby(["campaign", "customer_id"])["variant"].transform("nunique")
    both = campaign[arms > 1].sort_values(["campaign", "customer_id"])
    if len(both):
        raise InputError(
            f"{both['customer_id'].nunique()} customer(s) are in more than one arm of the same campaign.",
            file=file,
            column="variant",
            rows=both[shown],
            hint="Each customer must be either in the control group or in one variant; fix the split and run again.",
        )
    no_control = sorted(
        set(campaign["campaign"]) - set(campaign.loc[campaign["variant"].str.lower() == CONTROL, "campaign"])
    )
    if no_control:
        raise InputError(
            f"Campaign(s) {', '.join(no_control)} have no control group: their effect cannot be measured.",
            file=file,
            column="variant",
            rows=campaign[campaign["campaign"].isin(no_control)][shown],
            hint=f"Mark the customers held back with variant '{CONTROL}'.",
        )
    unknown = campaign[~campaign["customer_id"].isin(set(known_ids.dropna()))]
    if len(unknown) and not allow_unknown_ids:
        raise InputError(
            f"{unknown['customer_id'].nunique()} customer id(s) in the campaign file appear in no order.",
            file=file,
            column="customer_id",
            rows=unknown[shown],
            hint="Check that the ids are written as in the order export (e.g. '12345', not '12345.0' or an e-mail). "
            "If they are subscribers who never bought, set campaign.allow_unknown_ids: true.",
        )
    if len(unknown):
        notes.append(
            f"{unknown['customer_id'].nunique():,} contacts had never bought; they are counted as '{NOT_YET}'."
        )
    deduped = campaign.drop_duplicates(["campaign", "customer_id"])
    if len(deduped) < len(campaign):
        notes.append(
            f"{len(campaign) - len(deduped):,} repeated row(s) (same campaign, customer and variant) counted once."
        )
    out = deduped.assign(variant=deduped["variant"].where(deduped["variant"].str.lower() != CONTROL, CONTROL))
    return out.reset_index(drop=True), notes


# --- outcomes and the read-out ---------------------------------------------------------------


def outcomes(
    campaign: pd.DataFrame,
    transactions,
    segments_at: Callable[[pd.Timestamp], pd.Series],
    as_of: pd.Timestamp,
    window_days: int = 14,
) -> pd.DataFrame:
    """One row per contact: campaign, variant, segment (frozen at the send date), customer_id,
    converted (ordered in the window), revenue (in the window), cost, window_complete.
    ``transactions``: cleaned lines as ``segment_workbench.customers.engine`` takes them."""
    as_of = pd.Timestamp(as_of).normalize()
    lines = engine.lines_table(transactions, ["customer_id", "order_date", "amount"])
    parts = []
    for (name, send), contacts in campaign.groupby(["campaign", "send_date"], sort=True):
        send = pd.Timestamp(send).normalize()
        end = send + pd.Timedelta(days=window_days)
        window = engine.activity_between(lines, send - pd.Timedelta(days=1), end - pd.Timedelta(days=1))
        spent = window.set_index("customer_id")["revenue"]
        frozen = segments_at(send)
        parts.append(
            pd.DataFrame(
                {
                    "campaign": name,
                    "variant": contacts["variant"].to_numpy(),
                    "customer_id": contacts["customer_id"].to_numpy(),
                    "segment": frozen.reindex(contacts["customer_id"]).fillna(NOT_YET).to_numpy(),
                    "converted": contacts["customer_id"].isin(spent.index).to_numpy(),
                    "revenue": spent.reindex(contacts["customer_id"]).fillna(0.0).to_numpy(),
                    "cost": contacts["cost_per_contact"].to_numpy(float),
                    "send_date": send,
                    "window_complete": end - pd.Timedelta(days=1) <= as_of,
                }
            )
        )
    return pd.concat(parts, ignore_index=True)


def conversion_lift(
    converted_test: int, n_test: int, converted_control: int, n_control: int, alpha: float = 0.05
) -> tuple[float, float, float, float]:
    """Difference of conversion rates (test − control): estimate, Newcombe hybrid score interval
    (1 − alpha), Miettinen–Nurminen score-test p-value."""
    with np.errstate(divide="ignore", invalid="ignore"):  # statsmodels also computes ratios we do not use
        low, high = confint_proportions_2indep(
            converted_test, n_test, converted_control, n_control, method="newcomb", compare="diff", alpha=alpha
        )
        p = test_proportions_2indep(
            converted_test, n_test, converted_control, n_control, method="score", compare="diff"
        ).pvalue
    if converted_test + converted_control in (0, n_test + n_control):  # nobody (or everybody) converted: no evidence
        p = 1.0
    return converted_test / n_test - converted_control / n_control, float(low), float(high), float(p)


def mean_lift(test: np.ndarray, control: np.ndarray, alpha: float = 0.05) -> tuple[float, float, float, float]:
    """Difference of means (test − control): estimate, Welch interval (1 − alpha), Welch p-value."""
    diff = float(np.mean(test) - np.mean(control))
    if np.var(test) == 0 and np.var(control) == 0:
        return diff, diff, diff, 1.0 if diff == 0 else 0.0
    result = stats.ttest_ind(test, control, equal_var=False)
    ci = result.confidence_interval(confidence_level=1 - alpha)
    return diff, float(ci.low), float(ci.high), float(result.pvalue)


def readout(
    contacts: pd.DataFrame, alpha: float = 0.05, min_customers: int = 30, margin: float = 1.0, power: float = 0.8
) -> pd.DataFrame:
    """Per campaign, variant and segment (plus all contacts): conversion and revenue per customer
    in each arm, lifts with intervals and p-values, incremental revenue and ROI, the smallest
    conversion lift the sample could detect, and a verdict (one of ``VERDICTS``).

    ROI = (incremental revenue × margin − cost) / cost, where cost is the test arm's contact cost
    and incremental revenue = revenue lift per customer × customers in the test arm.
    """
    rows = []
    for (name, variant), test in contacts[contacts["variant"] != CONTROL].groupby(["campaign", "variant"], sort=True):
        control_all = contacts[(contacts["campaign"] == name) & (contacts["variant"] == CONTROL)]
        groups = [(ALL, test, control_all)] + [
            (segment, test[test["segment"] == segment], control_all[control_all["segment"] == segment])
            for segment in sorted(set(test["segment"]) | set(control_all["segment"]))
        ]
        for segment, t, c in groups:
            row = {
                "campaign": name,
                "variant": variant,
                "segment": segment,
                "n_test": len(t),
                "n_control": len(c),
                "window_complete": bool(t["window_complete"].all()),
            }
            if len(t) and len(c):
                x_t, x_c = int(t["converted"].sum()), int(c["converted"].sum())
                row.update(conversion_test=x_t / len(t), conversion_control=x_c / len(c))
                row["lift"], row["lift_low"], row["lift_high"], row["p_value"] = conversion_lift(
                    x_t, len(t), x_c, len(c), alpha
                )
                row["revenue_per_customer_test"], row["revenue_per_customer_control"] = (
                    t["revenue"].mean(),
                    c["revenue"].mean(),
                )
                rev = mean_lift(t["revenue"].to_numpy(float), c["revenue"].to_numpy(float), alpha)
                row["revenue_lift"], row["revenue_lift_low"], row["revenue_lift_high"], row["revenue_p_value"] = rev
                row["incremental_revenue"] = rev[0] * len(t)
                row["incremental_revenue_low"], row["incremental_revenue_high"] = rev[1] * len(t), rev[2] * len(t)
                row["cost"] = float(t["cost"].sum())
                row["roi"] = (
                    (row["incremental_revenue"] * margin - row["cost"]) / row["cost"] if row["cost"] > 0 else np.nan
                )
                row["detectable_lift"] = minimum_detectable_lift(len(t), len(c), x_c / len(c), alpha, power)
            rows.append(row)
    out = pd.DataFrame(rows)
    out["p_adjusted"] = np.nan
    for _, idx in out[out["segment"] != ALL].groupby(["campaign", "variant"]).groups.items():
        tested = [i for i in idx if out.at[i, "p_value"] == out.at[i, "p_value"]]
        if tested:
            out.loc[tested, "p_adjusted"] = multipletests(out.loc[tested, "p_value"], method="holm")[1]
    whole = out["segment"] == ALL
    out.loc[whole, "p_adjusted"] = out.loc[whole, "p_value"]
    out["verdict"] = [verdict(r, alpha, min_customers) for r in out.itertuples()]
    return out


def verdict(row: Any, alpha: float = 0.05, min_customers: int = 30) -> str:
    """ "worked" / "backfired" (significant conversion lift after Holm), "no clear effect", or
    "not enough customers to tell" when either arm has fewer than ``min_customers``."""
    if row.n_test < min_customers or row.n_control < min_customers:
        return "not enough customers to tell"
    if row.p_adjusted < alpha:
        return "worked" if row.lift > 0 else "backfired"
    return "no clear effect"


def verdict_sentence(row: Any, currency: str = "", min_customers: int = 30) -> str:
    """One plain sentence for a read-out row."""
    if row.verdict == "not enough customers to tell":
        return (
            f"{row.segment}: not enough customers to tell ({row.n_test} got it, {row.n_control} held back; "
            f"at least {min_customers} in each are needed)."
        )
    if row.verdict == "no clear effect":
        return (
            f"{row.segment}: no clear effect ({row.conversion_test:.0%} bought vs {row.conversion_control:.0%} without it; "
            f"a lift under {100 * row.detectable_lift:.0f} points could go unnoticed with this many customers)."
        )
    sign = "more" if row.lift > 0 else "fewer"
    return (
        f"{row.segment}: {row.verdict} — {abs(100 * row.lift):.0f} {sign} buyers per 100 "
        f"(between {100 * row.lift_low:+.0f} and {100 * row.lift_high:+.0f}), about {currency}{row.incremental_revenue:,.0f} "
        f"of extra revenue for {currency}{row.cost:,.0f} of contact cost."
    )


def summary_sentence(results: pd.DataFrame) -> str:
    """The whole read-out in one sentence, e.g. "Autumn offer (offer) worked for Bargain
    hunters; no clear effect on Big spenders and Loyal regulars." """
    parts = []
    for (name, variant), r in results[results["segment"] != ALL].groupby(["campaign", "variant"], sort=True):
        by = {v: list(r.loc[r["verdict"] == v, "segment"]) for v in VERDICTS}
        words = [f"{v} for {join_words(by[v])}" for v in ("worked", "backfired") if by[v]]
        if by["no clear effect"]:
            words.append(f"no clear effect on {join_words(by['no clear effect'])}")
        if by["not enough customers to tell"]:
            words.append(f"too few customers to tell for {join_words(by['not enough customers to tell'])}")
        parts.append(f"“{name}” ({variant}) " + "; ".join(words))
    return ". ".join(parts) + "."


def join_words(names: list[str]) -> str:
    """ "A", "A and B", "A, B and C"."""
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


# --- experiment design -----------------------------------------------------------------------


def minimum_detectable_lift(
    n_test: int, n_control: int, baseline: float, alpha: float = 0.05, power: float = 0.8
) -> float:
    """The smallest rise in conversion (absolute, 0.05 = 5 points) a two-sided test at ``alpha``
    detects with probability ``power``, for these arm sizes and the control's conversion."""
    h = NormalIndPower().solve_power(effect_size=None, nobs1=n_test, alpha=alpha, power=power, ratio=n_control / n_test)
    angle = math.asin(math.sqrt(min(max(baseline, 0.0), 1.0))) + h / 2
    return (math.sin(angle) ** 2 if angle < math.pi / 2 else 1.0) - baseline


def sample_size(
    baseline: float, lift: float, alpha: float = 0.05, power: float = 0.8, test_share: float = 0.5
) -> tuple[int, int]:
    """Customers needed (test, control) to detect a conversion rise of ``lift`` (absolute) from
    ``baseline`` with a two-sided test at ``alpha`` and ``power``, ``test_share`` of them in test."""
    h = abs(proportion_effectsize(min(baseline + lift, 1.0), baseline))
    ratio = (1 - test_share) / test_share
    n_test = math.ceil(NormalIndPower().solve_power(effect_size=h, nobs1=None, alpha=alpha, power=power, ratio=ratio))
    return n_test, math.ceil(n_test * ratio)


def design_table(
    segment_of: pd.Series,
    transactions,
    as_of: pd.Timestamp,
    window_days: int = 14,
    lift: float = 0.05,
    alpha: float = 0.05,
    power: float = 0.8,
    test_share: float = 0.5,
) -> pd.DataFrame:
    """Per segment: customers, baseline conversion (share who bought in the last ``window_days``
    up to as_of), the smallest detectable lift when the whole segment is split ``test_share``,
    and the customers needed to detect ``lift``."""
    as_of = pd.Timestamp(as_of).normalize()
    lines = engine.lines_table(transactions, ["customer_id", "order_date", "amount"])
    recent = engine.activity_between(lines, as_of - pd.Timedelta(days=window_days), as_of)["customer_id"]
    rows = []
    for segment, ids in segment_of.groupby(segment_of, sort=True):
        n = len(ids)
        baseline = float(ids.index.isin(recent).mean())
        n_test = max(1, round(n * test_share))
        detectable = minimum_detectable_lift(n_test, max(1, n - n_test), baseline, alpha, power) if n >= 2 else np.nan
        needed = sample_size(baseline, lift, alpha, power, test_share) if 0 < baseline + lift <= 1 else (np.nan, np.nan)
        rows.append(
            {
                "segment": segment,
                "customers": n,
                "baseline_conversion": baseline,
                "detectable_lift": detectable,
                "needed_test": needed[0],
                "needed_control": needed[1],
                "enough": bool(n >= sum(needed)),
            }
        )
    return pd.DataFrame(rows)


def split_audience(customer_ids: pd.Series, test_share: float = 0.5, random_state: int = 0) -> pd.DataFrame:
    """customer_id and variant ("test" or "control"): exactly round(n × test_share) in test, drawn
    with the seed; the input order does not matter (ids are sorted first)."""
    ids = np.sort(pd.Series(customer_ids).drop_duplicates().to_numpy())
    n_test = round(len(ids) * test_share)
    variant = np.random.default_rng(random_state).permutation(np.repeat(["test", CONTROL], [n_test, len(ids) - n_test]))
    return pd.DataFrame({"customer_id": ids, "variant": variant})


def write_split(split: pd.DataFrame, contacts: pd.DataFrame, out_dir: str | Path, name: str) -> list[Path]:
    """``<name>_test.csv`` and ``<name>_control.csv`` (customer_id, variant, e-mail only with consent)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    data = with_consented_email(split, contacts)
    paths = []
    for variant in ("test", CONTROL):
        path = out_dir / f"{slug(name)}_{variant}.csv"
        data[data["variant"] == variant][["customer_id", "variant", "email"]].to_csv(path, index=False)
        paths.append(path)
    return paths
