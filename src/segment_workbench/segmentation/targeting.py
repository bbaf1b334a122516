"""Which segments to target: attractiveness ranking, playbook, and audience files.

Attractiveness = sum over criteria of weight x (criterion scaled 0-1 across segments):
``size`` (share of customers), ``value`` (share of revenue), ``growth`` (revenue in the last
``growth_days`` vs the ``growth_days`` before, relative change), ``margin`` (net value per
customer). Weights come from the config (``segmentation.weights``).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from segment_workbench.customers import engine

DEFAULT_WEIGHTS = {"size": 0.2, "value": 0.35, "growth": 0.2, "margin": 0.25}

#: Recommended action, channel and KPI per segment name (generated and RFM names). The config's
#: ``segmentation.playbook`` adds to or replaces entries.
DEFAULT_PLAYBOOK = {
    "Big spenders": (
        "Reward and retain: early access, personal thank-you, premium bundles",
        "email + personal contact",
        "repeat rate, revenue per customer",
    ),
    "Bargain hunters": (
        "Sell on value: bundles and thresholds for free delivery rather than deeper discounts",
        "app push + email",
        "margin per order, discount share",
    ),
    "New regulars": (
        "Make it a habit: onboarding series, second-purchase incentive, loyalty sign-up",
        "email + app",
        "90-day retention",
    ),
    "Lapsed regulars": (
        "Win back: a reason to return (what's new, a one-time offer), then stop if no reaction",
        "email",
        "reactivation rate",
    ),
    "One-time buyers": (
        "Convert to a second order within 60 days: recommendations based on the first order",
        "email",
        "second-order rate",
    ),
    "Best customers": (
        "Keep them close: loyalty perks, early access, ask for referrals",
        "email + personal contact",
        "repeat rate, referrals",
    ),
    "Frequent buyers": ("Grow basket size: cross-sell and subscriptions", "app + email", "average order value"),
    "Fading customers": (
        "Re-engage before they lapse: reminder and personal recommendation",
        "email",
        "orders in the next 60 days",
    ),
    "Occasional buyers": ("Stay top of mind: seasonal campaigns", "email", "orders per customer"),
    "Champions": ("Reward: loyalty perks, referrals, reviews", "email + personal contact", "referrals, repeat rate"),
    "Loyal": ("Upsell and ask for reviews", "email", "average order value"),
    "Potential loyalists": ("Offer membership / loyalty programme", "email + app", "repeat rate"),
    "New": ("Onboard: welcome series, second-purchase nudge", "email", "second-order rate"),
    "Promising": ("Build relationship: free shipping on next order", "email", "second-order rate"),
    "Need attention": ("Limited-time offer based on past purchases", "email", "orders in the next 30 days"),
    "About to sleep": ("Reconnect: popular products, small incentive", "email", "reactivation rate"),
    "At risk": ("Personal win-back: reach out, strong offer", "email + phone", "reactivation rate"),
    "Can't lose them": ("Win back with a personal offer; ask what went wrong", "personal contact", "reactivation rate"),
    "Hibernating": ("Low-cost reminders only", "email", "reactivation rate"),
    "Lost": ("Do not spend on them; include only in broad campaigns", "none", "—"),
}
#: Entries that differ for a visit log (no prices: no basket size, no order value, no margin).
VISITS_PLAYBOOK = {
    "Big spenders": ("Reward and retain: early access, personal thank-you", "email + personal contact", "repeat rate"),
    "Bargain hunters": (
        "Bring them back more often: reminders at their usual rhythm",
        "app push + email",
        "visits per customer",
    ),
    "Frequent buyers": (
        "Keep the habit: reminders, subscriptions, loyalty perks",
        "app + email",
        "visits per customer",
    ),
    "Loyal": ("Ask for reviews and referrals", "email", "referrals"),
    "Lost": ("Include only in broad campaigns", "none", "—"),
}


#: The entry for a segment told apart from its namesake as "(lapsed)", or whose customers' median
#: last purchase is more than ``LAPSED_AFTER_DAYS`` ago: win them back, whatever its base name
#: ("Frequent buyers (lapsed)" are not asked to grow their basket, nor big spenders last seen 16
#: months ago to be rewarded and retained).
LAPSED = "Lapsed regulars"
LAPSED_AFTER_DAYS = 365
NO_ENTRY = ("(no playbook entry: add one in segmentation.playbook)", "", "")


def segment_growth(transactions, segment_of: pd.Series, as_of: pd.Timestamp, growth_days: int = 90) -> pd.Series:
    """Relative revenue change per segment: last ``growth_days`` up to as_of vs the period before.
    ``segment_of`` maps customer_id -> segment. NaN where the earlier period had no revenue.
    ``transactions``: cleaned lines as ``segment_workbench.customers.engine`` takes them."""
    lines = engine.lines_table(transactions, ["customer_id", "order_date", "amount"])
    as_of, days = pd.Timestamp(as_of).normalize(), pd.Timedelta(days=growth_days)

    def per_segment(after: pd.Timestamp, until: pd.Timestamp) -> pd.Series:
        revenue = engine.activity_between(lines, after, until).set_index("customer_id")["revenue"]
        return revenue.groupby(revenue.index.map(segment_of)).sum()

    now, then = per_segment(as_of - days, as_of), per_segment(as_of - 2 * days, as_of - days)
    index = pd.Index(pd.unique(segment_of.to_numpy()))
    now, then = now.reindex(index).fillna(0.0), then.reindex(index).fillna(0.0)
    return ((now - then) / then.replace(0, np.nan)).rename("growth")


def _scaled(values: pd.Series) -> pd.Series:
    values = values.fillna(values.min() if values.notna().any() else 0.0)
    span = values.max() - values.min()
    return (values - values.min()) / span if span > 0 else pd.Series(0.5, index=values.index)


def rank_segments(
    profiles: pd.DataFrame,
    growth: pd.Series,
    weights: dict[str, float] | None = None,
    playbook: dict[str, list | tuple] | None = None,
    in_visits: bool = False,
) -> pd.DataFrame:
    """Segments ranked by attractiveness, with the criteria, their scaled values, and the
    playbook's action, channel and KPI (``in_visits``: a visit log's entries, ``VISITS_PLAYBOOK``;
    a segment the playbook does not name gets ``LAPSED``'s when it is "(lapsed)" or its median
    last purchase is more than ``LAPSED_AFTER_DAYS`` ago). A segment flagged ``not_our_customer`` is ranked last."""
    weights = {**DEFAULT_WEIGHTS, **(weights or {})}
    table = profiles.set_index("segment")
    criteria = pd.DataFrame(
        {
            "size": table["share_customers"],
            "value": table["share_revenue"],
            "growth": growth.reindex(table.index),
            "margin": table["net_value_per_customer"],
        }
    )
    score = sum(weights[c] * _scaled(criteria[c]) for c in criteria) / sum(weights.values())
    out = criteria.assign(score=score, not_our_customer=table["not_our_customer"])
    out = out.sort_values(["not_our_customer", "score"], ascending=[True, False])
    out["rank"] = np.arange(1, len(out) + 1)
    own = {k: tuple(v) for k, v in (playbook or {}).items()}
    book = {**DEFAULT_PLAYBOOK, **(VISITS_PLAYBOOK if in_visits else {}), **own}
    base = out.index.str.replace(r"( \(.*\)|: .*)$", "", regex=True)
    since = table["days_since_last_order_median"].reindex(out.index)
    lapsed = out.index.str.endswith("(lapsed)") | (since > LAPSED_AFTER_DAYS).to_numpy()
    entries = [
        (own.get(name) or book[LAPSED]) if gone else book.get(name, book.get(b, NO_ENTRY))
        for name, b, gone in zip(out.index, base, lapsed)
    ]
    out["action"], out["channel"], out["kpi"] = zip(*entries) if entries else ([], [], [])
    return out.reset_index().rename(columns={"index": "segment"})


def slug(name: str) -> str:
    """A file-name-safe version of a segment name."""
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_") or "segment"


def with_consented_email(customers: pd.DataFrame, contacts: pd.DataFrame) -> pd.DataFrame:
    """``customers`` with an ``email`` column filled only for customers who consented."""
    if "email" not in contacts:  # the source has no e-mails: no one can be contacted by e-mail
        contacts = contacts.assign(
            email=pd.Series(pd.NA, index=contacts.index, dtype="string"),
            consent=pd.Series(pd.NA, index=contacts.index, dtype="boolean"),
        )
    data = customers.merge(contacts[["customer_id", "email", "consent"]], on="customer_id", how="left")
    data["email"] = data["email"].where(data["consent"].astype("boolean").fillna(False).to_numpy(bool))
    return data.drop(columns="consent")


def write_audiences(
    segments: pd.DataFrame, contacts: pd.DataFrame, out_dir: str | Path, segment_column: str = "cluster_name"
) -> pd.DataFrame:
    """One CSV per segment (customer_id, segment, rfm_segment, scores, email). E-mail only for
    customers who consented (opt-outs and deletion requests never get this far: the exclusion list
    is applied at collection). Returns a summary: segment, file, customers, with_email."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for old in out_dir.glob("*.csv"):
        if old.name != SLIPPING_FILE:  # 05_cltv's audience: not this step's to remove
            old.unlink()
    data = with_consented_email(segments, contacts)
    columns = ["customer_id", segment_column, "rfm_segment", "r_score", "f_score", "m_score", "email"]
    rows = []
    for name, part in data.groupby(segment_column, sort=True):
        path = out_dir / f"{slug(str(name))}.csv"
        part[[c for c in columns if c in part]].rename(columns={segment_column: "segment"}).to_csv(path, index=False)
        rows.append(
            {"segment": name, "file": path.name, "customers": len(part), "with_email": int(part["email"].notna().sum())}
        )
    return pd.DataFrame(rows)


