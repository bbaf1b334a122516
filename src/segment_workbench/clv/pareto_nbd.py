"""Pareto/NBD: Schmittlein, Morrison & Colombo (1987), likelihood as in Fader, Hardie & Lee
(2005), "A note on deriving the Pareto/NBD model and related expressions". Parameters r, alpha
(purchase rate ~ Gamma(r, alpha)), s, beta (lifetime rate ~ Gamma(s, beta)). The likelihood is
exact through 2F1; its gradient needs expectations under the "died at tau" density, by
Gauss-Legendre quadrature (``_died_at_expectations``)."""

from __future__ import annotations

import numpy as np
from scipy import special

from segment_workbench.clv.base import TransactionModel, _hyp2f1_by_pair, _map_in_threads, _Pairs, _poisson_purchases

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
        return np.column_stack(
            [np.einsum("ij,ij->i", weights, g) for g in (log_a, 1 / (alpha + tau), log_b, 1 / (beta + tau))]
        )

    chunks = np.array_split(np.arange(len(x)), max(1, len(x) // 1024))  # small blocks: no page faults in threads
    return np.concatenate(_map_in_threads(rows, chunks))


class ParetoNBDModel(TransactionModel):
    """Pareto/NBD (Schmittlein, Morrison & Colombo 1987). Parameters r, alpha, s, beta."""

    param_names = ("r", "alpha", "s", "beta")
    _threaded_rows = False  # 2F1 and the quadrature run in threads of their own

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
        grad = np.column_stack(
            [
                special.digamma(r + x) - special.digamma(r) + np.log(alpha) - p * log_alpha_T - q * e_log_a,
                r / alpha - (r + x) * (p / (alpha + T) + q * e_inv_a),
                np.log(beta) - p * log_beta_T + q * (1 / s - e_log_b),
                s / beta - s * p / (beta + T) - q * (s + 1) * e_inv_b,
            ]
        )
        return common + both, grad

    def _p_alive(self, params, x, t_x, T, pairs=None):
        r, alpha, s, beta = params
        alive = -(r + x) * np.log(alpha + T) - s * np.log(beta + T)
        return 1.0 / (1.0 + np.exp(self._log_rest(params, x, t_x, T, pairs) - alive))

    def _expected_if_alive(self, params, t, x, t_x, T):
        r, alpha, s, beta = params
        if abs(s - 1) < 1e-9:
            growth = np.log((beta + T + t) / (beta + T))
        else:
            growth = (1 - ((beta + T) / (beta + T + t)) ** (s - 1)) / (s - 1)
        return (r + x) * (beta + T) / (alpha + T) * growth

    def _no_purchase_if_alive(self, params, t, x, t_x, T, nodes: int = 24):
        """P(no purchase in (T, T + t] | alive at T). Given lambda and mu, a customer makes no
        purchase if they drop out before their next purchase or neither happens by t:
        e^-(lambda+mu)t + mu / (lambda + mu) (1 - e^-(lambda+mu)t); averaged over the posterior
        (lambda ~ Gamma(r + x, alpha + T), mu ~ Gamma(s, beta + T), independent given alive) on a
        grid of ``nodes`` x ``nodes`` equal-probability points (a midpoint rule on quantiles).
        It depends on (x, T) only: computed once per distinct pair (a few tens of thousands
        among millions of customers), in blocks over threads."""
        r, alpha, s, beta = params
        q = (np.arange(nodes) + 0.5) / nodes
        pairs = _Pairs(x, T)
        xs, Ts = x[pairs.first], T[pairs.first]
        mu_quantiles = special.gammaincinv(s, q)[None, :]

        def block(rows: np.ndarray) -> np.ndarray:  # a (pairs x nodes x nodes) grid
            lam = special.gammaincinv((r + xs[rows])[:, None], q[None, :]) / (alpha + Ts[rows])[:, None]
            mu = mu_quantiles / (beta + Ts[rows])[:, None]
            total = lam[:, :, None] + mu[:, None, :]
            gone = np.exp(-total * t)
            return (gone + mu[:, None, :] / total * (1.0 - gone)).mean(axis=(1, 2))

        blocks = np.array_split(np.arange(len(xs)), max(1, len(xs) // 4096))
        return np.concatenate(_map_in_threads(block, blocks))[pairs.inverse]

    def _simulate_alive(self, params, x, t_x, T, horizon, rng):
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
