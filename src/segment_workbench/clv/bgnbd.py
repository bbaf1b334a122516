"""BG/NBD: Fader, Hardie & Lee (2005), "Counting your customers the easy way", Marketing
Science 24(2). Parameters r, alpha (purchase rate ~ Gamma(r, alpha)), a, b (drop-out
probability after each purchase ~ Beta(a, b))."""

from __future__ import annotations

import numpy as np
from scipy import special

from segment_workbench.clv.base import TransactionModel, _Distinct, _poisson_purchases


class BetaGeoModel(TransactionModel):
    """BG/NBD (Fader, Hardie & Lee 2005). Parameters r, alpha, a, b."""

    param_names = ("r", "alpha", "a", "b")

    def _prepared(self, x, t_x, T) -> tuple:
        return x, t_x, T, _Distinct(x)

    @staticmethod
    def _terms(params, x, t_x, T, distinct=None):
        """Log of the 'still alive' and 'dropped out after the last purchase' likelihood terms
        (without the common factor), and the distinct x with every row's index into them
        (functions of x alone are computed once per distinct purchase count)."""
        r, alpha, a, b = params
        distinct = distinct or _Distinct(x)
        ux, inv = distinct.values, distinct.inverse
        bx1 = np.maximum(b + ux - 1, 1e-300)
        with np.errstate(divide="ignore", invalid="ignore"):
            beta_still = (special.betaln(a, b + ux) - special.betaln(a, b))[inv]
            beta_dropped = np.where(ux > 0, special.betaln(a + 1, bx1) - special.betaln(a, b), -np.inf)[inv]
        log_T, log_tx = np.log(alpha + T), np.log(alpha + t_x)
        still = beta_still - (r + x) * log_T
        dropped = beta_dropped - (r + x) * log_tx
        return still, dropped, ux, inv, log_T, log_tx

    def _log_likelihoods_and_gradients(self, params, x, t_x, T, distinct=None, gradients=True):
        r, alpha, a, b = params
        still, dropped, ux, inv, log_T, log_tx = self._terms(params, x, t_x, T, distinct)
        both = np.logaddexp(still, dropped)
        ll = (special.gammaln(r + ux) - special.gammaln(r))[inv] + r * np.log(alpha) + both
        if not gradients:
            return ll, None
        psi = special.digamma
        w = np.exp(still - both)  # weight of the "still alive" term
        common_ab = psi(a + b)
        d_r = (psi(r + ux) - psi(r))[inv] + np.log(alpha) - w * log_T - (1 - w) * log_tx
        d_alpha = r / alpha - (r + x) * (w / (alpha + T) + (1 - w) / (alpha + t_x))
        psi_abx = psi(a + b + ux)
        ds_a = (common_ab - psi_abx)[inv]
        dd_a = (psi(a + 1) - psi_abx - psi(a) + common_ab)[inv]
        ds_b = (psi(b + ux) - psi_abx - psi(b) + common_ab)[inv]
        dd_b = np.where(ux > 0, psi(np.maximum(b + ux - 1, 1e-300)) - psi_abx - psi(b) + common_ab, 0.0)[inv]
        return ll, np.column_stack([d_r, d_alpha, w * ds_a + (1 - w) * dd_a, w * ds_b + (1 - w) * dd_b])

    @staticmethod
    def _log_odds_dead(params, x, t_x, T):
        r, alpha, a, b = params
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(
                x > 0,
                np.log(a) - np.log(np.maximum(b + x - 1, 1e-300)) + (r + x) * (np.log(alpha + T) - np.log(alpha + t_x)),
                -np.inf,
            )

    def _p_alive(self, params, x, t_x, T, distinct=None):
        return 1.0 / (1.0 + np.exp(self._log_odds_dead(params, x, t_x, T)))

    def _expected_if_alive(self, params, t, x, t_x, T):
        return expected_if_alive(params, t, x, T, survived=0)

    def _no_purchase_if_alive(self, params, t, x, t_x, T):
        """P(no purchase in (T, T + t] | alive at T): a BG/NBD customer can only drop out right
        after a purchase, so this is the Poisson zero averaged over the rate's posterior."""
        r, alpha = params[:2]
        return ((alpha + T) / (alpha + T + t)) ** (r + x)

    def _simulate_alive(self, params, x, t_x, T, horizon, rng):
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


def expected_if_alive(params, t, x, T, survived: int) -> np.ndarray:
    """Expected purchases in the next ``t`` periods of a customer alive at T after x repeat
    purchases, who drops out after each purchase with p ~ Beta(a, b + x + ``survived``) (the
    drop-out chances survived beyond one per repeat purchase: 1 in MBG/NBD) and buys at
    lambda ~ Gamma(r + x, alpha + T):
    (a + b' - 1) / (a - 1) (1 - ((alpha+T)/(alpha+T+t))^(r+x) 2F1(r+x, b'; a+b'-1; z)),
    b' = b + x + survived, z = t / (alpha + T + t)."""
    r, alpha, a, b = params
    b_ = b + survived
    z = t / (alpha + T + t)
    # Euler's transformation of 2F1(r+x, b'+x; a+b'+x-1; z) times (1-z)^(r+x): stays finite
    # for customers with many purchases, where the direct form overflows.
    # At a fit that ran to the edge of the parameter range (a, b ~ 1e6: not converged, and
    # reported so) 2F1 overflows against a vanishing power: the expectation is NaN, shown as
    # "—" beside the convergence warning, not a numeric warning.
    with np.errstate(over="ignore", invalid="ignore"):
        tail = (1 - z) ** (a - 1) * special.hyp2f1(a + b_ - 1 - r, a - 1, a + b_ + x - 1, z)
    return (a + b_ + x - 1) / (a - 1) * (1 - tail)
