"""What every likelihood model shares: input checks, maximum likelihood on the log scale from
several starts with an analytic gradient, standard errors from the Hessian, and the base class
of the repeat-purchase models.

Time is in the customer table's ``time_unit``; x = repeat purchases, t_x = recency, T = age of
the customer at the end of calibration. Log-likelihoods are computed in log space; customers
with identical (x, t_x, T) are fitted once with a weight. Standard errors come from the Hessian
(central differences of the gradient; delta method from the log scale); 95% intervals are
``exp(log(estimate) ± 1.96 se_log)``. A fit that does not converge sets ``converged_ = False``
and says why in ``convergence_message_``; it is never silent.
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
        raise InputError(
            f"{name} has missing or infinite values.",
            column=name,
            rows=pd.DataFrame({name: arr[~np.isfinite(arr)][:5]}),
        )
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
            raise InputError(
                f"{bad.sum()} customer(s): {message}.",
                rows=rows,
                hint="Build the inputs with segment_workbench.customers.table.build_customer_table.",
            )
    return x, t_x, T_


def _compress(*columns: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct rows of the columns (in order of first appearance), their counts (weights) and
    every row's index into them; by hashing (``pd.factorize``), not sorting."""
    inverse = np.zeros(len(columns[0]), np.int64)
    for column in columns:
        codes, values = pd.factorize(column)
        inverse = pd.factorize(inverse * len(values) + codes)[0]  # < n * n: fits in int64
    first = np.zeros(inverse.max() + 1 if len(inverse) else 0, np.intp)
    first[inverse] = np.arange(len(inverse))  # any row of each: they are equal
    return np.column_stack(columns)[first], np.bincount(inverse).astype(float), inverse


class _Distinct:
    """The distinct values of x and every row's index into them (functions of x alone are
    computed once per distinct purchase count)."""

    def __init__(self, x: np.ndarray):
        self.values, self.inverse = np.unique(x, return_inverse=True)


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


