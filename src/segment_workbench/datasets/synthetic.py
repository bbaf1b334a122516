"""Deterministic demo shop: order lines with planted customer groups, attributes, a survey,
and planted dirt, with the ground truth written beside it.

Groups (share of customers) and how they were planted — later steps are checked against it:

- ``big_spenders`` (12%): about one order a month, mostly premium products, rarely discounted.
- ``bargain_hunters`` (22%): 1.6 orders a month, cheap products, most orders discounted.
- ``one_off`` (28%): exactly one order, at any time.
- ``lapsed_regulars`` (20%): joined in the first ~7 months, ~1.2 orders a month, then stopped
  for good 5–11 months after joining (their churn date is in the ground truth).
- ``new_loyal`` (18%): joined in the last ~4 months, 2.5 orders a month.

A campaign ("Autumn offer", sent 2025-10-06 to every customer acquired before, split 50/50
into ``offer`` and ``control``) has a planted effect in one group only: alive bargain hunters
who got the offer buy an extra discounted order within 14 days with probability
``CAMPAIGN["uplift"]["bargain_hunters"]``; it does nothing for anyone else.

Other groups churn at a constant hazard (exponential lifetime, mean in ``GROUPS``). Order
rates follow a seasonal curve with a December peak. Dirt is planted on disjoint lines and
counted in ``DemoData.planted`` so the cleaning step's log can be checked exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

START = pd.Timestamp("2024-01-01")
END = pd.Timestamp("2025-12-31")  # the demo's as_of

GROUPS = {
    # share, first-order day range, orders per 30 days, tier probabilities (budget, mid,
    # premium), share of orders discounted, mean lifetime in days (None = fixed churn window)
    "big_spenders": dict(share=0.12, start=(0, 640), rate=1.0, tiers=(0.0, 0.25, 0.75), discount=0.05, lifetime=2500),
    "bargain_hunters": dict(share=0.22, start=(0, 640), rate=1.6, tiers=(0.9, 0.1, 0.0), discount=0.75, lifetime=2000),
    "one_off": dict(share=0.28, start=(0, 720), rate=0.0, tiers=(0.3, 0.6, 0.1), discount=0.2, lifetime=0),
    "lapsed_regulars": dict(
        share=0.20, start=(0, 210), rate=1.2, tiers=(0.15, 0.75, 0.1), discount=0.15, lifetime=None
    ),
    "new_loyal": dict(share=0.18, start=(610, 705), rate=2.5, tiers=(0.1, 0.6, 0.3), discount=0.1, lifetime=3000),
}
LAPSE_AFTER_DAYS = (150, 330)

CATEGORIES = ["Home", "Kitchen", "Garden", "Gifts", "Stationery", "Lighting"]
_ADJECTIVES = ["Oak", "Linen", "Copper", "Rustic", "Nordic", "Velvet", "Ceramic", "Bamboo", "Marble", "Woven"]
_NOUNS = {
    "Home": ["Cushion", "Throw", "Basket", "Mirror"],
    "Kitchen": ["Serving Board", "Mug Set", "Teapot", "Apron"],
    "Garden": ["Planter", "Bird Feeder", "Lantern", "Trowel"],
    "Gifts": ["Gift Box", "Candle", "Photo Frame", "Keyring"],
    "Stationery": ["Notebook", "Pen Set", "Card Pack", "Desk Tidy"],
    "Lighting": ["Table Lamp", "Fairy Lights", "Pendant Shade", "Floor Lamp"],
}
CAMPAIGN = dict(
    name="Autumn offer", send_date="2025-10-06", window_days=14, cost_per_contact=0.15, uplift={"bargain_hunters": 0.60}
)
TIER_PRICES = {"budget": (2.5, 12.0), "mid": (12.0, 45.0), "premium": (60.0, 250.0)}

AGE_BANDS = ["18-24", "25-34", "35-44", "45-54", "55-64", "65+"]
REGIONS = ["North", "South", "East", "West", "Capital"]
CHANNELS = ["web", "app", "store"]
SOURCES = ["search", "social", "referral", "email", "marketplace"]
_ATTRIBUTE_PROBS = {
    # age band, channel, acquisition source probabilities per group
    "big_spenders": ([0.02, 0.08, 0.2, 0.3, 0.28, 0.12], [0.5, 0.1, 0.4], [0.25, 0.05, 0.45, 0.2, 0.05]),
    "bargain_hunters": ([0.3, 0.35, 0.2, 0.1, 0.04, 0.01], [0.3, 0.65, 0.05], [0.15, 0.4, 0.05, 0.1, 0.3]),
    "one_off": ([0.15, 0.25, 0.2, 0.2, 0.12, 0.08], [0.6, 0.2, 0.2], [0.4, 0.15, 0.05, 0.05, 0.35]),
    "lapsed_regulars": ([0.1, 0.2, 0.25, 0.25, 0.12, 0.08], [0.5, 0.3, 0.2], [0.3, 0.2, 0.15, 0.25, 0.1]),
    "new_loyal": ([0.15, 0.4, 0.3, 0.1, 0.04, 0.01], [0.3, 0.6, 0.1], [0.15, 0.35, 0.15, 0.3, 0.05]),
}
SURVEY_QUESTIONS = {
    # question column: (latent factor, loading)
    "q1_compare_prices": ("price", 1.0),
    "q2_wait_for_sales": ("price", 0.9),
    "q3_use_discount_codes": ("price", 0.8),
    "q4_quality_over_price": ("quality", 1.0),
    "q5_premium_brands": ("quality", 0.9),
    "q6_pay_for_fast_delivery": ("quality", 0.7),
}
_LATENT_MEANS = {  # (price sensitivity, quality focus)
    "big_spenders": (-1.0, 1.0),
    "bargain_hunters": (1.1, -0.8),
    "one_off": (0.2, 0.0),
    "lapsed_regulars": (0.2, 0.2),
    "new_loyal": (-0.2, 0.6),
}
_FIRST = [
    "Alice",
    "Ben",
    "Chloe",
    "Dev",
    "Emma",
    "Finn",
    "Grace",
    "Hugo",
    "Isla",
    "Jack",
    "Kira",
    "Liam",
    "Maya",
    "Noah",
    "Olive",
    "Priya",
    "Quinn",
    "Rosa",
    "Sam",
    "Tara",
    "Umar",
    "Vera",
    "Will",
    "Zoe",
]
_LAST = [
    "Smith",
    "Jones",
    "Patel",
    "Brown",
    "Taylor",
    "Wilson",
    "Khan",
    "Evans",
    "Walsh",
    "Murphy",
    "Clarke",
    "Hughes",
    "Green",
    "Lewis",
    "Baker",
    "Hall",
]

TEST_CUSTOMER = "TEST-0001"
TEST_PRODUCT = "TEST ORDER - DO NOT SHIP"


@dataclass
class DemoData:
    """The demo shop. ``transactions`` is export-like (every value is text, with dirt);
    ``attributes`` holds personal data on purpose (names, e-mails) to test that none leaks."""

    transactions: pd.DataFrame
    attributes: pd.DataFrame
    survey: pd.DataFrame
    ground_truth: pd.DataFrame
    planted: dict[str, int]
    campaign: pd.DataFrame  # customer_id, campaign, variant, send_date, cost_per_contact


def _exact_counts(n: int) -> np.ndarray:
    shares = np.array([g["share"] for g in GROUPS.values()])
    counts = np.floor(shares * n).astype(int)
    counts[np.argsort(-(shares * n - counts))[: n - counts.sum()]] += 1
    return counts


def seasonality(day_of_year: np.ndarray) -> np.ndarray:
    """Relative order intensity over the year: 1 most of the year, 1.6 at the December peak."""
    return 1.0 + 0.6 * np.exp(-0.5 * ((day_of_year - 345) / 15.0) ** 2)


def _catalogue(rng: np.random.Generator) -> pd.DataFrame:
    rows = []
    for tier, (lo, hi) in TIER_PRICES.items():
        for category in CATEGORIES:
            for noun in rng.choice(_NOUNS[category], size=2, replace=False):
                adjective = rng.choice(_ADJECTIVES)
                rows.append((tier, category, f"{adjective} {noun}".upper(), round(float(rng.uniform(lo, hi)), 2)))
    # Two luxury items, priced above 1,000, written with thousands separators in the export.
    rows += [("premium", "Home", "HAND-KNOTTED RUG", 1234.50), ("premium", "Lighting", "MURANO CHANDELIER", 1499.00)]
    cat = pd.DataFrame(rows, columns=["tier", "category", "product_name", "price"])
    cat["product_id"] = [f"P{i:04d}" for i in range(1, len(cat) + 1)]
    return cat


def _customers(rng: np.random.Generator, n: int, horizon: int) -> pd.DataFrame:
    names = list(GROUPS)
    group = rng.permutation(np.repeat(names, _exact_counts(n)))
    cust = pd.DataFrame({"customer_id": [f"C{i:05d}" for i in range(1, n + 1)], "group": group})
    start = np.empty(n)
    lifetime = np.empty(n)
    for name, g in GROUPS.items():
        idx = np.flatnonzero(group == name)
        start[idx] = rng.integers(g["start"][0], g["start"][1] + 1, size=len(idx))
        if g["lifetime"] is None:
            lifetime[idx] = rng.integers(LAPSE_AFTER_DAYS[0], LAPSE_AFTER_DAYS[1] + 1, size=len(idx))
        else:
            lifetime[idx] = rng.exponential(g["lifetime"], size=len(idx)) if g["lifetime"] else 0.0
    cust["start_day"] = start.astype(int)
    churn_day = cust["start_day"] + np.floor(lifetime)
    churned = (cust["group"] != "one_off") & (churn_day < horizon)
    cust["end_day"] = np.minimum(churn_day, horizon - 1).astype(int)
    # NaT set after the conversion: pandas' float-to-timedelta reads uninitialised memory for NaN
    # inputs (harmless, but it warns of overflows at random)
    cust["churn_date"] = (START + pd.to_timedelta(churn_day, unit="D")).where(churned).astype("datetime64[ns]")
    return cust


def _orders(rng: np.random.Generator, cust: pd.DataFrame) -> pd.DataFrame:
    rate = cust["group"].map({k: g["rate"] for k, g in GROUPS.items()}).to_numpy() / 30.0
    span = (cust["end_day"] - cust["start_day"]).to_numpy()
    peak = 1.6
    n_candidates = rng.poisson(rate * peak * span)
    owner = np.repeat(np.arange(len(cust)), n_candidates)
    day = cust["start_day"].to_numpy()[owner] + rng.uniform(0, 1, owner.size) * span[owner]
    doy = (START + pd.to_timedelta(np.floor(day), unit="D")).dayofyear.to_numpy()
    keep = rng.uniform(0, peak, owner.size) < seasonality(doy)
    owner = np.concatenate([np.arange(len(cust)), owner[keep]])  # the first order, then repeats
    day = np.concatenate([cust["start_day"].to_numpy(), np.floor(day[keep])]).astype(int)
    seconds = rng.integers(8 * 3600, 21 * 3600, owner.size)
    orders = pd.DataFrame(
        {"cust": owner, "date": START + pd.to_timedelta(day, unit="D") + pd.to_timedelta(seconds, unit="s")}
    )
    orders = orders.sort_values(["date", "cust"], kind="stable").reset_index(drop=True)
    orders["order_id"] = [f"{500000 + i}" for i in range(len(orders))]
    return orders


def _lines(rng: np.random.Generator, orders: pd.DataFrame, cust: pd.DataFrame, cat: pd.DataFrame) -> pd.DataFrame:
    group = cust["group"].to_numpy()[orders["cust"].to_numpy()]
    n_lines = 1 + np.minimum(rng.poisson(0.8, len(orders)), 4)
    order_idx = np.repeat(np.arange(len(orders)), n_lines)
    line_group = group[order_idx]
    tier_probs = np.array([GROUPS[g]["tiers"] for g in line_group])
    tier = (rng.uniform(size=(len(order_idx), 1)) > np.cumsum(tier_probs, axis=1)).sum(axis=1)
    tier_names = np.array(list(TIER_PRICES))[np.minimum(tier, 2)]
    product = np.empty(len(order_idx), dtype=int)
    for name in TIER_PRICES:
        pool = np.flatnonzero(cat["tier"].to_numpy() == name)
        weights = np.where(cat["price"].to_numpy()[pool] > 1000, 0.05, 1.0)
        at = np.flatnonzero(tier_names == name)
        product[at] = rng.choice(pool, size=at.size, p=weights / weights.sum())
    qty_mean = np.where(line_group == "bargain_hunters", 1.5, 0.4)
    quantity = 1 + rng.poisson(qty_mean)
    discounted = rng.uniform(size=len(orders)) < np.array([GROUPS[g]["discount"] for g in group])
    pct = np.where(discounted, rng.choice([0.1, 0.2, 0.3], size=len(orders)), 0.0)[order_idx]
    list_price = cat["price"].to_numpy()[product]
    paid = np.round(list_price * (1 - pct), 2)
    lines = pd.DataFrame(
        {
            "order_idx": order_idx,
            "product": product,
            "quantity": quantity,
            "unit_price": paid,
            "discount": np.round(quantity * (list_price - paid), 2),
        }
    )
    # A product at most once per order, so no two genuine lines are identical.
    return lines.drop_duplicates(["order_idx", "product"]).reset_index(drop=True)


def _attributes(rng: np.random.Generator, cust: pd.DataFrame) -> pd.DataFrame:
    n = len(cust)
    out = pd.DataFrame({"customer_id": cust["customer_id"]})
    for col, values, k in (("age_band", AGE_BANDS, 0), ("channel", CHANNELS, 1), ("acquisition_source", SOURCES, 2)):
        probs = np.array([_ATTRIBUTE_PROBS[g][k] for g in cust["group"]])
        pick = (rng.uniform(size=(n, 1)) > np.cumsum(probs, axis=1)).sum(axis=1)
        out[col] = np.array(values)[np.minimum(pick, len(values) - 1)]
    out["region"] = rng.choice(REGIONS, size=n, p=[0.22, 0.2, 0.18, 0.15, 0.25])
    first = rng.choice(_FIRST, size=n)
    last = rng.choice(_LAST, size=n)
    out["name"] = [f"{a} {b}" for a, b in zip(first, last)]
    out["email"] = [f"{a.lower()}.{b.lower()}{i}@example.com" for i, (a, b) in enumerate(zip(first, last), 1)]
    out["consent"] = rng.uniform(size=n) < 0.7
    return out


def _survey(rng: np.random.Generator, cust: pd.DataFrame) -> pd.DataFrame:
    take = rng.uniform(size=len(cust)) < 0.4
    sub = cust[take]
    means = np.array([_LATENT_MEANS[g] for g in sub["group"]])
    latent = {
        "price": means[:, 0] + rng.normal(0, 0.6, len(sub)),
        "quality": means[:, 1] + rng.normal(0, 0.6, len(sub)),
    }
    out = pd.DataFrame({"customer_id": sub["customer_id"].to_numpy()})
    for question, (factor, loading) in SURVEY_QUESTIONS.items():
        raw = 3 + 1.2 * loading * latent[factor] + rng.normal(0, 0.7, len(sub))
        out[question] = np.clip(np.round(raw), 1, 5).astype(int)
    return out


def _format_price(values: np.ndarray) -> list[str]:
    return [f"{v:,.2f}" for v in values]


def _plant_dirt(rng: np.random.Generator, tx: pd.DataFrame, horizon: int) -> tuple[pd.DataFrame, dict[str, int]]:
    """Dirty copies/edits on disjoint sets of clean customer lines; counts returned."""
    tx = tx.copy()
    n = len(tx)
    planted: dict[str, int] = {}
    free = np.ones(n, dtype=bool)

    def take(k: int, eligible: np.ndarray | None = None) -> np.ndarray:
        pool = np.flatnonzero(free & (True if eligible is None else eligible))
        chosen = rng.choice(pool, size=min(k, pool.size), replace=False)
        free[chosen] = False
        return chosen

    # Cancellations: a whole line returned a few days later, or one unit of a multi-unit line.
    # Only lines whose (customer, product) pair is unique, so the netting target is unambiguous.
    unique_pair = ~tx.duplicated(["customer_id", "product_id"], keep=False).to_numpy()
    room = (pd.Timestamp(END) - tx["order_date"]).dt.days.to_numpy() >= 15
    cancel_full = take(int(0.02 * n), unique_pair & room)
    cancel_part = take(int(0.01 * n), unique_pair & room & (tx["quantity"].to_numpy() >= 2))
    returns = tx.iloc[np.concatenate([cancel_full, cancel_part])].copy()
    returns["quantity"] = np.concatenate(
        [-tx["quantity"].to_numpy()[cancel_full], -np.ones(cancel_part.size, dtype=int)]
    )
    returns["order_id"] = "C" + returns["order_id"]
    returns["order_date"] = returns["order_date"] + pd.to_timedelta(rng.integers(1, 15, len(returns)), unit="D")
    returns["discount"] = 0.0
    planted["cancellation_lines"] = len(returns)
    planted["fully_returned_purchases"] = cancel_full.size
    planted["partially_returned_purchases"] = cancel_part.size

    bad_date = take(int(0.003 * n))
    future = take(int(0.002 * n))
    zero_price = take(int(0.004 * n))
    negative_price = take(int(0.001 * n))
    duplicated = take(int(0.015 * n))
    planted["unparseable_date"] = bad_date.size
    planted["future_date"] = future.size
    planted["invalid_price"] = zero_price.size + negative_price.size
    planted["duplicate_rows"] = duplicated.size

    text = tx.assign(
        order_date=tx["order_date"].dt.strftime("%Y-%m-%d %H:%M:%S"),
        unit_price=_format_price(tx["unit_price"].to_numpy()),
        quantity=tx["quantity"].astype(str),
        discount=tx["discount"].map("{:.2f}".format),
    )
    text.loc[text.index[bad_date], "order_date"] = rng.choice(
        ["2025-13-45 10:00:00", "not a date", "31/31/2024"], bad_date.size
    )
    future_dates = pd.Timestamp(END) + pd.to_timedelta(rng.integers(1, 180, future.size), unit="D")
    text.loc[text.index[future], "order_date"] = future_dates.strftime("%Y-%m-%d 12:00:00")
    text.loc[text.index[zero_price], "unit_price"] = "0.00"
    text.loc[text.index[negative_price], "unit_price"] = "-4.99"
    pound = take(int(0.01 * n))  # prices written with a currency symbol: parsed, not dirt
    text.loc[text.index[pound], "unit_price"] = ["£" + p for p in text["unit_price"].to_numpy()[pound]]

    returns_text = returns.assign(
        order_date=returns["order_date"].dt.strftime("%Y-%m-%d %H:%M:%S"),
        unit_price=_format_price(returns["unit_price"].to_numpy()),
        quantity=returns["quantity"].astype(str),
        discount="0.00",
    )
    dup_rows = text.iloc[duplicated]
    out = pd.concat([text, dup_rows, returns_text], ignore_index=True)
    return out, planted


def _extra_orders(rng: np.random.Generator, cat: pd.DataFrame, horizon: int) -> tuple[pd.DataFrame, dict[str, int]]:
    """Guest orders (no customer id) and test orders, as text lines."""
    rows = []
    n_guest = 60
    for i in range(n_guest):
        day = START + pd.Timedelta(days=int(rng.integers(0, horizon)), hours=int(rng.integers(8, 21)))
        for p in rng.choice(len(cat), size=int(rng.integers(1, 4)), replace=False):
            rows.append(
                (
                    f"G{700000 + i}",
                    "",
                    day,
                    cat.at[p, "product_id"],
                    cat.at[p, "product_name"],
                    cat.at[p, "category"],
                    cat.at[p, "price"],
                )
            )
    n_guest_lines = len(rows)
    for i in range(5):
        day = START + pd.Timedelta(days=int(rng.integers(0, horizon)), hours=9)
        rows.append((f"T{900000 + i}", TEST_CUSTOMER, day, "P9999", TEST_PRODUCT, "Gifts", 1.0))
    out = pd.DataFrame(
        rows, columns=["order_id", "customer_id", "order_date", "product_id", "product_name", "category", "unit_price"]
    )
    out["order_date"] = out["order_date"].dt.strftime("%Y-%m-%d %H:%M:%S")
    out["unit_price"] = _format_price(out["unit_price"].to_numpy())
    out["quantity"] = "1"
    out["discount"] = "0.00"
    out["channel"] = "web"
    out["country"] = "United Kingdom"
    out["email"] = ""
    out["consent"] = ""
    return out, {"missing_customer_id": n_guest_lines, "test_orders": len(out) - n_guest_lines}


def _campaign(seed: int, cust: pd.DataFrame, cat: pd.DataFrame, tx: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The campaign file and the extra orders it caused (text lines like the export).

    Its own random stream, so adding the campaign leaves every other demo value unchanged."""
    rng = np.random.default_rng([seed, 2025])
    send = pd.Timestamp(CAMPAIGN["send_date"])
    send_day = (send - START).days
    sent = cust[cust["start_day"] < send_day].reset_index(drop=True)
    n_offer = len(sent) // 2
    variant = rng.permutation(np.repeat(["offer", "control"], [n_offer, len(sent) - n_offer]))
    campaign = pd.DataFrame(
        {
            "customer_id": sent["customer_id"],
            "campaign": CAMPAIGN["name"],
            "variant": variant,
            "send_date": CAMPAIGN["send_date"],
            "cost_per_contact": CAMPAIGN["cost_per_contact"],
        }
    )
    uplift = sent["group"].map(CAMPAIGN["uplift"]).fillna(0.0).to_numpy()
    alive = sent["end_day"].to_numpy() >= send_day
    responders = sent[(variant == "offer") & alive & (rng.uniform(size=len(sent)) < uplift)]
    profile = tx.drop_duplicates("customer_id").set_index("customer_id")
    budget = cat[cat["tier"] == "budget"].reset_index(drop=True)
    rows = []
    for i, customer in enumerate(responders["customer_id"]):
        when = send + pd.Timedelta(days=int(rng.integers(0, CAMPAIGN["window_days"])), hours=int(rng.integers(8, 21)))
        for p in rng.choice(len(budget), size=int(rng.integers(1, 3)), replace=False):
            price = budget.at[p, "price"]
            quantity = int(1 + rng.poisson(1.5))
            rows.append(
                {
                    "order_id": f"{800000 + i}",
                    "customer_id": customer,
                    "order_date": when,
                    "product_id": budget.at[p, "product_id"],
                    "product_name": budget.at[p, "product_name"],
                    "category": budget.at[p, "category"],
                    "quantity": str(quantity),
                    "unit_price": round(price * 0.8, 2),
                    "discount": f"{quantity * (price - round(price * 0.8, 2)):.2f}",
                    **{c: profile.at[customer, c] for c in ("channel", "country", "email", "consent")},
                }
            )
    orders = pd.DataFrame(rows, columns=list(tx.columns))
    orders["order_date"] = pd.to_datetime(orders["order_date"]).dt.strftime("%Y-%m-%d %H:%M:%S")
    orders["unit_price"] = _format_price(orders["unit_price"].to_numpy(float))
    return campaign, orders


