"""Spend per transaction. ``GammaGammaModel``: Fader & Hardie (2013), "The Gamma-Gamma model of
monetary value"; parameters p, q, gamma; fitted on repeat customers only (x > 0, mean repeat
spend > 0); assumes spend is independent of purchase frequency (check it with
``frequency_spend_correlation``). ``MeanSpendModel``: the fallback when it does not converge."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import special

from segment_workbench.clv.base import _as_array, _compress, _Distinct, _MaximumLikelihood
from segment_workbench.errors import InputError, NotFittedError


class GammaGammaModel(_MaximumLikelihood):
    """Gamma-Gamma spend model (Fader & Hardie 2013). Parameters p, q, gamma.

    ``fit`` uses only customers with frequency > 0 and mean repeat spend > 0; how many were
    left out is in ``n_excluded_``. The population mean spend per transaction is
    ``p * gamma / (q - 1)`` (finite only when q > 1).
    """

    param_names = ("p", "q", "gamma")

    def _prepared(self, x, m) -> tuple:
        """x, m, their logs and the total spend m x, and the distinct x (the gamma functions of
        p x are computed once per distinct purchase count)."""
        return x, m, np.log(x), np.log(m), m * x, _Distinct(x)

    def _log_likelihoods_and_gradients(self, params, x, m, log_x, log_m, spend, distinct, gradients=True):
        """Per repeat customer, from ``_prepared``'s columns (Fader & Hardie 2013)."""
        p, q, gamma = params
        ux, inv = distinct.values, distinct.inverse
        px = p * x
        log_total = np.log(gamma + spend)
        ll = (
            (special.gammaln(p * ux + q) - special.gammaln(p * ux))[inv]
            - special.gammaln(q)
            + q * np.log(gamma)
            + (px - 1) * log_m
            + px * log_x
            - (px + q) * log_total
        )
        if not gradients:
            return ll, None
        psi = special.digamma
        psi_all = psi(p * ux + q)[inv]
        d_p = x * (psi_all - psi(p * ux)[inv] + log_m + log_x - log_total)
        d_q = psi_all - psi(q) + np.log(gamma) - log_total
        d_gamma = q / gamma - (px + q) / (gamma + spend)
        return ll, np.column_stack([d_p, d_q, d_gamma])

    def fit(self, frequency, monetary_value) -> GammaGammaModel:
        x = _as_array(frequency, "frequency")
        m = _as_array(monetary_value, "monetary_value")
        usable = (x > 0) & (m > 0)
        self.n_excluded_ = int((~usable).sum())
        if usable.sum() < 2:
            raise InputError(
                f"The spend model needs at least 2 repeat customers with positive spend; got {usable.sum()}.",
                column="monetary_value",
                hint="Gamma-Gamma is fitted on repeat customers only.",
            )
        unique, weights, _ = _compress(x[usable], m[usable])
        opt = self._optimize((unique[:, 0], unique[:, 1]), weights)
        self._store(opt, int(usable.sum()))
        return self

    def expected_average_value(self, frequency, monetary_value, params=None) -> np.ndarray:
        """Expected spend per future transaction: a weighted mean of the population mean and the
        customer's own mean repeat spend (the population mean for customers without repeats)."""
        self._check_fitted()
        p, q, gamma = self.params_.to_numpy() if params is None else np.asarray(params)
        x = _as_array(frequency, "frequency")
        m = np.clip(_as_array(monetary_value, "monetary_value"), 0, None)
        if q <= 1:
            raise InputError(
                f"The fitted spend model has q = {q:.3f} <= 1: its mean spend is infinite. "
                "Spend is too heavy-tailed for Gamma-Gamma; cap outliers or use a longer window."
            )
        return (gamma + m * x) * p / (p * x + q - 1)

    def _simulate_spend(self, params, customer, x, m, rng):
        """Spend of each simulated purchase (``customer``: its customer's index): nu ~
        Gamma(px+q, gamma+mx) per customer who buys (Gamma(q, gamma) without repeats), then
        each purchase ~ Gamma(p, nu)."""
        p, q, gamma = params
        buyers = np.flatnonzero(np.bincount(customer, minlength=len(x)))
        slot = np.empty(len(x), np.intp)
        slot[buyers] = np.arange(len(buyers))
        x, m = x[buyers], m[buyers]
        has = (x > 0) & (m > 0)
        nu = rng.gamma(np.where(has, p * x + q, q), 1.0 / np.where(has, gamma + m * x, gamma))
        return rng.standard_gamma(p, size=len(customer)) / nu[slot[customer]]


class MeanSpendModel:
    """Fallback spend model: every future transaction is worth the mean spend per transaction of
    all customers (no customer-level adjustment, no spend uncertainty). Used, and said to be
    used, when Gamma-Gamma does not converge."""

    converged_ = True

    def fit(self, frequency, monetary_value, revenue_total, n_orders) -> MeanSpendModel:
        self.mean_ = float(np.sum(revenue_total) / np.sum(n_orders))
        self.params_ = pd.Series({"mean_spend": self.mean_}, name="estimate")
        self.n_customers_ = len(np.asarray(frequency))
        self.n_excluded_ = 0
        self.log_likelihood_ = float("nan")
        self.convergence_message_ = "mean spend per order over all customers"
        return self

    def _check_fitted(self) -> None:
        if not hasattr(self, "mean_"):
            raise NotFittedError("MeanSpendModel is not fitted yet: call fit() first.")

    @property
    def summary(self) -> pd.DataFrame:
        self._check_fitted()
        return pd.DataFrame(
            {"estimate": [self.mean_], "se": [np.nan], "lower 95%": [np.nan], "upper 95%": [np.nan]},
            index=pd.Index(["mean_spend"], name="parameter"),
        )

    def expected_average_value(self, frequency, monetary_value, params=None) -> np.ndarray:
        self._check_fitted()
        return np.full(len(np.asarray(frequency)), self.mean_)

    def sample_params(self, n: int, random_state: int = 0) -> np.ndarray:
        self._check_fitted()
        return np.full((n, 1), self.mean_)

    def _simulate_spend(self, params, customer, x, m, rng):
        return np.full(len(customer), params[0])


def frequency_spend_correlation(frequency, monetary_value) -> float:
    """Pearson correlation of frequency and mean repeat spend over repeat customers (Gamma-Gamma
    assumes it is near 0; above ~0.3 the CLV of frequent buyers is biased)."""
    x, m = np.asarray(frequency, float), np.asarray(monetary_value, float)
    usable = (x > 0) & (m > 0)
    if usable.sum() < 3 or np.ptp(x[usable]) == 0 or np.ptp(m[usable]) == 0:  # no correlation without variation
        return float("nan")
    return float(np.corrcoef(x[usable], m[usable])[0, 1])
