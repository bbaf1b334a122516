"""Customer valuation for 05_cltv: model comparison and choice, the per-customer CLV table
with prediction intervals, and CLV rolled up by group (segment)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from segment_workbench import clv
from segment_workbench.clv import holdout as calibration
from segment_workbench.config import unit_days
from segment_workbench.customers import engine
from segment_workbench.errors import ConfigError, InputError

#: The repeat-purchase models, simplest first (a tie in the holdout error goes to the first).
MODELS = {
    "bg_nbd": clv.BetaGeoModel,
    "pareto_nbd": clv.ParetoNBDModel,
    "mbg_nbd": clv.ModifiedBetaGeoModel,
    "bg_cnbd_k": clv.BetaGeoCNBDModel,
    "mbg_cnbd_k": clv.ModifiedBetaGeoCNBDModel,
}
MODEL_LABELS = {
    "bg_nbd": "BG/NBD",
    "pareto_nbd": "Pareto/NBD",
    "mbg_nbd": "MBG/NBD",
    "bg_cnbd_k": "BG/CNBD-k",
    "mbg_cnbd_k": "MBG/CNBD-k",
}


def fit_transaction_model(
    name: str, table: pd.DataFrame, time_unit: str, random_state: int = 0
) -> clv.TransactionModel:
    """Fit the named model on a customer table built in ``time_unit`` (the regularity models
    also read its ``litt``)."""
    if name not in MODELS:
        raise ConfigError(f"clv.model must be one of {', '.join(MODELS)} or auto, got {name!r}.")
    model = MODELS[name](random_state=random_state)
    args = (table["frequency"], table["recency"], table["T"])
    if isinstance(model, clv.BetaGeoCNBDModel):
        return model.fit(*args, time_unit=time_unit, litt=table["litt"])
    return model.fit(*args, time_unit=time_unit)


def model_label(name: str, model: clv.TransactionModel) -> str:
    """The model's label, with its k where it has one: "MBG/CNBD-k (k = 2)"."""
    k = getattr(model, "k_", None)
    return f"{MODEL_LABELS[name]} (k = {k})" if name.endswith("cnbd_k") and k is not None else MODEL_LABELS[name]


def fit_note(name: str, model: clv.TransactionModel) -> str:
    """One line on a fit: its label, convergence (a warning when it did not converge) and, for
    the regularity models, the log-likelihood at each k tried."""
    flag = "" if model.converged_ else " **WARNING: not converged — do not trust this fit.**"
    tried = getattr(model, "k_log_likelihoods_", None)
    by_k = (
        " k chosen by likelihood; log-likelihood by k: " + ", ".join(f"{k}: {v:,.1f}" for k, v in tried.items()) + "."
        if tried is not None and len(tried) > 1
        else ""
    )
    return f"**{model_label(name, model)}**: {model.convergence_message_}.{flag}{by_k}"


def holdout_scorecard(models: dict[str, clv.TransactionModel], holdout: calibration.Holdout) -> pd.DataFrame:
    """``calibration.scorecard`` of every model and the two baselines on the holdout, with each
    row's label and (models only) convergence; baselines are always "converged"."""
    predictions = {name: calibration.predicted_holdout(model, holdout) for name, model in models.items()}
    predictions.update(calibration.baseline_predictions(holdout))
    card = calibration.scorecard(predictions, holdout.table["frequency_holdout"].to_numpy())
    labels = {name: model_label(name, model) for name, model in models.items()}
    labels |= {k: f"baseline: {v}" for k, v in calibration.BASELINES.items()}
    card.insert(1, "label", card["model"].map(labels))
    card["converged"] = [models[m].converged_ if m in models else True for m in card["model"]]
    return card


def choose_model(scorecard: pd.DataFrame, requested: str) -> str:
    """The requested model, or with ``auto`` the converged model with the lowest holdout
    relative MAE (Σ|error| / Σ actual); a tie goes to the simpler model, in ``MODELS`` order."""
    if requested != "auto":
        if requested not in MODELS:
            raise ConfigError(f"clv.model must be one of {', '.join(MODELS)} or auto, got {requested!r}.")
        return requested
    card = scorecard[scorecard["model"].isin(MODELS)].assign(order=lambda f: f["model"].map(list(MODELS).index))
    usable = card[card["converged"]]
    best = (usable if len(usable) else card).sort_values(["relative_mae", "order"])
    return str(best.iloc[0]["model"])