def generate(n_customers: int = 3000, seed: int = 42) -> DemoData:
    """The demo shop for ``n_customers`` customers between 2024-01-01 and 2025-12-31 (as_of).

    Same ``(n_customers, seed)`` -> identical output.
    """
    if n_customers < 1:
        raise ValueError("n_customers must be at least 1")
    rng = np.random.default_rng(seed)
    horizon = (END - START).days + 1
    cat = _catalogue(rng)
    cust = _customers(rng, n_customers, horizon)
    orders = _orders(rng, cust)
    lines = _lines(rng, orders, cust, cat)
    attributes = _attributes(rng, cust)
    order = orders.iloc[lines["order_idx"].to_numpy()].reset_index(drop=True)
    who = attributes.iloc[order["cust"].to_numpy()].reset_index(drop=True)
    product = cat.iloc[lines["product"].to_numpy()].reset_index(drop=True)
    country = rng.choice(["United Kingdom", "Ireland", "France", "Germany"], size=len(cust), p=[0.85, 0.07, 0.04, 0.04])
    tx = pd.DataFrame(
        {
            "order_id": order["order_id"],
            "customer_id": who["customer_id"],
            "order_date": order["date"],
            "product_id": product["product_id"],
            "product_name": product["product_name"],
            "category": product["category"],
            "quantity": lines["quantity"],
            "unit_price": lines["unit_price"],
            "discount": lines["discount"],
            "channel": who["channel"],
            "country": country[order["cust"].to_numpy()],
            "email": who["email"],
            "consent": np.where(who["consent"], "yes", "no"),
        }
    )
    dirty, planted = _plant_dirt(rng, tx, horizon)
    extra, planted_extra = _extra_orders(rng, cat, horizon)
    planted.update(planted_extra)
    campaign, responses = _campaign(seed, cust, cat, tx)
    transactions = pd.concat([dirty, extra, responses], ignore_index=True)
    when = pd.to_datetime(transactions["order_date"], format="%Y-%m-%d %H:%M:%S", errors="coerce")
    transactions = transactions.iloc[np.lexsort((np.arange(len(when)), when.fillna(END).to_numpy()))].reset_index(
        drop=True
    )
    ground_truth = cust[["customer_id", "group", "churn_date"]].copy()
    ground_truth["first_order_date"] = (START + pd.to_timedelta(cust["start_day"], unit="D")).astype("datetime64[ns]")
    return DemoData(
        transactions=transactions,
        attributes=attributes,
        survey=_survey(rng, cust),
        ground_truth=ground_truth,
        planted=planted,
        campaign=campaign,
    )


