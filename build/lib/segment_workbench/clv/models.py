"""Customer lifetime value: BG/NBD, Pareto/NBD and Gamma-Gamma, fitted by maximum likelihood.

Models (time in the customer table's ``time_unit``; x = repeat purchases, t_x = recency,
T = age of the customer at the end of calibration):

- ``BetaGeoModel`` — BG/NBD, Fader, Hardie & Lee (2005), "Counting your customers the easy
  way", Marketing Science 24(2). Parameters r, alpha (purchase rate ~ Gamma(r, alpha)),
  a, b (drop-out probability after each purchase ~ Beta(a, b)).
- ``ParetoNBDModel`` — Pareto/NBD, Schmittlein, Morrison & Colombo (1987), likelihood as in
  Fader, Hardie & Lee (2005), "A note on deriving the Pareto/NBD model and related
  expressions". Parameters r, alpha, s, beta (lifetime rate ~ Gamma(s, beta)).
- ``GammaGammaModel`` — spend per transaction, Fader & Hardie (2013), "The Gamma-Gamma model
  of monetary value". Parameters p, q, gamma. Fitted on repeat customers only (x > 0, mean
  repeat spend > 0); assumes spend is independent of purchase frequency (check it with
  ``frequency_spend_correlation``).

Numerics: log-likelihoods are computed in log space (gammaln, betaln, logaddexp); the
parameters are optimized on the log scale from several starting points; customers with
identical (x, t_x, T) are fitted once with a weight. Every model has an analytic gradient
(Pareto/NBD's needs a quadrature, see ``_died_at_expectations``). Standard errors come from the
Hessian, central differences of that gradient (delta method from the log scale); 95% intervals are
``exp(log(estimate) ± 1.96 se_log)``. A fit that does not converge sets ``converged_ =
False`` and says why in ``convergence_message_``; it is never silent.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import optimize, special

from segment_workbench.config import TIME_UNIT_DAYS
from segment_workbench.errors import ConfigError, InputError, NotFittedError

Z95 = 1.959963984540054
LOG_BOUND = 15.0  # parameters are searched in [exp(-15), exp(15)]


def _as_array(values, name: str) -> np.ndarray:
    arr = np.asarray(values, dtype=float)
    if arr.ndim != 1:
        raise InputError(f"{name} must be one-dimensional, got shape {arr.shape}.")
    if not np.isfinite(arr).all():
        raise InputError(f"{name} has missing or infinite values.", column=name,
                         rows=pd.DataFrame({name: arr[~np.isfinite(arr)][:5]}))
    return arr


def check_rfm(frequency, recency, T) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Validated arrays: frequency a whole number >= 0, 0 <= recency <= T, recency 0 when x = 0."""
    x, t_x, T_ = _as_array(frequency, "frequency"), _as_array(recency, "recency"), _as_array(T, "T")
    if not (len(x) == len(t_x) == len(T_)):
        raise InputError("frequency, recency and T must have the same length.")
    checks = [
        ((x < 0) | (x != np.round(x)), "frequency must be a whole number of repeat purchases >= 0"),
        ((t_x < 0) | (T_ < 0), "recency and T must be >= 0"),
        (t_x > T_ + 1e-9, "recency (time of the last purchase) cannot exceed T; is a purchase after as_of?"),
        ((x == 0) & (t_x > 0), "recency must be 0 for customers without repeat purchases"),
    ]
    for bad, message in checks:
        if bad.any():
            rows = pd.DataFrame({"row": np.flatnonzero(bad), "frequency": x[bad], "recency": t_x[bad], "T": T_[bad]})
            raise InputError(f"{bad.sum()} customer(s): {message}.", rows=rows,
                             hint="Build the inputs with segment_workbench.customers.table.build_customer_table.")
    return x, t_x, T_


