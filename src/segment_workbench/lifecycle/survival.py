"""Churn as survival: who leaves, when, and what known-early traits go with leaving.

Definitions (days throughout):

- A customer has **churned** when their last purchase is more than ``threshold_days`` before
  ``as_of``. ``suggest_threshold`` proposes a threshold from the gaps between purchases.
- **duration** = days from the first purchase to the last purchase, plus one (the first day
  counts) for churned customers; days from the first purchase to as_of, plus one, for the
  others, who are **right-censored**: still inside the window, their end is not yet seen.
- Kaplan–Meier curves, median lifetimes with 95% intervals and the log-rank test come from
  lifelines; so does the Cox model of churn drivers (hazard ratios > 1: leave sooner).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from lifelines import CoxPHFitter, KaplanMeierFitter
from lifelines.statistics import multivariate_logrank_test, proportional_hazard_test
from lifelines.utils import median_survival_times

from segment_workbench.customers import engine
from segment_workbench.errors import InputError


def suggest_threshold(transactions, quantile: float = 0.9) -> int:
    """The ``quantile`` of the days between consecutive purchase days of a customer, rounded up
    to whole weeks (days): 90% of returning customers come back within it. 180 days when nobody
    bought twice. ``transactions``: cleaned lines as ``segment_workbench.customers.engine`` takes them,
    or their ``engine.PurchaseDays``."""
    (gap,) = engine.gap_quantiles(engine.lines_table(transactions, ["customer_id", "order_date"]), [quantile])
    return 180 if gap is None else int(np.ceil(gap / 7) * 7)


def survival_data(customers: pd.DataFrame, threshold_days: int) -> pd.DataFrame:
    """customer_id, duration (days), churned (event observed) from the customer table."""
    if threshold_days <= 0:
        raise InputError(f"The churn threshold must be a positive number of days; got {threshold_days}.")
    churned = customers["days_since_last_order"] > threshold_days
    active_days = (customers["last_purchase"] - customers["first_purchase"]).dt.days
    duration = np.where(churned, active_days, customers["tenure_days"]) + 1
    return pd.DataFrame(
        {
            "customer_id": customers["customer_id"].to_numpy(),
            "duration": duration.astype(float),
            "churned": churned.to_numpy(),
        }
    )


def kaplan_meier(data: pd.DataFrame, group: pd.Series) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """Kaplan–Meier per group (aligned with ``data``).

    Returns (curves: group, days, survival, lower, upper), (medians: group, customers, churned,
    median_days, median_lower, median_upper; inf = more than half never churned in the data)
    and the log-rank test across groups {statistic, p_value, groups} (NaN with one group).
    """
    curves, medians = [], []
    labels = pd.Series(np.asarray(group), index=data.index).fillna("(none)").astype(str)
    for name, part in data.groupby(labels, sort=True):
        kmf = KaplanMeierFitter().fit(part["duration"], part["churned"], label=name)
        band = kmf.confidence_interval_
        curves.append(
            pd.DataFrame(
                {
                    "group": name,
                    "days": kmf.survival_function_.index,
                    "survival": kmf.survival_function_[name].to_numpy(),
                    "lower": band.iloc[:, 0].to_numpy(),
                    "upper": band.iloc[:, 1].to_numpy(),
                }
            )
        )
        ci = median_survival_times(band)
        medians.append(
            {
                "group": name,
                "customers": len(part),
                "churned": int(part["churned"].sum()),
                "median_days": kmf.median_survival_time_,
                "median_lower": float(ci.iloc[0, 0]),
                "median_upper": float(ci.iloc[0, 1]),
            }
        )
    test = {"statistic": float("nan"), "p_value": float("nan"), "groups": labels.nunique()}
    if labels.nunique() > 1 and data["churned"].any():
        result = multivariate_logrank_test(data["duration"], labels, data["churned"])
        test.update(statistic=float(result.test_statistic), p_value=float(result.p_value))
    return pd.concat(curves, ignore_index=True), pd.DataFrame(medians), test


def early_covariates(transactions, attributes: pd.DataFrame | None = None) -> pd.DataFrame:
    """Traits known at or soon after the first purchase, per customer (index customer_id):
    log2 of the first order's value (so a hazard ratio is per doubling), the first order's
    discount share, its main category and country (most of its value; ties: sort order), and
    sign-up attributes when present. ``transactions``: cleaned lines as
    ``segment_workbench.customers.engine`` takes them."""
    lines = engine.lines_table(transactions, ["customer_id", "order_date", "amount", "discount", "category", "country"])
    first = engine.first_day_lines(lines).cache()  # read three times
    sums = {"value": engine.exact_sum(first.amount)}
    if "discount" in first.columns:
        sums["discount"] = engine.exact_sum(first.discount.fill_null(0))
    totals = engine.frame(first.group_by("customer_id").aggregate(**sums), ["customer_id"]).set_index("customer_id")
    out = pd.DataFrame({"first_order_value_log2": np.log2(totals["value"].clip(lower=0.01))})
    if "discount" in totals:
        out["first_order_discount_share"] = totals["discount"] / (totals["value"] + totals["discount"])
    for column in ("category", "country"):
        if column in first.columns:
            main = engine.main_value(first, column, weight="amount")
            if len(main):
                out[f"first_order_{column}"] = main
    if attributes is not None:
        out = out.join(attributes.set_index("customer_id"), how="left")
    return out


#: Above this many customers the proportional-hazards test runs on a random sample of this
#: size: lifelines' Schoenfeld residuals grow with customers x event times (a 500k-customer
#: shop did not finish in 10 minutes), and at that size the test flags trivial departures anyway.
PH_TEST_SAMPLE = 50_000
#: Above this many customers the hazard ratios are estimated on a random sample of this size:
#: lifelines' fit on 5M customers took 90 s and 7 GB, and a million customers pin a hazard
#: ratio down to about a hundredth.
COX_SAMPLE = 1_000_000


def cox_drivers(
    data: pd.DataFrame,
    covariates: pd.DataFrame,
    min_share: float = 0.02,
    penalizer: float = 0.01,
    random_state: int = 0,
) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """Cox proportional hazards of churn on the covariates (aligned with ``data`` by customer_id).

    Categorical covariates are one-hot encoded against their most common level; levels held by
    fewer than ``min_share`` of customers are pooled into "other"; a covariate with one level
    is dropped and named in the notes. Returns (drivers: covariate, hazard_ratio, lower, upper,
    p_value, ph_p_value), the lifelines summary, and notes. Raises InputError without churn
    events or usable covariates. The model is fitted on a random ``COX_SAMPLE`` customers when
    there are more, and the proportional-hazards test (ph_p_value) refits on a random
    ``PH_TEST_SAMPLE`` of them (both said in the notes).
    """
    if not data["churned"].any():
        raise InputError(
            "No customer has churned under this threshold, so churn drivers cannot be estimated.",
            hint="Lower the churn threshold (survival.threshold_days) or use a longer history.",
        )
    frame = covariates.reindex(data["customer_id"]).reset_index(drop=True)
    notes, design = [], pd.DataFrame(index=frame.index)
    for column in frame.columns:
        values = frame[column]
        if pd.api.types.is_numeric_dtype(values):
            if values.nunique() > 1:
                design[column] = values.fillna(values.median())
            else:
                notes.append(f"{column} has a single value and was left out.")
            continue
        values = values.astype("string").fillna("unknown")
        shares = values.value_counts(normalize=True)
        values = values.where(values.isin(shares[shares >= min_share].index), "other")
        if values.nunique() < 2:
            notes.append(f"{column} has a single level and was left out.")
            continue
        baseline = values.value_counts().index[0]
        dummies = pd.get_dummies(values, prefix=column, prefix_sep="=", dtype=float).drop(
            columns=f"{column}={baseline}"
        )
        design = design.join(dummies)
        notes.append(f"{column}: compared with {baseline}.")
    if design.empty:
        raise InputError("No covariate varies between customers: no churn drivers to estimate.")
    fit_frame = design.assign(duration=data["duration"].to_numpy(), churned=data["churned"].astype(int).to_numpy())
    if len(fit_frame) > COX_SAMPLE:
        notes.append(f"The hazard ratios are estimated on a random {COX_SAMPLE:,} of the {len(fit_frame):,} customers.")
        fit_frame = fit_frame.sample(n=COX_SAMPLE, random_state=random_state)
    cph = CoxPHFitter(penalizer=penalizer).fit(fit_frame, duration_col="duration", event_col="churned")
    summary = cph.summary
    ph_frame, ph_model = fit_frame, cph
    if len(fit_frame) > PH_TEST_SAMPLE:
        ph_frame = fit_frame.sample(n=PH_TEST_SAMPLE, random_state=random_state)
        ph_model = CoxPHFitter(penalizer=penalizer).fit(ph_frame, duration_col="duration", event_col="churned")
        notes.append(f"The proportional-hazards test used a random {PH_TEST_SAMPLE:,} of the {len(data):,} customers.")
    ph = proportional_hazard_test(ph_model, ph_frame, time_transform="rank").summary["p"]
    drivers = pd.DataFrame(
        {
            "covariate": summary.index,
            "hazard_ratio": summary["exp(coef)"].to_numpy(),
            "lower": summary["exp(coef) lower 95%"].to_numpy(),
            "upper": summary["exp(coef) upper 95%"].to_numpy(),
            "p_value": summary["p"].to_numpy(),
            "ph_p_value": ph.reindex(summary.index).to_numpy(),
        }
    )
    return drivers, summary, notes


def driver_sentences(drivers: pd.DataFrame, alpha: float = 0.05) -> list[str]:
    """A plain sentence per significant driver (p < ``alpha``), strongest evidence first, e.g.
    "Customers with channel app have a 48% lower churn rate at any given time than the
    comparison group (hazard ratio 0.52, 95% CI 0.46–0.58)."."""
    sentences = []
    for row in drivers[drivers["p_value"] < alpha].sort_values("p_value").itertuples():
        change = row.hazard_ratio - 1
        amount = f"a {abs(change):.0%} {'higher' if change > 0 else 'lower'} churn rate at any given time"
        if row.covariate == "first_order_value_log2":
            subject = "Each doubling of the first order's value goes with"
        elif row.covariate == "first_order_discount_share":
            subject = "A fully discounted first order (compared with no discount) goes with"
        else:
            column, _, level = row.covariate.partition("=")
            subject = f"Customers with {column.replace('_', ' ')} {level} have"
            amount += " than the comparison group"
        sentences.append(
            f"{subject} {amount} (hazard ratio {row.hazard_ratio:.2f}, 95% CI {row.lower:.2f}–{row.upper:.2f})."
        )
    return sentences
