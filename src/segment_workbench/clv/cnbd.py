"""Beta-geometric drop-out with regular purchase timing: MBG/NBD, BG/CNBD-k and MBG/CNBD-k.

- MBG/NBD (Batislam, Denizel & Filiztekin 2007): BG/NBD whose customers may also drop out right
  at their first purchase, so a customer without repeat purchases is not surely still active.
- BG/CNBD-k and MBG/CNBD-k (Reutterer, Platzer & Schröder 2020): the times between a customer's
  purchases are Erlang-k with rate lambda (k exponential stages; k = 1 is the NBD's Poisson
  timing, a larger k more regular buying), lambda ~ Gamma(r, alpha) across customers.

Parameters r, alpha, a, b; the drop-out probability p ~ Beta(a, b) is drawn once per customer,
who drops out after each purchase with it (the M models: also at the first purchase). k is an
integer, fixed or chosen by likelihood over 1..``max_k`` as BTYDplus does (stop after two
successive falls).

Besides (x, t_x, T) the likelihood has the term (k - 1) litt - x log((k - 1)!), litt being the
sum of the logs of a customer's inter-purchase times (the customer table's ``litt``). It does
not involve r, alpha, a, b: the fit runs on the distinct (x, t_x, T) with weights and adds it to
compare k. Predictions condition on (x, t_x, T) only. Given a customer is alive at T, j of the
k stages of their next gap are done (j = 0..k-1, with posterior weights), their rate is
Gamma(r + kx + j, alpha + T) and their drop-out probability Beta(a, b + x [+ 1]): the number of
stages completed in the next t periods is then negative binomial, P(at least m) = I_z(m, r +
kx + j) with z = t / (alpha + T + t) (regularized incomplete beta), which gives every
prediction below as a sum (closed forms through 2F1 when k = 1).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
from scipy import special

from segment_workbench.clv.base import TransactionModel, _as_array, _compress, _Distinct, _renewal_purchases, check_rfm
from segment_workbench.clv.bgnbd import expected_if_alive
from segment_workbench.errors import ConfigError, InputError


def _stages_needed(k: int, first: np.ndarray, shape: np.ndarray, z: np.ndarray, a, b_, tol: float = 1e-12):
    """Sum over n >= 1 of E[(1 - p)^(n-1)] P(at least first + (n - 1) k stages in the window),
    p ~ Beta(a, b_) and the stage count negative binomial: P(count >= m) = I_z(m, shape). That is
    the expected purchases in the window of a customer who needs ``first`` stages to their next
    purchase and drops out after each purchase with p. Terms are added per row until they fall
    below ``tol`` (they shrink faster than geometrically past the count's mean)."""
    out = np.zeros(len(shape))
    survive = np.ones(len(shape))  # E[(1 - p)^(n-1)] = B(a, b_ + n - 1) / B(a, b_)
    b_ = np.broadcast_to(b_, shape.shape)
    rows, stages, n = np.arange(len(shape)), first.astype(float), 0
    while rows.size:
        term = survive[rows] * special.betainc(stages[rows], shape[rows], z[rows])
        out[rows] += term
        survive[rows] *= (b_[rows] + n) / (a + b_[rows] + n)
        stages[rows] += k
        n += 1
        rows = rows[term > tol]
    return out


class BetaGeoCNBDModel(TransactionModel):
    """BG/CNBD-k (Reutterer, Platzer & Schröder 2020): BG/NBD with Erlang-k times between
    purchases. Parameters r, alpha, a, b; ``k`` fixed, or None to choose it by likelihood over
    1..``max_k`` (then ``fit`` needs ``litt``). Fitted: ``k_``, ``k_log_likelihoods_``."""

    param_names = ("r", "alpha", "a", "b")
    #: whether a customer may drop out at the first purchase (the "M" models)
    dropout_at_zero = False

    def __init__(self, k: int | None = None, max_k: int = 12, n_starts: int = 6, random_state: int = 0):
        super().__init__(n_starts=n_starts, random_state=random_state)
        self.k = k
        self.max_k = max_k

    def _candidate_ks(self) -> list[int]:
        if self.k is None:
            return list(range(1, self.max_k + 1))
        if int(self.k) != self.k or self.k < 1:
            raise ConfigError(f"k must be a whole number >= 1 (Erlang-k purchase timing), got {self.k!r}.")
        return [int(self.k)]

    def fit(self, frequency, recency, T, time_unit: str = "weeks", litt=None) -> BetaGeoCNBDModel:
        """Fit by maximum likelihood, for each candidate k; ``litt`` (each customer's sum of log
        inter-purchase times, in ``time_unit``) is needed to compare k and for any k > 1."""
        x, t_x, T_ = self._fit_inputs(frequency, recency, T, time_unit)
        ks = self._candidate_ks()
        if litt is None and ks != [1]:
            raise InputError(
                f"{type(self).__name__} with k {'chosen by likelihood' if self.k is None else self.k} needs litt, "
                "each customer's sum of the logs of the times between their purchases.",
                column="litt",
                hint="Pass the customer table's litt column (segment_workbench.customers.table.build_customer_table).",
            )
        litt_total = 0.0 if litt is None else float(_as_array(litt, "litt").sum())
        unique, weights, _ = _compress(x, t_x, T_)
        fits, totals = {}, {}
        for k in ks:
            self.k_ = k
            opt = self._optimize(tuple(unique.T), weights)
            fits[k] = (opt, self._hessian_log)
            totals[k] = opt.log_likelihood + (k - 1) * litt_total - float(x.sum()) * special.gammaln(k)
            if len(totals) > 2 and totals[k] < totals[k - 1] < totals[k - 2]:
                break
        converged = [k for k in totals if fits[k][0].converged] or list(totals)
        self.k_ = max(converged, key=totals.get)
        opt, self._hessian_log = fits[self.k_]
        if len(ks) > 1 and self.k_ == ks[-1]:
            opt = replace(opt, message=f"{opt.message}; k reached its upper bound {self.k_} (max_k)")
        self._store(replace(opt, log_likelihood=totals[self.k_]), len(x))
        self.k_log_likelihoods_ = pd.Series(totals, name="log_likelihood").rename_axis("k")
        return self

    def _prepared(self, x, t_x, T) -> tuple:
        with np.errstate(divide="ignore"):
            return x, t_x, T, _Distinct(x), np.log(T - t_x)

    def _parts(self, params, x, t_x, T, log_gap=None, log_aT=None, log_atx=None):
        """log S1, the 'dropped out right after the last purchase' term, and the log terms of
        S2, 'alive with j stages of the next gap done' (j = 0..k-1, rows of a (k, n) array),
        both relative to the common factor."""
        r, alpha, a, b = params
        k, survived = self.k_, float(self.dropout_at_zero)
        rk = r + k * x
        log_aT = np.log(alpha + T) if log_aT is None else log_aT
        log_atx = np.log(alpha + t_x) if log_atx is None else log_atx
        with np.errstate(divide="ignore", invalid="ignore"):
            log_s1 = np.log(a) - np.log(b + x - 1 + survived) + rk * (log_aT - log_atx)
            if not self.dropout_at_zero:
                log_s1 = np.where(x > 0, log_s1, -np.inf)
            log_gap = np.log(T - t_x) if log_gap is None else log_gap
        terms = [np.zeros(len(x))]
        for j in range(1, k):
            terms.append(terms[-1] + np.log(rk + j - 1) + log_gap - np.log(j) - log_aT)
        return log_s1, np.array(terms)

    def _log_likelihoods_and_gradients(self, params, x, t_x, T, distinct=None, log_gap=None, gradients=True):
        """Per customer, without the litt term: B(a, b+x+m)/B(a, b) Gamma(r+kx) alpha^r /
        (Gamma(r) (alpha+T)^(r+kx)) (S1 + S2), m = 1 for the M models (Reutterer et al. 2020)."""
        r, alpha, a, b = params
        k, survived = self.k_, float(self.dropout_at_zero)
        distinct = distinct or _Distinct(x)
        ux, inv = distinct.values, distinct.inverse
        rk = r + k * x
        log_aT, log_atx = np.log(alpha + T), np.log(alpha + t_x)
        log_s1, terms = self._parts(params, x, t_x, T, log_gap, log_aT, log_atx)
        total = np.logaddexp(log_s1, special.logsumexp(terms, axis=0) if k > 1 else 0.0)
        per_x = special.betaln(a, b + ux + survived) - special.betaln(a, b) + special.gammaln(r + k * ux)
        ll = (per_x - special.gammaln(r))[inv] + r * np.log(alpha) - rk * log_aT + total
        if not gradients:
            return ll, None
        psi = special.digamma
        w1 = np.exp(log_s1 - total)  # share of 'dropped out after the last purchase' (0 where it cannot)
        inv_aT = 1 / (alpha + T)
        d_r = (psi(r + k * ux) - psi(r))[inv] + np.log(alpha) - log_aT + w1 * (log_aT - log_atx)
        d_alpha = r / alpha - rk * inv_aT + w1 * rk * (inv_aT - 1 / (alpha + t_x))
        if k > 1:
            v = np.exp(terms[1:] - total)  # shares of 'alive, j = 1..k-1 stages done' (j = 0 adds nothing)
            j = np.arange(1, k)[:, None]
            d_r += (v * np.cumsum(1.0 / (rk + j - 1), axis=0)).sum(axis=0)  # psi(rk + j) - psi(rk)
            d_alpha -= (v * j).sum(axis=0) * inv_aT
        with np.errstate(invalid="ignore", divide="ignore"):
            drop_b = w1 / (b + x - 1 + survived)
            if not self.dropout_at_zero:
                drop_b = np.where(x > 0, drop_b, 0.0)
        psi_all = psi(a + b + ux + survived)
        d_a = (psi(a + b) - psi_all)[inv] + w1 / a
        d_b = (psi(b + ux + survived) - psi_all - psi(b) + psi(a + b))[inv] - drop_b
        return ll, np.column_stack([d_r, d_alpha, d_a, d_b])

    def _alive_weights(self, params, x, t_x, T) -> tuple[np.ndarray, np.ndarray]:
        """P(alive at T) and, given alive, the weights of j = 0..k-1 stages of the next gap done
        ((k, n), columns sum to 1)."""
        log_s1, terms = self._parts(params, x, t_x, T)
        log_s2 = special.logsumexp(terms, axis=0)
        return np.exp(log_s2 - np.logaddexp(log_s1, log_s2)), np.exp(terms - log_s2)

    def _p_alive(self, params, x, t_x, T, distinct=None, log_gap=None):
        return self._alive_weights(params, x, t_x, T)[0]

    def _by_phase(self, params, t, x, t_x, T):
        """Per (phase j, customer): stages to the next purchase (k - j), the rate's shape
        r + kx + j, and z = t / (alpha + T + t), flattened; with the phase weights."""
        r, alpha = params[:2]
        k = self.k_
        weights = self._alive_weights(params, x, t_x, T)[1]
        j = np.arange(k)[:, None]
        shape = np.broadcast_to(r + k * x + j, weights.shape)
        z = np.broadcast_to(t / (alpha + T + t), weights.shape)
        return (k - np.broadcast_to(j, weights.shape)).ravel(), shape.ravel(), z.ravel(), weights

    def _expected_if_alive(self, params, t, x, t_x, T):
        survived = int(self.dropout_at_zero)
        if self.k_ == 1:
            return expected_if_alive(params, t, x, T, survived=survived)
        a, b = params[2:]
        first, shape, z, weights = self._by_phase(params, t, x, t_x, T)
        b_ = np.tile(b + x + survived, self.k_)
        sums = _stages_needed(self.k_, first, shape, z, a, b_).reshape(weights.shape)
        return (weights * sums).sum(axis=0)

    def _no_purchase_if_alive(self, params, t, x, t_x, T):
        """P(no purchase in (T, T + t] | alive at T): fewer than k - j stages done in t."""
        first, shape, z, weights = self._by_phase(params, t, x, t_x, T)
        return (weights * (1.0 - special.betainc(first, shape, z)).reshape(weights.shape)).sum(axis=0)

    def next_purchase_quantiles(self, quantiles, frequency, recency, T, params=None) -> np.ndarray:
        """Time to the next purchase, in periods from T, at each of ``quantiles`` (customers x
        quantiles), for a customer who stays active; k = 1: the Lomax law of the NBD models,
        k > 1: P(next purchase by t) = 1 - ``_no_purchase_if_alive`` solved for t by bisection
        on z = t / (alpha + T + t) (to 1e-12 in z)."""
        if self.k_ == 1:
            return super().next_purchase_quantiles(quantiles, frequency, recency, T, params)
        self._check_fitted()
        p = self.params_.to_numpy() if params is None else np.asarray(params)
        x, t_x, T_ = check_rfm(frequency, recency, T)
        alpha = p[1]
        out = np.empty((len(x), len(quantiles)))
        for i, q in enumerate(quantiles):
            low, high = np.zeros(len(x)), np.ones(len(x))
            for _ in range(45):
                mid = (low + high) / 2
                t = mid * (alpha + T_) / (1 - mid)
                below = 1.0 - self._no_purchase_if_alive(p, t, x, t_x, T_) < q
                low, high = np.where(below, mid, low), np.where(below, high, mid)
            mid = (low + high) / 2
            out[:, i] = mid * (alpha + T_) / (1 - mid)
        return out

    def _simulate_alive(self, params, x, t_x, T, horizon, rng):
        """Purchases of customers alive at T: j stages done drawn from their weights, lambda ~
        Gamma(r + kx + j, alpha + T), p ~ Beta(a, b + x [+ 1]); the next purchase after k - j
        stages, every later one after k, dropping out after each with p."""
        r, alpha, a, b = params
        k = self.k_
        weights = self._alive_weights(params, x, t_x, T)[1]
        j = (rng.uniform(size=len(x))[None, :] > np.cumsum(weights, axis=0)).sum(axis=0).clip(max=k - 1)
        lam = rng.gamma(r + k * x + j, 1.0 / (alpha + T))
        p = np.nan_to_num(rng.beta(a, b + x + float(self.dropout_at_zero)), nan=0.0)
        return _renewal_purchases(lam, k - j, k, np.full(len(x), float(horizon)), p, rng)

    def _unconditional_expected(self, params, t):
        """Expected repeat purchases in (0, t] of a customer just acquired: at their first
        purchase, all k stages of the next gap to go, rate Gamma(r, alpha); the M models first
        survive the drop-out chance at that purchase (factor b / (a + b), then Beta(a, b + 1))."""
        r, alpha, a, b = params
        t = np.asarray(t, float)
        survived = int(self.dropout_at_zero)
        if self.k_ == 1:
            with np.errstate(over="ignore", invalid="ignore"):
                value = expected_if_alive(params, t, 0.0, 0.0, survived=survived)
        else:
            flat = t.ravel()
            value = _stages_needed(
                self.k_, np.full(len(flat), self.k_), np.full(len(flat), r), flat / (alpha + flat), a, b + survived
            ).reshape(t.shape)
        return value * (b / (a + b) if survived else 1.0)


class ModifiedBetaGeoCNBDModel(BetaGeoCNBDModel):
    """MBG/CNBD-k (Reutterer, Platzer & Schröder 2020): BG/CNBD-k whose customers may also drop
    out at their first purchase."""

    dropout_at_zero = True


class ModifiedBetaGeoModel(ModifiedBetaGeoCNBDModel):
    """MBG/NBD (Batislam, Denizel & Filiztekin 2007): BG/NBD whose customers may also drop out at
    their first purchase (MBG/CNBD-k with k = 1). Parameters r, alpha, a, b."""

    def __init__(self, n_starts: int = 6, random_state: int = 0):
        super().__init__(k=1, n_starts=n_starts, random_state=random_state)