def simulate_bgnbd(n: int, seed: int = 0, r=0.243, alpha=4.414, a=0.793, b=2.426, p=6.25, q=3.74, gamma=15.44):
    """(x, t_x, T, mean repeat spend) for ``n`` customers drawn from the BG/NBD and
    Gamma-Gamma processes themselves (defaults: the CDNOW estimates), observed for
    T ~ Uniform(1, 78) weeks and recorded at daily resolution. For model-recovery tests and
    benchmarks."""
    rng = np.random.default_rng(seed)
    T = np.round(rng.uniform(1, 78, n) * 7) / 7
    lam = rng.gamma(r, 1 / alpha, n)
    dropout = rng.beta(a, b, n)
    x = np.zeros(n)
    t_x = np.zeros(n)
    alive = np.ones(n, bool)
    clock = np.zeros(n)
    while alive.any():
        idx = np.flatnonzero(alive)
        clock[idx] += rng.exponential(1 / lam[idx])
        buys = idx[clock[idx] <= T[idx]]
        alive[idx[clock[idx] > T[idx]]] = False
        x[buys] += 1
        t_x[buys] = clock[buys]
        alive[buys[rng.uniform(size=buys.size) < dropout[buys]]] = False
    t_x = np.round(t_x * 7) / 7
    nu = rng.gamma(q, 1 / gamma, n)
    spend = np.where(x > 0, rng.gamma(p * np.maximum(x, 1), 1 / (nu * np.maximum(x, 1))), 0.0)
    return x, t_x, T, spend