def _hessian_from_gradient(gradient, x0: np.ndarray, g0: np.ndarray) -> np.ndarray:
    """Hessian as forward differences of an analytic gradient (one gradient per parameter
    beyond ``g0``, the gradient at ``x0``; relative error about 1e-5, ample for standard errors
    and the definiteness check), symmetrized."""
    h = 1e-5 * np.maximum(1.0, np.abs(x0))
    columns = [(gradient(x0 + step) - g0) / step[i] for i, step in enumerate(np.diag(h))]
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
    #: whether ``_optimize`` splits many rows into blocks evaluated in threads (off for a model
    #: whose likelihood already runs its own threads)
    _threaded_rows = True

    def __init__(self, n_starts: int = 6, random_state: int = 0):
        self.n_starts = n_starts
        self.random_state = random_state

    # subclasses: _log_likelihoods_and_gradients(params, *data, gradients=True) -> the per-row
    # log-likelihood and its per-row gradient in the natural parameters, (n, k), computed together
    # (they share their costly terms); the gradient is None with gradients=False
    def _log_likelihoods_and_gradients(self, params: np.ndarray, *data, gradients: bool = True) -> tuple:
        raise NotImplementedError

    def _log_likelihoods(self, params: np.ndarray, *data) -> np.ndarray:
        return self._log_likelihoods_and_gradients(params, *data, gradients=False)[0]

    def _gradients(self, params: np.ndarray, *data) -> np.ndarray:
        return self._log_likelihoods_and_gradients(params, *data)[1]

    def _prepared(self, *columns: np.ndarray) -> tuple:
        """The data as ``_log_likelihoods`` takes them, with what every call reuses."""
        return columns

    def _start(self, columns: tuple, weights: np.ndarray) -> np.ndarray:
        """The first starting point on the log scale (default: every parameter 1)."""
        return np.zeros(len(self.param_names))

    def _optimize(self, columns: tuple, weights: np.ndarray) -> _Optimum:
        """Maximum likelihood on the log scale from ``_start``; more starting points (random
        normal around 0, up to ``n_starts``) only when the optimum found fails its checks
        (gradient zero, inside the range, Hessian positive definite). The rows are evaluated in
        blocks, one per core, in threads (numpy and scipy release the GIL) when there are many;
        BLAS runs single-threaded meanwhile (its threads cost more than they bring on the
        optimizer's 4-vectors and the (rows x 4) products)."""
        from threadpoolctl import threadpool_limits

        with threadpool_limits(limits=1, user_api="blas"):
            return self._maximize(columns, weights)

    def _maximize(self, columns: tuple, weights: np.ndarray) -> _Optimum:
        parts = max(1, min(os.cpu_count() or 1, len(weights) // 50_000)) if self._threaded_rows else 1
        blocks = [
            (self._prepared(*(c[rows] for c in columns)), weights[rows])
            for rows in np.array_split(np.arange(len(weights)), parts)
        ]

        def block_sums(item) -> tuple[float, np.ndarray]:
            data, w = item
            with np.errstate(all="ignore"):
                ll, gradients = self._log_likelihoods_and_gradients(params_now[0], *data)
                return float(np.dot(w, ll)), w @ gradients

        params_now = [None]

        def negative_ll_and_gradient(log_params: np.ndarray) -> tuple[float, np.ndarray]:
            params_now[0] = np.exp(log_params)
            sums = _map_in_threads(block_sums, blocks) if len(blocks) > 1 else [block_sums(blocks[0])]
            total = sum(s[0] for s in sums)
            with np.errstate(all="ignore"):
                grad = sum(s[1] for s in sums) * params_now[0]  # chain rule to the log scale
            if not (np.isfinite(total) and np.isfinite(grad).all()):
                return 1e300, np.zeros_like(log_params)
            return -total, -grad

        tolerance = 1e-3 + 1e-5 * float(weights.sum())

        def problems_at(res) -> tuple[list[str], np.ndarray]:
            # Judged by the optimum itself, not the optimizer's status: L-BFGS-B often ends with
            # an "abnormal" line search when it already sits on the optimum at machine precision.
            gradient = negative_ll_and_gradient(res.x)[1]
            hess = _hessian_from_gradient(lambda log_params: negative_ll_and_gradient(log_params)[1], res.x, gradient)
            problems = []
            if not np.all(np.abs(gradient) <= tolerance):
                problems.append(
                    f"the gradient is not zero at the best point found (max |gradient| "
                    f"{np.max(np.abs(gradient)):.2g}; optimizer: {res.message})"
                )
            if np.any(np.abs(res.x) > LOG_BOUND - 0.5):
                problems.append(
                    "a parameter ran to the edge of its range (the likelihood is maximal at a limit of the model)"
                )
            if not np.all(np.linalg.eigvalsh(hess) > 0):
                problems.append("the Hessian is not positive definite: the optimum is not a proper maximum")
            return problems, hess

        rng = np.random.default_rng(self.random_state)
        starts = [self._start(columns, weights)] + [
            rng.normal(0.0, 1.0, len(self.param_names)) for _ in range(self.n_starts - 1)
        ]
        # Bounded on the log scale: beyond exp(+-LOG_BOUND) the log-gamma differences lose
        # their precision; an optimum on the bound is reported as not converged.
        bounds = [(-LOG_BOUND, LOG_BOUND)] * len(self.param_names)
        results, best, problems, hess = [], None, ["no starting point tried"], None
        for start in starts:
            res = optimize.minimize(
                negative_ll_and_gradient,
                np.clip(start, -LOG_BOUND, LOG_BOUND),
                jac=True,
                method="L-BFGS-B",
                bounds=bounds,
                options={"maxiter": 500, "ftol": 1e-15, "gtol": 1e-10},
            )
            if not (np.isfinite(res.fun) and res.fun < 1e299):
                continue
            results.append(res)
            if best is None or res.fun < best.fun:
                best = res
                problems, hess = problems_at(best)
            # Stop at the first optimum that passes its checks, or once two starting points run
            # to the boundary (the likelihood is maximal at a limit of the model).
            if not problems or sum(np.any(np.abs(r.x) > LOG_BOUND - 0.5) for r in results) >= 2:
                break
        if best is None:
            return _Optimum(starts[0], float("-inf"), False, "the log-likelihood was not finite at any starting point")
        self._hessian_log = hess
        tried = "the first starting point" if len(results) == 1 else f"{len(results)} starting points tried"
        return _Optimum(best.x, -float(best.fun), not problems, "; ".join(problems) or f"converged ({tried})")

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
            self.covariance_log_ = pd.DataFrame(
                np.full((len(self.param_names),) * 2, np.nan), index=self.param_names, columns=self.param_names
            )

    @property
    def summary(self) -> pd.DataFrame:
        """estimate, standard error, lower/upper 95% bounds per parameter."""
        self._check_fitted()
        se_log = np.sqrt(np.clip(np.diag(self.covariance_log_.to_numpy()), 0, None))
        est = self.params_.to_numpy()
        with np.errstate(over="ignore"):  # a weakly identified parameter's bound is infinite
            return pd.DataFrame(
                {
                    "estimate": est,
                    "se": est * se_log,
                    "lower 95%": est * np.exp(-Z95 * se_log),
                    "upper 95%": est * np.exp(Z95 * se_log),
                },
                index=pd.Index(self.param_names, name="parameter"),
            )

    def _check_fitted(self) -> None:
        if not hasattr(self, "params_"):
            raise NotFittedError(f"{type(self).__name__} is not fitted yet: call fit() first.")

    def _check_unit(self, time_unit: str | None) -> None:
        if time_unit is not None and time_unit != self.time_unit_:
            raise ConfigError(
                f"The model was fitted in {self.time_unit_}, but {time_unit} were given. "
                "Use the same time unit for fitting and prediction."
            )

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


def _poisson_purchases(
    lam: np.ndarray, end: np.ndarray, p_drop: np.ndarray | None, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Purchase times of customers buying as Poisson processes with rates ``lam`` on [0, end),
    each dropping out after a purchase with probability ``p_drop`` (None: never), as arrays
    (customer index, time). The work follows the purchases, not customers x periods: without
    drop-out, N ~ Poisson(lam * end) purchases at uniform times; with it, one gap ~
    Exponential(lam) per purchase and a drop-out draw after each."""
    if p_drop is None:
        customer = np.repeat(np.arange(len(lam)), rng.poisson(lam * end))
        return customer, rng.uniform(size=len(customer)) * end[customer]
    return _renewal_purchases(lam, np.ones(len(lam)), 1, end, p_drop, rng)


def _renewal_purchases(lam, first_stages, k: int, end, p_drop, rng) -> tuple[np.ndarray, np.ndarray]:
    """Purchase times on [0, end) of customers whose next purchase needs ``first_stages``
    exponential stages of rate lam and every later one k (k = 1: a Poisson process), dropping
    out after each purchase with probability p_drop: arrays (customer index, time)."""
    active = np.flatnonzero(end > 0)
    with np.errstate(divide="ignore"):  # a rate of 0 waits forever
        scale = 1.0 / lam
    now = rng.gamma(first_stages[active], scale[active])
    customers, times = [], []
    while len(active):
        bought = now < end[active]
        active, now = active[bought], now[bought]
        customers.append(active)
        times.append(now)
        stays = rng.uniform(size=len(active)) >= p_drop[active]
        active, now = active[stays], now[stays]
        now = now + rng.gamma(k, scale[active])
    return np.concatenate(customers or [np.zeros(0, np.intp)]), np.concatenate(times or [np.zeros(0)])


def _validate_unit(time_unit: str) -> str:
    if time_unit not in TIME_UNIT_DAYS:
        raise ConfigError(f"time_unit must be one of {', '.join(TIME_UNIT_DAYS)}, got {time_unit!r}.")
    return time_unit


class TransactionModel(_MaximumLikelihood):
    """Fit on (frequency, recency, T); predictions conditional on a customer's history."""

    def fit(self, frequency, recency, T, time_unit: str = "weeks") -> TransactionModel:
        """Fit by maximum likelihood. ``time_unit`` is the unit of recency and T."""
        x, t_x, T_ = self._fit_inputs(frequency, recency, T, time_unit)
        unique, weights, _ = _compress(x, t_x, T_)
        opt = self._optimize(tuple(unique.T), weights)
        self._store(opt, len(x))
        return self

    def _fit_inputs(self, frequency, recency, T, time_unit: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Checked (x, t_x, T): at least two customers, one of them with a repeat purchase;
        sets ``time_unit_``."""
        x, t_x, T_ = check_rfm(frequency, recency, T)
        if len(x) < 2:
            raise InputError(f"{type(self).__name__} needs at least 2 customers; got {len(x)}.")
        if not (x > 0).any():
            raise InputError(
                "No customer has a repeat purchase, so the repeat-purchase model cannot be fitted.",
                column="frequency",
                hint="Use a longer calibration period or more customers.",
            )
        self.time_unit_ = _validate_unit(time_unit)
        return x, t_x, T_

    def _prepared(self, x, t_x, T) -> tuple:
        """(x, t_x, T) as ``_log_likelihoods`` and ``_simulate_purchases`` take them, with what
        they reuse at every call (a fit's steps, a simulation's draws)."""
        return x, t_x, T

    def _start(self, columns: tuple, weights: np.ndarray) -> np.ndarray:
        """Every parameter 1 but the time scales: alpha, the customers' mean age over their mean
        repeat purchases, so that the first rates have the data's size in any time unit, and
        beta (Pareto/NBD) e times that (lifetimes longer than the time between purchases)."""
        x, _, T = columns[:3]
        scale = np.log(np.dot(weights, T) / max(np.dot(weights, x), 1e-3 * weights.sum()))
        return np.array([{"alpha": scale, "beta": scale + 1.0}.get(name, 0.0) for name in self.param_names])

    def _simulate_purchases(self, params, data, horizon, rng):
        """Future purchases drawn from each customer's posterior, as (customer index, time in
        periods from T); ``data`` from ``_prepared``: alive ~ Bernoulli(P(alive)), then the
        purchases of the customers alive (``_simulate_alive``: only they get rates drawn)."""
        x, t_x, T = data[:3]
        alive = np.flatnonzero(rng.uniform(size=len(x)) < self._p_alive(params, *data))
        customer, time = self._simulate_alive(params, x[alive], t_x[alive], T[alive], horizon, rng)
        return alive[customer], time

    def log_likelihood(self, frequency, recency, T) -> np.ndarray:
        """Per-customer log-likelihood at the fitted parameters."""
        self._check_fitted()
        return self._log_likelihoods(self.params_.to_numpy(), *check_rfm(frequency, recency, T))

    def expected_purchases(
        self, t: float, frequency, recency, T, time_unit: str | None = None, params=None
    ) -> np.ndarray:
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

    def prob_purchase(self, t: float, frequency, recency, T, params=None) -> np.ndarray:
        """Probability of at least one purchase in the next ``t`` periods (``time_unit_``):
        P(alive at T) × (1 − P(no purchase in (T, T + t] | alive at T))."""
        self._check_fitted()
        p = self.params_.to_numpy() if params is None else np.asarray(params)
        x, t_x, T_ = check_rfm(frequency, recency, T)
        return self._p_alive(p, x, t_x, T_) * (1.0 - self._no_purchase_if_alive(p, float(t), x, t_x, T_))

    def next_purchase_quantiles(self, quantiles, frequency, recency, T, params=None) -> np.ndarray:
        """Time to the next purchase, in periods from T, at each of ``quantiles`` (customers x
        quantiles), for a customer who stays active: their rate given their history is
        Gamma(r + x, alpha + T) in BG/NBD, Pareto/NBD and MBG/NBD, so the waiting time follows a Lomax law,
        P(no purchase in t) = ((alpha + T) / (alpha + T + t)) ** (r + x), and its q-quantile is
        (alpha + T) ((1 - q) ** (-1 / (r + x)) - 1)."""
        self._check_fitted()
        r, alpha = (self.params_.to_numpy() if params is None else np.asarray(params))[:2]
        x, _, T_ = check_rfm(frequency, recency, T)
        q = np.asarray(quantiles, float)[None, :]
        return (alpha + T_)[:, None] * ((1.0 - q) ** (-1.0 / (r + x)[:, None]) - 1.0)

    def _conditional_expected(self, params, t, x, t_x, T):
        """Expected purchases in the next ``t`` periods: expected if alive, times P(alive)."""
        return self._expected_if_alive(params, t, x, t_x, T) * self._p_alive(params, x, t_x, T)

    def expected_repeat_purchases(self, t, params=None) -> np.ndarray:
        """Expected repeat purchases in (0, t] for a customer just acquired (unconditional)."""
        self._check_fitted()
        p = self.params_.to_numpy() if params is None else np.asarray(params)
        return self._unconditional_expected(p, np.asarray(t, dtype=float))