#: The windows of the per-customer purchase probabilities, in days.
PURCHASE_WINDOWS = (30, 90)


def purchase_outlook(
    model: clv.TransactionModel, customers: pd.DataFrame, as_of: pd.Timestamp, time_unit: str
) -> pd.DataFrame:
    """Per customer: the probability of at least one purchase in the next 30 and 90 days, and
    the window of the next purchase if they stay active (median and 80% interval, as dates
    after ``as_of``): what hosted shop tools show per customer."""
    per = unit_days(time_unit)
    args = (customers["frequency"], customers["recency"], customers["T"])
    out = pd.DataFrame({"customer_id": customers["customer_id"].to_numpy()})
    for days in PURCHASE_WINDOWS:
        out[f"p_purchase_{days}d"] = model.prob_purchase(days / per, *args)
    waits = model.next_purchase_quantiles([0.1, 0.5, 0.9], *args) * per  # days
    for column, wait in zip(
        ["next_purchase_early", "next_purchase_median", "next_purchase_late"], waits.T, strict=True
    ):
        out[column] = pd.Timestamp(as_of).normalize() + pd.to_timedelta(np.ceil(np.minimum(wait, 36_500)), unit="D")
    return out


def purchase_check(model: clv.TransactionModel, holdout: calibration.Holdout, transactions, days: int = 90) -> dict:
    """The ``days``-day purchase probability of the calibration fit against who actually bought
    in the first ``days`` days of the holdout: its AUC, and mean predicted vs actual share."""
    from sklearn.metrics import roc_auc_score

    table = holdout.table
    predicted = model.prob_purchase(
        days / unit_days(holdout.time_unit), table["frequency"], table["recency"], table["T"]
    )
    lines = engine.lines_table(transactions, ["customer_id", "order_date", "amount"])
    end = holdout.calibration_end + pd.Timedelta(days=days)
    buyers = engine.activity_between(lines, holdout.calibration_end, end)["customer_id"]
    bought = table["customer_id"].isin(buyers).to_numpy()
    auc = float(roc_auc_score(bought, predicted)) if 0 < bought.sum() < len(bought) else float("nan")
    return {"days": days, "auc": auc, "predicted_share": float(predicted.mean()), "actual_share": float(bought.mean())}


def scorecard_sentences(card: pd.DataFrame, chosen: str, requested: str) -> str:
    """Two sentences reading the scorecard: the chosen model's relative MAE and bias against the
    better baseline, and whether it ranks customers and tells buyers apart."""
    rows = card.set_index("model")
    model = rows.loc[chosen]
    baseline = rows.loc[list(calibration.BASELINES)].sort_values("relative_mae").iloc[0]
    how = "as configured" if requested != "auto" else "lowest relative MAE"
    better = "better than" if model["relative_mae"] < baseline["relative_mae"] else "no better than"
    return (
        f"{model['label']} ({how}) misses the holdout purchases by {model['relative_mae']:.0%} of their total "
        f"and {'over' if model['bias'] > 0 else 'under'}estimates the total by {abs(model['bias']):.0%}: {better} the "
        f"best naive baseline ({baseline['label'].removeprefix('baseline: ')}, {baseline['relative_mae']:.0%}). "
        f"It ranks customers with a Spearman correlation of {model['spearman']:.2f} and tells who buys again with an "
        f"AUC of {model['auc']:.2f} (0.5 = a coin toss)."
    )


#: Past this many customers the final model is fitted on a random sample of this size (and then
#: predicts for everyone): at 5M customers a Pareto/NBD fit on all took minutes, and a million
#: customers pin its four parameters down to well within their standard errors' use.
FINAL_FIT_SAMPLE = 1_000_000


