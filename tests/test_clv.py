"""The CLV models against the published CDNOW results, and their edge cases.

The calibration summary is built with the project's own collect + customer-table code:
CDNOW sample (2,357 customers), calibration 1997-01-01 .. 1997-09-30 (39 weeks), weeks.
"""

import numpy as np
import pandas as pd
import pytest
from scipy import special
from support import TEST_DATA, assert_gradient_matches

from segment_workbench import clv
from segment_workbench.clv import base as clv_base
from segment_workbench.clv import pareto_nbd
from segment_workbench.customers import table as customers
from segment_workbench.errors import ConfigError, InputError
from segment_workbench.io.collect import collect


@pytest.fixture(scope="module")
def cdnow():
    tx = collect({"kind": "csv", "path": str(TEST_DATA / "cdnow_sample.txt"), "preset": "cdnow"}).transactions
    calibration = tx[tx["order_date"] <= "1997-09-30"]
    return customers.build_customer_table(calibration, "1997-09-30", "weeks")


@pytest.fixture(scope="module")
def bgnbd(cdnow):
    return clv.BetaGeoModel().fit(cdnow["frequency"], cdnow["recency"], cdnow["T"], time_unit="weeks")


def test_calibration_summary_matches_the_paper(cdnow):
    assert len(cdnow) == 2357 and (cdnow["frequency"] > 0).sum() == 946
    first = cdnow.set_index("customer_id").loc["0001"]
    assert (first["frequency"], round(first["recency"], 2), round(first["T"], 2)) == (2, 30.43, 38.86)