def worth_targeting(ranking: pd.DataFrame) -> pd.DataFrame:
    """The ranked segments that bring more than they cost to serve, best first."""
    return ranking[~ranking["not_our_customer"].astype(bool)]


def first_target(ranking: pd.DataFrame) -> str:
    """The segment to target first: the best ranked that is worth targeting, else the best ranked."""
    candidates = worth_targeting(ranking)
    return str((candidates if len(candidates) else ranking)["segment"].iloc[0])


#: The "valuable and slipping" audience: among the top ``VALUABLE`` share of customers by what
#: they brought so far, those whose chance of buying in the next 90 days is below ``SLIPPING``.
VALUABLE, SLIPPING = 0.2, 0.5
SLIPPING_FILE = "valuable_and_slipping.csv"


def write_slipping_audience(
    customers: pd.DataFrame, values: pd.DataFrame, contacts: pd.DataFrame, out_dir: str | Path
) -> pd.DataFrame:
    """``SLIPPING_FILE`` in ``out_dir``: the customers in the top ``VALUABLE`` by revenue_total
    whose ``p_purchase_90d`` (05_cltv's model) is below ``SLIPPING``, most valuable first, with
    customer_id, revenue_total, p_purchase_90d, p_alive, clv and the e-mail of those who
    consented. Returns the customers written."""
    data = customers[["customer_id", "revenue_total"]].merge(
        values[["customer_id", "p_purchase_90d", "p_alive", "clv"]], on="customer_id"
    )
    valuable = data["revenue_total"] >= data["revenue_total"].quantile(1 - VALUABLE)
    chosen = data[valuable & (data["p_purchase_90d"] < SLIPPING)].sort_values("revenue_total", ascending=False)
    out = with_consented_email(chosen, contacts)
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    out.to_csv(Path(out_dir) / SLIPPING_FILE, index=False)
    return out