def _compress(*columns: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Unique rows of the stacked columns, their counts (weights) and the inverse index."""
    stacked = np.column_stack(columns)
    unique, inverse, counts = np.unique(stacked, axis=0, return_inverse=True, return_counts=True)
    return unique, counts.astype(float), inverse.ravel()


class _Pairs:
    """The distinct (x, y) pairs of two columns: ``first`` holds a row of each, ``inverse``
    maps every row to its pair."""

    def __init__(self, x: np.ndarray, y: np.ndarray):
        self.inverse, pairs = pd.factorize(x + 1j * y)
        self.first = np.zeros(len(pairs), dtype=np.intp)
        self.first[self.inverse] = np.arange(len(x))  # any of its rows: they share the pair


def _map_in_threads(function, chunks) -> list:
    """``function`` over ``chunks`` in a pool of one thread per core (numpy and scipy release
    the GIL), made for this call and closed after it: no pool outlives its work."""
    with ThreadPoolExecutor(min(os.cpu_count() or 1, max(1, len(chunks)))) as pool:
        return list(pool.map(function, chunks))


def _hyp2f1_by_pair(a, b, c, z, pairs: _Pairs) -> np.ndarray:
    """``special.hyp2f1(a, b, c, z)`` where every argument is a scalar or a function of the
    rows' pair: evaluated once per distinct pair (customers share them far more often than
    whole histories), in threads (scipy releases the GIL). Values are exactly those of the
    direct call."""
    args = [np.broadcast_to(v, pairs.inverse.shape)[pairs.first] for v in (a, b, c, z)]
    chunks = np.array_split(np.arange(len(pairs.first)), max(1, min(os.cpu_count() or 1, len(pairs.first) // 2048)))
    parts = _map_in_threads(lambda rows: special.hyp2f1(*(v[rows] for v in args)), chunks)
    return np.concatenate(parts)[pairs.inverse]


def _hessian_from_gradient(gradient, x0: np.ndarray) -> np.ndarray:
    """Hessian as central differences of an analytic gradient (2 gradients per parameter),
    symmetrized."""
    h = 1e-5 * np.maximum(1.0, np.abs(x0))
    columns = [(gradient(x0 + step) - gradient(x0 - step)) / (2 * step[i]) for i, step in enumerate(np.diag(h))]
    hess = np.column_stack(columns)
    return (hess + hess.T) / 2


@dataclass
class _Optimum:
    log_params: np.ndarray
    log_likelihood: float
    converged: bool
    message: str


class _MaximumLikelihood:
    """Shared fitting machinery: multi-start optimization on the log scale, Hessian, summary."""

    param_names: tuple[str, ...] = ()

    def __init__(self, n_starts: int = 6, random_state: int = 0):
        self.n_starts = n_starts
        self.random_state = random_state

    # subclasses: _log_likelihoods(params, *data) -> per-row log-likelihood
    def _log_likelihoods(self, params: np.ndarray, *data: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _optimize(self, data: tuple, weights: np.ndarray) -> _Optimum:
        def negative_ll_and_gradient(log_params: np.ndarray) -> tuple[float, np.ndarray]:
            params = np.exp(log_params)
            with np.errstate(all="ignore"):
                ll, gradients = self._log_likelihoods_and_gradients(params, *data)
                grad = weights @ gradients * params  # chain rule to the log scale
            total = float(np.dot(weights, ll))
            if not (np.isfinite(total) and np.isfinite(grad).all()):
                return 1e300, np.zeros_like(log_params)
            return -total, -grad

        rng = np.random.default_rng(self.random_state)
        starts = [np.zeros(len(self.param_names))] + [rng.normal(0.0, 1.0, len(self.param_names)) for _ in range(self.n_starts - 1)]
        # Bounded on the log scale: beyond exp(+-LOG_BOUND) the log-gamma differences lose
        # their precision; an optimum on the bound is reported as not converged.
        bounds = [(-LOG_BOUND, LOG_BOUND)] * len(self.param_names)
        results = []
        for start in starts:
            res = optimize.minimize(negative_ll_and_gradient, start, jac=True, method="L-BFGS-B", bounds=bounds,
                                    options={"maxiter": 500, "ftol": 1e-15, "gtol": 1e-10})
            if np.isfinite(res.fun) and res.fun < 1e299:
                results.append(res)
            # Stop once two starting points reach the same optimum, or both run to the boundary
            # (the likelihood is maximal at a limit of the model; more starts only cost time).
            if sum(abs(r.fun - min(q.fun for q in results)) < 1e-6 * max(1.0, abs(r.fun)) for r in results) >= 2:
                break
            if sum(np.any(np.abs(r.x) > LOG_BOUND - 0.5) for r in results) >= 2:
                break
        if not results:
            return _Optimum(starts[0], float("-inf"), False, "the log-likelihood was not finite at any starting point")
        best = min(results, key=lambda r: r.fun)
        at_bound = bool(np.any(np.abs(best.x) > LOG_BOUND - 0.5))
        agreeing = sum(abs(r.fun - best.fun) < 1e-4 * max(1.0, abs(best.fun)) for r in results)
        hess = _hessian_from_gradient(lambda log_params: negative_ll_and_gradient(log_params)[1], best.x)
        self._hessian_log = hess
        # Judged by the optimum itself, not the optimizer's status: L-BFGS-B often ends with an
        # "abnormal" line search when it already sits on the optimum at machine precision.
        gradient = negative_ll_and_gradient(best.x)[1]
        tolerance = 1e-3 + 1e-5 * float(weights.sum())
        problems = []
        if not np.all(np.abs(gradient) <= tolerance):
            problems.append(f"the gradient is not zero at the best point found (max |gradient| {np.max(np.abs(gradient)):.2g}; "
                            f"optimizer: {best.message})")
        if at_bound:
            problems.append("a parameter ran to the edge of its range (the likelihood is maximal at a limit of the model)")
        if not np.all(np.linalg.eigvalsh(hess) > 0):
            problems.append("the Hessian is not positive definite: the optimum is not a proper maximum")
        message = "; ".join(problems) or f"converged ({agreeing} of {len(results)} starting points tried reached the optimum)"
        return _Optimum(best.x, -float(best.fun), not problems, message)

    # subclasses: _gradients(params, *data) -> per-row gradient of the log-likelihood in the
    # natural parameters, (n, k)
    def _gradients(self, params: np.ndarray, *data: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _log_likelihoods_and_gradients(self, params: np.ndarray, *data: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Both at once (a model overrides it where they share costly terms)."""
        return self._log_likelihoods(params, *data), self._gradients(params, *data)

    def _store(self, opt: _Optimum, n: int) -> None:
        self.params_ = pd.Series(np.exp(opt.log_params), index=list(self.param_names), name="estimate")
        self.log_likelihood_ = opt.log_likelihood
        self.converged_ = opt.converged
        self.convergence_message_ = opt.message
        self.n_customers_ = n
        try:
            cov = np.linalg.inv(self._hessian_log)
            self.covariance_log_ = pd.DataFrame(cov, index=self.param_names, columns=self.param_names)
        except np.linalg.LinAlgError:
            self.covariance_log_ = pd.DataFrame(np.full((len(self.param_names),) * 2, np.nan),
                                                index=self.param_names, columns=self.param_names)

    @property
    def summary(self) -> pd.DataFrame:
        """estimate, standard error, lower/upper 95% bounds per parameter."""
        self._check_fitted()
        se_log = np.sqrt(np.clip(np.diag(self.covariance_log_.to_numpy()), 0, None))
        est = self.params_.to_numpy()
        return pd.DataFrame({
            "estimate": est,
            "se": est * se_log,
            "lower 95%": est * np.exp(-Z95 * se_log),
            "upper 95%": est * np.exp(Z95 * se_log),
        }, index=pd.Index(self.param_names, name="parameter"))

    def _check_fitted(self) -> None:
        if not hasattr(self, "params_"):
            raise NotFittedError(f"{type(self).__name__} is not fitted yet: call fit() first.")

    def _check_unit(self, time_unit: str | None) -> None:
        if time_unit is not None and time_unit != self.time_unit_:
            raise ConfigError(f"The model was fitted in {self.time_unit_}, but {time_unit} were given. "
                              "Use the same time unit for fitting and prediction.")

    def sample_params(self, n: int, random_state: int = 0) -> np.ndarray:
        """``n`` parameter vectors drawn from the asymptotic normal on the log scale (rows), kept
        within the range the fit searched."""
        self._check_fitted()
        rng = np.random.default_rng(random_state)
        cov = self.covariance_log_.to_numpy()
        if not np.isfinite(cov).all():
            return np.tile(self.params_.to_numpy(), (n, 1))
        draws = rng.multivariate_normal(np.log(self.params_.to_numpy()), cov, size=n)
        return np.exp(np.clip(draws, -LOG_BOUND, LOG_BOUND))  # weakly identified parameters stay in range