def test_bg_nbd_reproduces_fader_hardie_lee_2005(bgnbd):
    assert bgnbd.converged_
    assert bgnbd.params_.round(3).to_dict() == {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
    assert round(bgnbd.log_likelihood_, 1) == -9582.4
    assert round(float(bgnbd.expected_purchases(39, [2], [30.43], [38.86])[0]), 3) == 1.226
    summary = bgnbd.summary
    assert list(summary.columns) == ["estimate", "se", "lower 95%", "upper 95%"]
    assert (summary["lower 95%"] < summary["estimate"]).all() and (summary["estimate"] < summary["upper 95%"]).all()


def test_pareto_nbd_reproduces_the_published_fit(cdnow):
    model = clv.ParetoNBDModel().fit(cdnow["frequency"], cdnow["recency"], cdnow["T"])
    assert model.converged_
    assert model.params_.round(3).to_dict() == {"r": 0.553, "alpha": 10.578, "s": 0.606, "beta": 11.669}
    assert round(model.log_likelihood_, 1) == -9595.0


def test_gamma_gamma_reproduces_fader_hardie_2013(cdnow):
    model = clv.GammaGammaModel().fit(cdnow["frequency"], cdnow["monetary_value"])
    assert model.converged_ and model.n_customers_ == 946 and model.n_excluded_ == 2357 - 946
    assert model.params_.round(2).to_dict() == {"p": 6.25, "q": 3.74, "gamma": 15.44}


def test_log_likelihood_equals_the_paper_formula(bgnbd):
    """Per-customer likelihood against the BG/NBD formula written out directly."""
    r, alpha, a, b = bgnbd.params_
    x, t_x, T = np.array([0, 1, 5]), np.array([0, 10.0, 30.0]), np.array([20.0, 35.0, 38.0])
    beta = special.beta
    direct = (special.gamma(r + x) * alpha**r / special.gamma(r)) * (
        beta(a, b + x) / beta(a, b) / (alpha + T) ** (r + x)
        + np.where(x > 0, beta(a + 1, b + x - 1) / beta(a, b) / (alpha + t_x) ** (r + x), 0)
    )
    np.testing.assert_allclose(bgnbd.log_likelihood(x, t_x, T), np.log(direct), rtol=1e-10)


def test_expected_purchases_stable_form_equals_the_direct_form(bgnbd):
    r, alpha, a, b = bgnbd.params_
    x, t_x, T, t = np.array([0, 3, 12]), np.array([0, 20.0, 36.0]), np.array([30.0, 38.0, 38.0]), 26.0
    z = t / (alpha + T + t)
    direct = (
        (a + b + x - 1)
        / (a - 1)
        * (1 - ((alpha + T) / (alpha + T + t)) ** (r + x) * special.hyp2f1(r + x, b + x, a + b + x - 1, z))
        / (1 + (x > 0) * a / (b + x - 1) * ((alpha + T) / (alpha + t_x)) ** (r + x))
    )
    np.testing.assert_allclose(bgnbd.expected_purchases(t, x, t_x, T), direct, rtol=1e-9)
    # and stays finite where the direct form's hypergeometric term overflows
    assert np.isfinite(bgnbd.expected_purchases(52, [400], [38.0], [38.5])).all()


def test_p_alive_properties(bgnbd):
    assert bgnbd.p_alive([0], [0], [30])[0] == 1.0  # BG/NBD: no repeat purchase, no chance to drop out
    recent, lapsed = bgnbd.p_alive([5, 5], [37.0, 5.0], [38.0, 38.0])
    assert 0 < lapsed < recent < 1


def test_lifetime_value_by_hand(bgnbd, cdnow):
    spend = clv.GammaGammaModel().fit(cdnow["frequency"], cdnow["monetary_value"])
    x, t_x, T, m = [2], [30.43], [38.86], [25.0]
    value = clv.lifetime_value(bgnbd, spend, x, t_x, T, m, horizon=3, discount_rate=0.01, margin=0.3, time_unit="weeks")
    cumulative = [0.0] + [float(bgnbd.expected_purchases(i, x, t_x, T)[0]) for i in (1, 2, 3)]
    by_hand = (
        0.3
        * spend.expected_average_value(x, m)[0]
        * sum((cumulative[i] - cumulative[i - 1]) / 1.01**i for i in (1, 2, 3))
    )
    assert value[0] == pytest.approx(by_hand)


def test_units_must_match(bgnbd):
    with pytest.raises(ConfigError, match="fitted in weeks, but days"):
        bgnbd.expected_purchases(10, [1], [2.0], [3.0], time_unit="days")
    with pytest.raises(ConfigError):
        clv.BetaGeoModel().fit([1, 0], [1.0, 0], [2.0, 2.0], time_unit="fortnights")


@pytest.mark.parametrize(
    "frequency, recency, T, message",
    [
        ([0, 0, 0], [0, 0, 0], [5, 6, 7], "No customer has a repeat purchase"),
        ([1], [1.0], [2.0], "at least 2 customers"),
        ([1, 2], [3.0, 1.0], [2.0, 4.0], "cannot exceed T"),
        ([-1, 2], [0.0, 1.0], [2.0, 4.0], "whole number"),
        ([0, 2], [1.0, 1.0], [2.0, 4.0], "recency must be 0"),
    ],
)
def test_degenerate_inputs_are_clear_errors(frequency, recency, T, message):
    with pytest.raises(InputError, match=message):
        clv.BetaGeoModel().fit(frequency, recency, T)


def test_zero_T_is_allowed(cdnow):
    data = pd.concat([cdnow, pd.DataFrame({"frequency": [0], "recency": [0.0], "T": [0.0]})])
    model = clv.BetaGeoModel().fit(data["frequency"], data["recency"], data["T"])
    assert model.converged_ and model.expected_purchases(10, [0], [0.0], [0.0])[0] > 0


def test_gamma_gamma_excludes_nonpositive_spend_and_reports_it():
    x = np.array([1, 2, 3, 0, 2, 4, 1, 5])
    m = np.array([10.0, 12.0, 9.0, 0.0, -5.0, 11.0, 0.0, 14.0])
    model = clv.GammaGammaModel().fit(x, m)
    assert model.n_customers_ == 5 and model.n_excluded_ == 3
    with pytest.raises(InputError, match="at least 2 repeat customers"):
        clv.GammaGammaModel().fit([1, 0], [5.0, 0.0])


def test_frequency_spend_correlation_is_low_on_cdnow(cdnow):
    assert abs(clv.frequency_spend_correlation(cdnow["frequency"], cdnow["monetary_value"])) < 0.3


def test_models_recover_planted_parameters():
    """Customers drawn from the BG/NBD and Gamma-Gamma processes: the fits find the truth."""
    from segment_workbench.datasets.synthetic import simulate_bgnbd

    x, t_x, T, m = simulate_bgnbd(40_000, seed=1)
    bg = clv.BetaGeoModel().fit(x, t_x, T)
    truth = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
    summary = bg.summary
    for name, value in truth.items():  # inside the 95% interval, within 15%
        assert summary.loc[name, "lower 95%"] < value < summary.loc[name, "upper 95%"], name
        assert bg.params_[name] == pytest.approx(value, rel=0.15)
    gg = clv.GammaGammaModel().fit(x, m)
    assert gg.params_.to_dict() == pytest.approx({"p": 6.25, "q": 3.74, "gamma": 15.44}, rel=0.15)


def test_hypergeometric_terms_per_distinct_pair_equal_the_direct_call():
    """Pareto/NBD evaluates 2F1 once per distinct (x, t) in threads: exactly scipy's values,
    also in the slow region where the dropout parameters are large."""
    rng = np.random.default_rng(5)
    x = rng.integers(0, 40, 30_000).astype(float)
    t = rng.integers(0, 400, 30_000) / 7
    pairs = clv_base._Pairs(x, t)
    assert len(pairs.first) < len(x)
    for r, alpha, s, beta in ([0.55, 10.6, 0.61, 11.7], [17.3, 60.0, 1747.0, 71271.0]):
        rsx = r + s + x
        big, second = (alpha, s + 1) if alpha >= beta else (beta, r + x)
        z = abs(alpha - beta) / (big + t)
        expected = special.hyp2f1(rsx, second, rsx + 1, z)
        np.testing.assert_array_equal(clv_base._hyp2f1_by_pair(rsx, second, rsx + 1, z, pairs), expected)


PARETO_REGIMES = [
    (0.553, 10.578, 0.606, 11.669),  # the published CDNOW fit
    (17.3, 60.0, 1747.0, 71271.0),  # dropout parameters run off (a 1M-line calibration fit)
    (0.05, 0.01, 30.0, 0.5),
    (50.0, 0.5, 0.1, 200.0),
    (1.0, 1.0, 1.0, 1.0),
]  # odd, and the first start


@pytest.mark.parametrize("params", PARETO_REGIMES)
def test_pareto_nbd_died_at_expectations_match_adaptive_quadrature(cdnow, params):
    from scipy import integrate

    r, alpha, s, beta = params
    x, t_x, T = clv.check_rfm(cdnow["frequency"], cdnow["recency"], cdnow["T"])
    rows = np.r_[np.random.default_rng(0).choice(np.flatnonzero(t_x < T), 40, replace=False), np.argmax(x)]
    got = pareto_nbd._died_at_expectations(params, x[rows], t_x[rows], T[rows])
    for row, values in zip(rows, got):
        lo, hi = t_x[row], T[row]

        def log_f(tau):
            return -(r + x[row]) * np.log(alpha + tau) - (s + 1) * np.log(beta + tau)  # noqa: B023

        def f(tau):
            return np.exp(log_f(tau) - log_f(lo))  # noqa: B023

        points = [lo + (hi - lo) * q for q in (1e-6, 1e-4, 1e-2, 0.1)]
        mass = integrate.quad(f, lo, hi, points=points, epsabs=0, epsrel=1e-13, limit=500)[0]
        for value, g in zip(
            values,
            [
                lambda tau: np.log(alpha + tau),
                lambda tau: 1 / (alpha + tau),
                lambda tau: np.log(beta + tau),
                lambda tau: 1 / (beta + tau),
            ],
        ):
            weighted = integrate.quad(
                lambda tau, g=g: f(tau) * g(tau), lo, hi, points=points, epsabs=0, epsrel=1e-13, limit=500
            )
            expected = weighted[0] / mass
            assert value == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize("params", PARETO_REGIMES)
def test_pareto_nbd_gradient_equals_finite_differences_of_the_likelihood(cdnow, params):
    """Per customer, against 4th-order central differences of the exact (2F1) log-likelihood."""
    data = clv.check_rfm(cdnow["frequency"], cdnow["recency"], cdnow["T"])
    assert_gradient_matches(clv.ParetoNBDModel(), params, data, rtol=1e-5, atol_share=1e-8)


def _posterior_rates(params, x, T, n, rng):
    r, alpha = params[:2]
    return rng.gamma(r + x, 1.0 / (alpha + T), n)


@pytest.mark.parametrize("model_class", [clv.BetaGeoModel, clv.ParetoNBDModel], ids=["bg_nbd", "pareto_nbd"])
def test_no_purchase_probability_and_next_purchase_window_against_simulation(model_class, cdnow):
    """For customers alive at T, draw their rates (and Pareto/NBD lifetimes) from the
    posterior and count who makes no purchase in the next t periods; and the simulated waiting
    time's quantiles against the Lomax formula."""
    rng = np.random.default_rng(7)
    model = model_class().fit(cdnow["frequency"], cdnow["recency"], cdnow["T"])
    params = model.params_.to_numpy()
    x, T, t = np.array([0.0, 2.0, 7.0]), np.array([30.0, 35.0, 38.0]), 13.0
    formula = model._no_purchase_if_alive(params, t, x, None, T)
    n = 400_000
    for i in range(len(x)):
        lam = _posterior_rates(params, x[i], T[i], n, rng)
        first = rng.exponential(1.0 / lam)
        if model_class is clv.ParetoNBDModel:
            s, beta = params[2:]
            lifetime = rng.exponential(1.0 / rng.gamma(s, 1.0 / (beta + T[i]), n))
            simulated = np.mean((first > t) | (lifetime < first))
        else:
            simulated = np.mean(first > t)
        assert formula[i] == pytest.approx(simulated, abs=0.004), i
        quantiles = model.next_purchase_quantiles([0.1, 0.5, 0.9], [x[i]], [min(x[i], 1) * T[i] * 0.5], [T[i]])[0]
        np.testing.assert_allclose(quantiles, np.quantile(first, [0.1, 0.5, 0.9]), rtol=0.02)
    # P(at least one purchase) = P(alive) x (1 - P(none | alive)), and it grows with the window
    recency = np.array([0.0, 20.0, 30.0])
    p30 = model.prob_purchase(30 / 7, x, recency, T)
    p90 = model.prob_purchase(90 / 7, x, recency, T)
    assert (p30 < p90).all() and (p90 <= model.p_alive(x, recency, T)).all()


@pytest.mark.parametrize("name", ["bg_nbd", "gamma_gamma"])
def test_gradient_equals_finite_differences(cdnow, name):
    """BG/NBD and Gamma-Gamma per customer, against 4th-order central differences."""
    repeat = cdnow[(cdnow["frequency"] > 0) & (cdnow["monetary_value"] > 0)]
    if name == "bg_nbd":
        model, p = clv.BetaGeoModel(), np.array([0.3, 5.0, 0.8, 2.5])
        data = model._prepared(*clv.check_rfm(cdnow["frequency"], cdnow["recency"], cdnow["T"]))
    else:
        model, p = clv.GammaGammaModel(), np.array([6.0, 3.5, 15.0])
        data = model._prepared(repeat["frequency"].to_numpy(float), repeat["monetary_value"].to_numpy(float))
    assert_gradient_matches(model, p, data)