def fit_final(
    chosen: str, customers: pd.DataFrame, time_unit: str, random_state: int = 0, sample: int = FINAL_FIT_SAMPLE
) -> tuple[str, clv.TransactionModel, str]:
    """Refit the chosen model on the customers up to as_of (on a random ``sample`` of them when
    there are more). If it does not converge there, the first of the other models (in
    ``MODELS`` order) that converges is used; the returned note says what happened. Raises
    InputError when none converges."""
    sampled = ""
    if len(customers) > sample:
        customers = customers.sample(sample, random_state=random_state)
        sampled = f" Fitted on a random sample of {sample:,} customers; it predicts for every customer."
    model = fit_transaction_model(chosen, customers, time_unit, random_state)
    if model.converged_:
        return chosen, model, f"{model_label(chosen, model)}: {model.convergence_message_}.{sampled}"
    failures = [f"{MODEL_LABELS[chosen]}: {model.convergence_message_}"]
    for other in (n for n in MODELS if n != chosen):
        fallback = fit_transaction_model(other, customers, time_unit, random_state)
        if fallback.converged_:
            return (
                other,
                fallback,
                (
                    f"{MODEL_LABELS[chosen]} did not converge in the final fit "
                    f"({model.convergence_message_}); {model_label(other, fallback)} is used instead: "
                    f"{fallback.convergence_message_}.{sampled}"
                ),
            )
        failures.append(f"{MODEL_LABELS[other]}: {fallback.convergence_message_}")
    raise InputError(
        f"No repeat-purchase model converged on this data. {'. '.join(failures)}.",
        hint="Check the cleaning log for odd data, or set clv.holdout_periods / a longer history.",
    )


def fit_spend(
    customers: pd.DataFrame, random_state: int = 0, in_visits: bool = False
) -> tuple[clv.GammaGammaModel | clv.MeanSpendModel, str]:
    """Gamma-Gamma on the repeat customers; if it does not converge, or every purchase has the
    same value (a visit log: each visit counts 1, or ``value_per_visit``), the mean value per
    order for everyone. The note says which, and why."""
    args = (customers["frequency"], customers["monetary_value"])
    repeat_values = customers.loc[customers["frequency"] > 0, "monetary_value"]
    if repeat_values.nunique() <= 1:
        constant = clv.MeanSpendModel().fit(*args, customers["revenue_total"], customers["n_orders"])
        return constant, (
            "A visit log: the measure is the expected number of visits (no model of amounts)."
            if in_visits
            else f"Every purchase has the same value ({constant.mean_:,.2f}): no spend model is needed."
        )
    try:
        spend = clv.GammaGammaModel(random_state=random_state).fit(*args)
    except InputError as exc:
        reason = exc.problem
    else:
        if spend.converged_:
            return spend, (
                f"Gamma-Gamma spend model on {spend.n_customers_:,} repeat customers ({spend.n_excluded_:,} "
                f"without repeat purchases or positive spend are left out of the fit and get the "
                f"average): {spend.convergence_message_}."
            )
        reason = spend.convergence_message_
    fallback = clv.MeanSpendModel().fit(*args, customers["revenue_total"], customers["n_orders"])
    return fallback, (
        f"WARNING: the Gamma-Gamma spend model could not be used ({reason}); every future order "
        f"is valued at the average order value, {fallback.mean_:,.2f}, and the intervals leave "
        "out the uncertainty of spend."
    )


#: The simulated values kept at once (customers x draws, 8 bytes each: 0.4 GB), and the fewest
#: draws a customer's interval comes from: at 5M customers 300 draws would take 12 GB.
SIMULATION_CELLS = 50_000_000
MIN_SIMULATIONS = 30