def simulate_cnbd(
    n: int,
    k: int,
    r: float,
    alpha: float,
    a: float,
    b: float,
    dropout_at_zero: bool,
    seed: int = 0,
    T_range: tuple[float, float] = (36.0, 96.0),
    holdout: float = 36.0,
) -> dict[str, np.ndarray]:
    """Customers drawn from the (M)BG/CNBD-k process: lambda ~ Gamma(r, alpha), p ~ Beta(a, b),
    Erlang-k gaps of rate lambda, drop-out with p after each purchase (and at the first when
    ``dropout_at_zero``), observed for T ~ Uniform(``T_range``) periods and ``holdout`` more.
    Returns x, t_x, T, litt (sum of log gaps), x_star (purchases in the holdout) and alive
    (still active at T). For model-recovery tests and benchmarks."""
    rng = np.random.default_rng(seed)
    T = rng.uniform(*T_range, n)
    lam = rng.gamma(r, 1 / alpha, n)
    p = rng.beta(a, b, n)
    x, t_x, litt, x_star = np.zeros(n), np.zeros(n), np.zeros(n), np.zeros(n)
    clock = np.zeros(n)
    active = rng.uniform(size=n) >= p if dropout_at_zero else np.ones(n, bool)
    alive_at_T = active.copy()
    while active.any():
        idx = np.flatnonzero(active)
        gap = rng.gamma(k, 1 / lam[idx])
        clock[idx] += gap
        late = clock[idx] > T[idx]
        alive_at_T[idx[late]] = True
        in_holdout = idx[late & (clock[idx] <= T[idx] + holdout)]
        x_star[in_holdout] += 1
        active[idx[clock[idx] > T[idx] + holdout]] = False
        buys = idx[~late]
        x[buys] += 1
        t_x[buys] = clock[buys]
        litt[buys] += np.log(gap[~late])
        bought = np.concatenate([buys, in_holdout])
        drops = bought[rng.uniform(size=bought.size) < p[bought]]
        active[drops] = False
        alive_at_T[drops[np.isin(drops, buys)]] = False
    return {"x": x, "t_x": t_x, "T": T, "litt": litt, "x_star": x_star, "alive": alive_at_T}
