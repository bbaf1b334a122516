"""Customer lifetime value from a repeat-purchase model and a spend model: the expected value
over a horizon, discounted, and simulated intervals."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from segment_workbench.clv.base import TransactionModel, _as_array, _compress, _validate_unit, check_rfm
from segment_workbench.clv.spend import GammaGammaModel, MeanSpendModel
from segment_workbench.config import TIME_UNIT_DAYS
from segment_workbench.errors import InputError


def lifetime_value(
    transaction_model: TransactionModel,
    spend_model: GammaGammaModel | MeanSpendModel,
    frequency,
    recency,
    T,
    monetary_value,
    horizon: int,
    discount_rate: float = 0.0,
    margin: float = 1.0,
    time_unit: str | None = None,
    transaction_params=None,
    spend_params=None,
) -> np.ndarray:
    """Discounted expected profit over the next ``horizon`` periods per customer.

    ``horizon`` counts periods of the models' time unit; ``discount_rate`` is per period
    (e.g. 0.0019 per week ~ 10% a year); ``margin`` is the profit share of revenue. Purchases
    expected in period i are discounted by (1 + discount_rate) ** -i.
    """
    transaction_model._check_unit(time_unit)
    if horizon < 1:
        raise InputError(f"The CLV horizon must be at least one period; got {horizon}.")
    x, t_x, T_ = check_rfm(frequency, recency, T)
    unique, _, inverse = _compress(x, t_x, T_)
    params = transaction_model.params_.to_numpy() if transaction_params is None else transaction_params
    periods = np.arange(0, horizon + 1)
    alive = transaction_model._p_alive(params, unique[:, 0], unique[:, 1], unique[:, 2])  # the same for every period
    cumulative = np.column_stack(
        [
            transaction_model._expected_if_alive(params, float(i), *unique.T) * alive if i else np.zeros(len(unique))
            for i in periods
        ]
    )
    per_period = np.diff(cumulative, axis=1)
    discounted = per_period @ (1.0 + discount_rate) ** -periods[1:]
    value = spend_model.expected_average_value(x, monetary_value, params=spend_params)
    return margin * value * discounted[inverse]


def simulate_lifetime_value(
    transaction_model: TransactionModel,
    spend_model: GammaGammaModel | MeanSpendModel,
    frequency,
    recency,
    T,
    monetary_value,
    horizon: int,
    discount_rate: float = 0.0,
    margin: float = 1.0,
    n_simulations: int = 200,
    random_state: int = 0,
    time_unit: str | None = None,
) -> np.ndarray:
    """Simulated discounted profit over the horizon, shape (customers, n_simulations).

    Each simulation draws the models' parameters from their asymptotic distribution
    (uncertainty of the estimates), then each customer's latent rates from their posterior
    given the history, then the future purchases and their spend (the customer's own
    randomness). Percentiles of a row are a prediction interval for that customer; of the
    column sums, for a group. The row means converge to ``lifetime_value``. Simulations run in
    threads, each with its own random stream (numpy draws release the GIL), so the result
    depends on ``random_state`` only.
    """
    transaction_model._check_unit(time_unit)
    x, t_x, T_ = check_rfm(frequency, recency, T)
    m = np.clip(_as_array(monetary_value, "monetary_value"), 0, None)
    trans_params = transaction_model.sample_params(n_simulations, random_state)
    spend_params = spend_model.sample_params(n_simulations, random_state + 1)
    discount = (1.0 + discount_rate) ** -np.arange(1, horizon + 1)  # a purchase in period i (1..horizon)
    data = transaction_model._prepared(x, t_x, T_)
    values = np.empty((len(x), n_simulations))

    def simulate(k: int, seed: np.random.SeedSequence) -> None:
        rng = np.random.default_rng(seed)
        customer, time = transaction_model._simulate_purchases(trans_params[k], data, horizon, rng)
        spend = spend_model._simulate_spend(spend_params[k], customer, x, m, rng)
        values[:, k] = margin * np.bincount(customer, spend * discount[time.astype(int)], minlength=len(x))

    # its own pool: each draw's 2F1 in P(alive) runs in a pool of its own (_map_in_threads)
    with ThreadPoolExecutor(os.cpu_count() or 1) as pool:
        list(pool.map(simulate, range(n_simulations), np.random.SeedSequence(random_state).spawn(n_simulations)))
    return values


def per_period_rate(annual_rate: float, time_unit: str) -> float:
    """The discount rate per period of ``time_unit`` equivalent to ``annual_rate`` a year."""
    return (1.0 + annual_rate) ** (TIME_UNIT_DAYS[_validate_unit(time_unit)] / 365.25) - 1.0