def _poisson_purchases(lam: np.ndarray, end: np.ndarray, p_drop: np.ndarray | None,
                       rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Purchase times of customers buying as Poisson processes with rates ``lam`` on [0, end),
    each dropping out after a purchase with probability ``p_drop`` (None: never), as arrays
    (customer index, time). The work follows the purchases, not customers x periods: without
    drop-out, N ~ Poisson(lam * end) purchases at uniform times; with it, one gap ~
    Exponential(lam) per purchase and a drop-out draw after each."""
    if p_drop is None:
        customer = np.repeat(np.arange(len(lam)), rng.poisson(lam * end))
        return customer, rng.uniform(size=len(customer)) * end[customer]
    active = np.flatnonzero(end > 0)
    now = np.zeros(len(active))
    customers, times = [], []
    while len(active):
        with np.errstate(divide="ignore"):
            now = now + rng.exponential(1.0 / lam[active])
        bought = now < end[active]
        active, now = active[bought], now[bought]
        customers.append(active)
        times.append(now)
        stays = rng.uniform(size=len(active)) >= p_drop[active]
        active, now = active[stays], now[stays]
    return np.concatenate(customers or [np.zeros(0, np.intp)]), np.concatenate(times or [np.zeros(0)])


def _validate_unit(time_unit: str) -> str:
    if time_unit not in TIME_UNIT_DAYS:
        raise ConfigError(f"time_unit must be one of {', '.join(TIME_UNIT_DAYS)}, got {time_unit!r}.")
    return time_unit


class _TransactionModel(_MaximumLikelihood):
    """Fit on (frequency, recency, T); predictions conditional on a customer's history."""

    def fit(self, frequency, recency, T, time_unit: str = "weeks") -> "_TransactionModel":
        """Fit by maximum likelihood. ``time_unit`` is the unit of recency and T."""
        x, t_x, T_ = check_rfm(frequency, recency, T)
        if len(x) < 2:
            raise InputError(f"{type(self).__name__} needs at least 2 customers; got {len(x)}.")
        if not (x > 0).any():
            raise InputError("No customer has a repeat purchase, so the repeat-purchase model cannot be fitted.",
                             column="frequency", hint="Use a longer calibration period or more customers.")
        self.time_unit_ = _validate_unit(time_unit)
        unique, weights, _ = _compress(x, t_x, T_)
        opt = self._optimize(self._prepared(unique[:, 0], unique[:, 1], unique[:, 2]), weights)
        self._store(opt, len(x))
        return self

    def _prepared(self, x, t_x, T) -> tuple:
        """(x, t_x, T) as ``_log_likelihoods`` and ``_simulate_purchases`` take them, with what
        they reuse at every call (a fit's steps, a simulation's draws)."""
        return x, t_x, T

    def _simulate_purchases(self, params, data, horizon, rng):
        """Future purchases drawn from each customer's posterior, as (customer index, time in
        periods from T); ``data`` from ``_prepared``: alive ~ Bernoulli(P(alive)), then the
        purchases of the customers alive (``_simulate_alive``: only they get rates drawn)."""
        x, T = data[0], data[2]
        alive = np.flatnonzero(rng.uniform(size=len(x)) < self._p_alive(params, *data))
        customer, time = self._simulate_alive(params, x[alive], T[alive], horizon, rng)
        return alive[customer], time

    def log_likelihood(self, frequency, recency, T) -> np.ndarray:
        """Per-customer log-likelihood at the fitted parameters."""
        self._check_fitted()
        return self._log_likelihoods(self.params_.to_numpy(), *check_rfm(frequency, recency, T))

    def expected_purchases(self, t: float, frequency, recency, T, time_unit: str | None = None, params=None) -> np.ndarray:
        """Expected number of purchases in the next ``t`` periods, given each customer's history."""
        self._check_fitted()
        self._check_unit(time_unit)
        p = self.params_.to_numpy() if params is None else np.asarray(params)
        return self._conditional_expected(p, t, *check_rfm(frequency, recency, T))

    def p_alive(self, frequency, recency, T, params=None) -> np.ndarray:
        """Probability that each customer is still active at T."""
        self._check_fitted()
        p = self.params_.to_numpy() if params is None else np.asarray(params)
        return self._p_alive(p, *check_rfm(frequency, recency, T))

    def _conditional_expected(self, params, t, x, t_x, T):
        """Expected purchases in the next ``t`` periods: expected if alive, times P(alive)."""
        return self._expected_if_alive(params, t, x, T) * self._p_alive(params, x, t_x, T)

    def expected_repeat_purchases(self, t, params=None) -> np.ndarray:
        """Expected repeat purchases in (0, t] for a customer just acquired (unconditional)."""
        self._check_fitted()
        p = self.params_.to_numpy() if params is None else np.asarray(params)
        return self._unconditional_expected(p, np.asarray(t, dtype=float))


class BetaGeoModel(_TransactionModel):
    """BG/NBD (Fader, Hardie & Lee 2005). Parameters r, alpha, a, b."""

    param_names = ("r", "alpha", "a", "b")

    @staticmethod
    def _terms(params, x, t_x, T):
        """Log of the 'still alive' and 'dropped out after the last purchase' likelihood terms
        (without the common factor), and the functions of x alone, computed once per
        distinct x (customers have few distinct purchase counts)."""
        r, alpha, a, b = params
        ux, inv = np.unique(x, return_inverse=True)
        bx1 = np.maximum(b + ux - 1, 1e-300)
        with np.errstate(divide="ignore", invalid="ignore"):
            beta_still = (special.betaln(a, b + ux) - special.betaln(a, b))[inv]
            beta_dropped = np.where(ux > 0, special.betaln(a + 1, bx1) - special.betaln(a, b), -np.inf)[inv]
        still = beta_still - (r + x) * np.log(alpha + T)
        dropped = beta_dropped - (r + x) * np.log(alpha + t_x)
        return still, dropped, ux, inv

    def _log_likelihoods(self, params, x, t_x, T):
        r, alpha, a, b = params
        still, dropped, ux, inv = self._terms(params, x, t_x, T)
        common = (special.gammaln(r + ux) - special.gammaln(r))[inv] + r * np.log(alpha)
        return common + np.logaddexp(still, dropped)

    def _gradients(self, params, x, t_x, T):
        r, alpha, a, b = params
        psi = special.digamma
        still, dropped, ux, inv = self._terms(params, x, t_x, T)
        w = np.exp(still - np.logaddexp(still, dropped))  # weight of the "still alive" term
        common_ab = psi(a + b)
        log_T, log_tx = np.log(alpha + T), np.log(alpha + t_x)
        d_r = (psi(r + ux) - psi(r))[inv] + np.log(alpha) - w * log_T - (1 - w) * log_tx
        d_alpha = r / alpha - (r + x) * (w / (alpha + T) + (1 - w) / (alpha + t_x))
        psi_abx = psi(a + b + ux)
        ds_a = (common_ab - psi_abx)[inv]
        dd_a = (psi(a + 1) - psi_abx - psi(a) + common_ab)[inv]
        ds_b = (psi(b + ux) - psi_abx - psi(b) + common_ab)[inv]
        dd_b = np.where(ux > 0, psi(np.maximum(b + ux - 1, 1e-300)) - psi_abx - psi(b) + common_ab, 0.0)[inv]
        return np.column_stack([d_r, d_alpha, w * ds_a + (1 - w) * dd_a, w * ds_b + (1 - w) * dd_b])

    @staticmethod
    def _log_odds_dead(params, x, t_x, T):
        r, alpha, a, b = params
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(x > 0, np.log(a) - np.log(np.maximum(b + x - 1, 1e-300)) + (r + x) * (np.log(alpha + T) - np.log(alpha + t_x)), -np.inf)

    def _p_alive(self, params, x, t_x, T):
        return 1.0 / (1.0 + np.exp(self._log_odds_dead(params, x, t_x, T)))

    def _expected_if_alive(self, params, t, x, T):
        r, alpha, a, b = params
        z = t / (alpha + T + t)
        # Euler's transformation of 2F1(r+x, b+x; a+b+x-1; z) times (1-z)^(r+x): stays finite
        # for customers with many purchases, where the direct form overflows.
        tail = (1 - z) ** (a - 1) * special.hyp2f1(a + b - 1 - r, a - 1, a + b + x - 1, z)
        return (a + b + x - 1) / (a - 1) * (1 - tail)

    def _simulate_alive(self, params, x, T, horizon, rng):
        """Purchases of customers alive at T: lambda ~ Gamma(r+x, alpha+T), p ~ Beta(a, b+x);
        they arrive as a Poisson(lambda) process until the horizon and the customer drops out
        after each one with probability p."""
        r, alpha, a, b = params
        lam = rng.gamma(r + x, 1.0 / (alpha + T))
        # With a tiny ``a`` the draw can be exactly 0 (never drops out).
        p = np.nan_to_num(rng.beta(a, b + x), nan=0.0)
        return _poisson_purchases(lam, np.full(len(x), float(horizon)), p, rng)

    def _unconditional_expected(self, params, t):
        r, alpha, a, b = params
        z = t / (alpha + t)
        return (a + b - 1) / (a - 1) * (1 - (alpha / (alpha + t)) ** r * special.hyp2f1(r, b, a + b - 1, z))


_GAUSS_NODES, _GAUSS_WEIGHTS = special.roots_legendre(32)


def _died_at_expectations(params, x, t_x, T) -> np.ndarray:
    """E[log(alpha+tau)], E[1/(alpha+tau)], E[log(beta+tau)], E[1/(beta+tau)] for tau on
    [t_x, T] with density proportional to (alpha+tau)^-(r+x) (beta+tau)^-(s+1), per row (n, 4),
    with the rows split over threads. Gauss-Legendre with 32 nodes on tau = t_x + (T - t_x)
    (e^(l u) - 1) / (e^l - 1), u in [0, 1]: l = log(1 + k (T - t_x)), k the density's rate of
    decay at t_x, so the nodes start at the scale where the density falls and spread
    geometrically to T (the density is a product of power laws, smooth on that scale).
    Relative error below 1e-9 against adaptive quadrature, from the start values to the
    fits' optima and beyond (tested). Rows go to threads in blocks of 1,024 (numpy releases
    the GIL; larger blocks mostly wait on page faults of their temporaries)."""
    r, alpha, s, beta = params
    u, w = (_GAUSS_NODES + 1) / 2, _GAUSS_WEIGHTS / 2

    def rows(i: np.ndarray) -> np.ndarray:
        a, lo, hi = (r + x[i])[:, None], t_x[i][:, None], T[i][:, None]
        stretch = np.maximum(np.log1p((a / (alpha + lo) + (s + 1) / (beta + lo)) * (hi - lo)), 1e-6)
        tau = lo + (hi - lo) * np.expm1(stretch * u) / np.expm1(stretch)
        log_a, log_b = np.log(alpha + tau), np.log(beta + tau)
        log_f = stretch * u - a * log_a - (s + 1) * log_b  # density times d tau / d u, up to a row's constant
        weights = w * np.exp(log_f - log_f.max(axis=1, keepdims=True))
        weights /= weights.sum(axis=1, keepdims=True)
        return np.column_stack([np.einsum("ij,ij->i", weights, g) for g in (log_a, 1 / (alpha + tau), log_b, 1 / (beta + tau))])

    chunks = np.array_split(np.arange(len(x)), max(1, len(x) // 1024))  # small blocks: no page faults in threads
    return np.concatenate(_map_in_threads(rows, chunks))


class ParetoNBDModel(_TransactionModel):
    """Pareto/NBD (Schmittlein, Morrison & Colombo 1987). Parameters r, alpha, s, beta."""

    param_names = ("r", "alpha", "s", "beta")

    def _prepared(self, x, t_x, T) -> tuple:
        return x, t_x, T, (_Pairs(x, t_x), _Pairs(x, T))

    @staticmethod
    def _log_a0_terms(params, x, t_x, T, pairs=None):
        """log of the two terms whose difference is A0 in Fader, Hardie & Lee's note;
        ``pairs``: the distinct (x, t_x) and (x, T), found here when not given."""
        r, alpha, s, beta = params
        rsx = r + s + x
        if alpha >= beta:
            big, second = alpha, s + 1
        else:
            big, second = beta, r + x
        diff = abs(alpha - beta)
        at_tx, at_T = pairs or (_Pairs(x, t_x), _Pairs(x, T))
        with np.errstate(divide="ignore", invalid="ignore"):
            log_tx = np.log(_hyp2f1_by_pair(rsx, second, rsx + 1, diff / (big + t_x), at_tx)) - rsx * np.log(big + t_x)
            log_T = np.log(_hyp2f1_by_pair(rsx, second, rsx + 1, diff / (big + T), at_T)) - rsx * np.log(big + T)
        return log_tx, log_T

    def _log_rest(self, params, x, t_x, T, pairs=None):
        """log of (s/(r+s+x)) * A0, i.e. the 'died before T' part, relative to the common factor."""
        r, alpha, s, beta = params
        log_tx, log_T = self._log_a0_terms(params, x, t_x, T, pairs)
        with np.errstate(divide="ignore", invalid="ignore"):
            log_a0 = log_tx + np.log1p(-np.exp(np.minimum(log_T - log_tx, 0.0)))
        return np.log(s) - np.log(r + s + x) + log_a0

    def _log_likelihoods(self, params, x, t_x, T, pairs=None):
        return self._log_likelihoods_and_gradients(params, x, t_x, T, pairs, gradients=False)[0]

    def _gradients(self, params, x, t_x, T, pairs=None):
        return self._log_likelihoods_and_gradients(params, x, t_x, T, pairs)[1]

    def _log_likelihoods_and_gradients(self, params, x, t_x, T, pairs=None, gradients=True):
        """The likelihood is C * (alive + s * I), C = Gamma(r+x) alpha^r beta^s / Gamma(r),
        alive = (alpha+T)^-(r+x) (beta+T)^-s, I = integral over [t_x, T] of f(tau) =
        (alpha+tau)^-(r+x) (beta+tau)^-(s+1) (died at tau). Its derivatives need I's
        derivatives, expectations under f (``_died_at_expectations``); the likelihood itself
        is exact (through 2F1)."""
        r, alpha, s, beta = params
        common = special.gammaln(r + x) - special.gammaln(r) + r * np.log(alpha) + s * np.log(beta)
        log_alpha_T, log_beta_T = np.log(alpha + T), np.log(beta + T)
        alive = -(r + x) * log_alpha_T - s * log_beta_T
        rest = self._log_rest(params, x, t_x, T, pairs)
        both = np.logaddexp(alive, rest)
        if not gradients:
            return common + both, None
        p, q = np.exp(alive - both), np.exp(rest - both)  # shares of "alive at T" and "died before"
        e_log_a, e_inv_a, e_log_b, e_inv_b = _died_at_expectations(params, x, t_x, T).T
        grad = np.column_stack([
            special.digamma(r + x) - special.digamma(r) + np.log(alpha) - p * log_alpha_T - q * e_log_a,
            r / alpha - (r + x) * (p / (alpha + T) + q * e_inv_a),
            np.log(beta) - p * log_beta_T + q * (1 / s - e_log_b),
            s / beta - s * p / (beta + T) - q * (s + 1) * e_inv_b,
        ])
        return common + both, grad

    def _p_alive(self, params, x, t_x, T, pairs=None):
        r, alpha, s, beta = params
        alive = -(r + x) * np.log(alpha + T) - s * np.log(beta + T)
        return 1.0 / (1.0 + np.exp(self._log_rest(params, x, t_x, T, pairs) - alive))

    def _expected_if_alive(self, params, t, x, T):
        r, alpha, s, beta = params
        if abs(s - 1) < 1e-9:
            growth = np.log((beta + T + t) / (beta + T))
        else:
            growth = (1 - ((beta + T) / (beta + T + t)) ** (s - 1)) / (s - 1)
        return (r + x) * (beta + T) / (alpha + T) * growth

    def _simulate_alive(self, params, x, T, horizon, rng):
        """Purchases of customers alive at T: lambda ~ Gamma(r+x, alpha+T), mu ~ Gamma(s,
        beta+T), remaining lifetime ~ Exponential(mu); they arrive as a Poisson(lambda) process
        until the lifetime or the horizon ends."""
        r, alpha, s, beta = params
        lam = rng.gamma(r + x, 1.0 / (alpha + T))
        lifetime = rng.exponential(1.0 / rng.gamma(s, 1.0 / (beta + T), size=len(x)))
        return _poisson_purchases(lam, np.minimum(lifetime, horizon), None, rng)

    def _unconditional_expected(self, params, t):
        r, alpha, s, beta = params
        if abs(s - 1) < 1e-9:
            return r * beta / alpha * np.log((beta + t) / beta)
        return r * beta / (alpha * (s - 1)) * (1 - (beta / (beta + t)) ** (s - 1))


class GammaGammaModel(_MaximumLikelihood):
    """Gamma-Gamma spend model (Fader & Hardie 2013). Parameters p, q, gamma.

    ``fit`` uses only customers with frequency > 0 and mean repeat spend > 0; how many were
    left out is in ``n_excluded_``. The population mean spend per transaction is
    ``p * gamma / (q - 1)`` (finite only when q > 1).
    """

    param_names = ("p", "q", "gamma")

    def _log_likelihoods(self, params, x, m):
        p, q, gamma = params
        return (special.gammaln(p * x + q) - special.gammaln(p * x) - special.gammaln(q) + q * np.log(gamma)
                + (p * x - 1) * np.log(m) + p * x * np.log(x) - (p * x + q) * np.log(gamma + m * x))

    def _gradients(self, params, x, m):
        p, q, gamma = params
        psi = special.digamma
        log_total = np.log(gamma + m * x)
        d_p = x * (psi(p * x + q) - psi(p * x) + np.log(m) + np.log(x) - log_total)
        d_q = psi(p * x + q) - psi(q) + np.log(gamma) - log_total
        d_gamma = q / gamma - (p * x + q) / (gamma + m * x)
        return np.column_stack([d_p, d_q, d_gamma])

    def fit(self, frequency, monetary_value) -> "GammaGammaModel":
        x = _as_array(frequency, "frequency")
        m = _as_array(monetary_value, "monetary_value")
        usable = (x > 0) & (m > 0)
        self.n_excluded_ = int((~usable).sum())
        if usable.sum() < 2:
            raise InputError(f"The spend model needs at least 2 repeat customers with positive spend; got {usable.sum()}.",
                             column="monetary_value", hint="Gamma-Gamma is fitted on repeat customers only.")
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
            raise InputError(f"The fitted spend model has q = {q:.3f} <= 1: its mean spend is infinite. "
                             "Spend is too heavy-tailed for Gamma-Gamma; cap outliers or use a longer window.")
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

    def fit(self, frequency, monetary_value, revenue_total, n_orders) -> "MeanSpendModel":
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
        return pd.DataFrame({"estimate": [self.mean_], "se": [np.nan], "lower 95%": [np.nan], "upper 95%": [np.nan]},
                            index=pd.Index(["mean_spend"], name="parameter"))

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
    if usable.sum() < 3:
        return float("nan")
    return float(np.corrcoef(x[usable], m[usable])[0, 1])


def lifetime_value(transaction_model: _TransactionModel, spend_model: GammaGammaModel | MeanSpendModel, frequency, recency, T,
                   monetary_value, horizon: int, discount_rate: float = 0.0, margin: float = 1.0,
                   time_unit: str | None = None, transaction_params=None, spend_params=None) -> np.ndarray:
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
    cumulative = np.column_stack([
        transaction_model._expected_if_alive(params, float(i), unique[:, 0], unique[:, 2]) * alive if i else np.zeros(len(unique))
        for i in periods
    ])
    per_period = np.diff(cumulative, axis=1)
    discounted = per_period @ (1.0 + discount_rate) ** -periods[1:]
    value = spend_model.expected_average_value(x, monetary_value, params=spend_params)
    return margin * value * discounted[inverse]


def simulate_lifetime_value(transaction_model: _TransactionModel, spend_model: GammaGammaModel | MeanSpendModel, frequency, recency, T,
                            monetary_value, horizon: int, discount_rate: float = 0.0, margin: float = 1.0,
                            n_simulations: int = 200, random_state: int = 0, time_unit: str | None = None) -> np.ndarray:
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