def simulations(customers: int, wanted: int) -> int:
    """The draws made for ``customers`` when ``wanted`` are asked for (see ``customer_values``)."""
    return min(wanted, max(MIN_SIMULATIONS, SIMULATION_CELLS // max(customers, 1)))


def customer_values(
    model: clv.TransactionModel,
    spend: clv.GammaGammaModel | clv.MeanSpendModel,
    customers: pd.DataFrame,
    *,
    horizon: int,
    discount_rate: float,
    margin: float,
    n_simulations: int,
    interval: float,
    random_state: int,
) -> tuple[pd.DataFrame, np.ndarray]:
    """The clv.parquet table and the simulation matrix (customers x draws).

    Columns: customer_id, p_alive, expected_purchases (over the horizon), expected_order_value,
    clv (expected discounted profit over the horizon), clv_low, clv_high (the central
    ``interval`` of the simulated values). Durations are in the model's time unit. The matrix
    holds at most ``SIMULATION_CELLS`` values: past that many customers x ``n_simulations``,
    fewer draws are made (``simulations``), never fewer than ``MIN_SIMULATIONS``.
    """
    unit = model.time_unit_
    for fitted in (model, spend):
        if not fitted.converged_:
            raise InputError(
                f"{type(fitted).__name__} did not converge: {fitted.convergence_message_}. "
                "Its predictions would not be trustworthy."
            )
    x, t_x, T, m = (customers[c].to_numpy(float) for c in ("frequency", "recency", "T", "monetary_value"))
    value = clv.lifetime_value(
        model, spend, x, t_x, T, m, horizon=horizon, discount_rate=discount_rate, margin=margin, time_unit=unit
    )
    sims = clv.simulate_lifetime_value(
        model,
        spend,
        x,
        t_x,
        T,
        m,
        horizon=horizon,
        discount_rate=discount_rate,
        margin=margin,
        n_simulations=simulations(len(customers), n_simulations),
        random_state=random_state,
        time_unit=unit,
    )
    tail = (1 - interval) / 2 * 100
    low, high = np.percentile(sims, [tail, 100 - tail], axis=1)
    table = pd.DataFrame(
        {
            "customer_id": customers["customer_id"].to_numpy(),
            "p_alive": model.p_alive(x, t_x, T),
            "expected_purchases": model.expected_purchases(horizon, x, t_x, T, time_unit=unit),
            "expected_order_value": spend.expected_average_value(x, m),
            "clv": value,
            "clv_low": low,
            "clv_high": high,
        }
    )
    return table, sims


def group_values(values: pd.DataFrame, sims: np.ndarray, groups: pd.Series, interval: float) -> pd.DataFrame:
    """CLV per group: customers, total and mean CLV, each with its prediction interval (from the
    simulated group totals, so the customers' randomness partly averages out)."""
    labels = pd.Series(np.asarray(groups), index=values.index).fillna("(none)").astype(str)
    tail = (1 - interval) / 2 * 100
    rows = []
    for label, idx in labels.groupby(labels).groups.items():
        pos = values.index.get_indexer(idx)
        totals = sims[pos].sum(axis=0)
        n = len(pos)
        low, high = np.percentile(totals, [tail, 100 - tail])
        rows.append(
            {
                "group": label,
                "customers": n,
                "clv_total": values["clv"].iloc[pos].sum(),
                "clv_total_low": low,
                "clv_total_high": high,
                "clv_mean": values["clv"].iloc[pos].mean(),
                "clv_mean_low": low / n,
                "clv_mean_high": high / n,
                "p_alive_mean": values["p_alive"].iloc[pos].mean(),
            }
        )
    return pd.DataFrame(rows).sort_values("clv_total", ascending=False).reset_index(drop=True)


def value_tiers(values: pd.DataFrame) -> pd.Series:
    """Customers by CLV rank: top 10%, next 20%, middle 40%, bottom 30% (used when no segments exist)."""
    rank = values["clv"].rank(pct=True, method="first")
    return pd.cut(rank, [0, 0.3, 0.7, 0.9, 1.0], labels=["bottom 30%", "middle 40%", "next 20%", "top 10%"]).astype(str)


def params_record(
    name: str,
    model: clv.TransactionModel,
    spend: clv.GammaGammaModel | clv.MeanSpendModel,
    holdout: calibration.Holdout,
    settings: dict[str, Any],
) -> dict[str, Any]:
    """What clv_params.json holds: models, parameters, log-likelihoods, units and windows."""
    return {
        "model": name,
        "params": model.params_.to_dict() | ({"k": int(model.k_)} if hasattr(model, "k_") else {}),
        "log_likelihood": model.log_likelihood_,
        "converged": model.converged_,
        "convergence": model.convergence_message_,
        "spend_model": "gamma_gamma" if isinstance(spend, clv.GammaGammaModel) else "mean_spend",
        "spend_params": spend.params_.to_dict(),
        "spend_log_likelihood": spend.log_likelihood_,
        "spend_converged": spend.converged_,
        "spend_customers": spend.n_customers_,
        "spend_excluded": spend.n_excluded_,
        "time_unit": model.time_unit_,
        "calibration_end": str(holdout.calibration_end.date()),
        "holdout_end": str(holdout.holdout_end.date()),
        "settings": settings,
    }
