"""MBG/NBD, BG/CNBD-k and MBG/CNBD-k against the published estimates, their own closed forms,
finite differences and simulation.

Published: MBG/NBD on the CDNOW sample r, alpha, a, b = 0.525, 6.183, 0.891, 1.614 (BTYDplus'
CDNOW demo, also the lifetimes test suite's reference); MBG/CNBD-k on CDNOW chooses k = 1 ("no
regularity detected for CDNow", BTYDplus demo/cdnow.R) and on the grocery panel k = 2
(demo/mbg-cnbd-k.R); BG/CNBD-k with k = 1 is BG/NBD (Fader, Hardie & Lee 2005).
"""

import numpy as np
import pandas as pd
import pytest
from scipy import special
from support import TEST_DATA, assert_gradient_matches

from segment_workbench import clv
from segment_workbench.clv import cnbd
from segment_workbench.customers import table as customers
from segment_workbench.datasets.synthetic import simulate_cnbd
from segment_workbench.errors import InputError
from segment_workbench.io.collect import collect

# BTYDplus' own test of the (M)BG/CNBD-k estimator (tests/testthat/test-mbg-cnbd-k.R)
PLANTED = {"r": 0.85, "alpha": 1.45, "a": 0.79, "b": 2.42}


@pytest.fixture(scope="module")
def cdnow():
    tx = collect({"kind": "csv", "path": str(TEST_DATA / "cdnow_sample.txt"), "preset": "cdnow"}).transactions
    return customers.build_customer_table(tx[tx["order_date"] <= "1997-09-30"], "1997-09-30", "weeks")


def _fit(model, table):
    return model.fit(table["frequency"], table["recency"], table["T"], litt=table["litt"])


def test_mbg_nbd_reproduces_the_published_cdnow_estimates(cdnow):
    model = clv.ModifiedBetaGeoModel().fit(cdnow["frequency"], cdnow["recency"], cdnow["T"])
    assert model.converged_ and model.k_ == 1
    assert model.params_.round(3).to_dict() == {"r": 0.525, "alpha": 6.183, "a": 0.891, "b": 1.614}
    # a customer without repeat purchases may have dropped out at the first one
    assert model.p_alive([0], [0], [38.86])[0] < 1


def test_mbg_cnbd_k_finds_no_regularity_in_cdnow(cdnow):
    model = _fit(clv.ModifiedBetaGeoCNBDModel(), cdnow)
    assert model.k_ == 1 and list(model.k_log_likelihoods_.index) == [1, 2, 3]  # stopped after two falls
    assert model.params_.round(3).to_dict() == {"r": 0.525, "alpha": 6.183, "a": 0.891, "b": 1.614}


def test_bg_cnbd_with_k_1_is_bg_nbd(cdnow):
    bg = clv.BetaGeoModel().fit(cdnow["frequency"], cdnow["recency"], cdnow["T"])
    model = clv.BetaGeoCNBDModel(k=1).fit(cdnow["frequency"], cdnow["recency"], cdnow["T"])
    assert model.params_.round(3).to_dict() == {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
    assert model.log_likelihood_ == pytest.approx(bg.log_likelihood_, rel=1e-9)
    args = (cdnow["frequency"], cdnow["recency"], cdnow["T"])
    np.testing.assert_allclose(model.expected_purchases(39, *args), bg.expected_purchases(39, *args), rtol=1e-6)
    np.testing.assert_allclose(model.p_alive(*args), bg.p_alive(*args), rtol=1e-6)


def test_k_above_one_needs_the_log_gaps(cdnow):
    with pytest.raises(InputError, match="needs litt"):
        clv.ModifiedBetaGeoCNBDModel().fit(cdnow["frequency"], cdnow["recency"], cdnow["T"])


@pytest.mark.parametrize("model_class", [clv.BetaGeoCNBDModel, clv.ModifiedBetaGeoCNBDModel], ids=["bg", "mbg"])
@pytest.mark.parametrize("k", [1, 2, 4])
def test_gradient_equals_finite_differences(cdnow, model_class, k):
    model = model_class(k=k)
    model.k_ = k
    data = model._prepared(*clv.check_rfm(cdnow["frequency"], cdnow["recency"], cdnow["T"]))
    assert_gradient_matches(model, [0.6, 3.0, 0.8, 2.1], data)


@pytest.mark.parametrize("dropout_at_zero", [False, True], ids=["bg", "mbg"])
def test_the_stage_sums_at_k_1_equal_the_closed_forms(dropout_at_zero):
    """The general (any k) sums of regularized incomplete betas against the 2F1 closed forms."""
    params = np.array([0.5, 6.0, 0.9, 1.6])
    x, T, t = np.array([0.0, 1.0, 4.0, 25.0]), np.array([10.0, 30.0, 38.0, 60.0]), 39.0
    survived = int(dropout_at_zero)
    sums = cnbd._stages_needed(
        1, np.ones(4), params[0] + x, t / (params[1] + T + t), params[2], params[3] + x + survived
    )
    np.testing.assert_allclose(sums, cnbd.expected_if_alive(params, t, x, T, survived), rtol=1e-9)


def _fitted(model_class, k, params):
    model = model_class(k=k)
    model.k_, model.time_unit_ = k, "weeks"
    model.params_ = pd.Series(params, index=list(model.param_names))
    return model


@pytest.mark.parametrize("model_class", [clv.BetaGeoCNBDModel, clv.ModifiedBetaGeoCNBDModel], ids=["bg", "mbg"])
@pytest.mark.parametrize("k", [1, 3])
def test_predictions_against_simulation_from_the_posterior(model_class, k):
    """P(no purchase in t | alive), expected purchases in t, the next-purchase quantiles and the
    unconditional expectation against draws from the model's own process."""
    params = np.array(list(PLANTED.values()))
    model = _fitted(model_class, k, PLANTED)
    x, t_x, T, t = np.array([0.0, 3.0, 12.0]), np.array([0.0, 20.0, 30.0]), np.array([32.0, 36.0, 40.0]), 13.0
    rng = np.random.default_rng(3)
    n = 200_000
    none = model._no_purchase_if_alive(params, t, x, t_x, T)
    expected = model._expected_if_alive(params, t, x, t_x, T)
    quantiles = model.next_purchase_quantiles([0.1, 0.5, 0.9], x, t_x, T)
    for i in range(len(x)):
        rows = np.full(n, i)
        customer, time = model._simulate_alive(params, x[rows], t_x[rows], T[rows], t, rng)
        counts = np.bincount(customer, minlength=n)
        assert none[i] == pytest.approx(np.mean(counts == 0), abs=0.004), i
        assert expected[i] == pytest.approx(counts.mean(), rel=0.01, abs=0.003), i
        # the wait for the next purchase: j stages done, rate Gamma(r + kx + j, alpha + T), k - j to go
        weights = model._alive_weights(params, x[i : i + 1], t_x[i : i + 1], T[i : i + 1])[1][:, 0]
        j = rng.choice(k, size=n, p=weights)
        wait = rng.gamma(k - j, 1 / rng.gamma(params[0] + k * x[i] + j, 1 / (params[1] + T[i])))
        np.testing.assert_allclose(quantiles[i], np.quantile(wait, [0.1, 0.5, 0.9]), rtol=0.02)
    # a new customer's expected repeat purchases, against the simulated process
    sim = simulate_cnbd(100_000, k, **PLANTED, dropout_at_zero=model.dropout_at_zero, seed=5, T_range=(20, 20))
    assert model.expected_repeat_purchases(20.0) == pytest.approx(sim["x"].mean(), rel=0.02)


@pytest.mark.parametrize("model_class", [clv.BetaGeoCNBDModel, clv.ModifiedBetaGeoCNBDModel], ids=["bg", "mbg"])
def test_planted_regularity_and_parameters_are_recovered(model_class):
    """BTYDplus' estimator test: 8,000 customers of an Erlang-3 process, T between 36 and 96
    weeks, 36 weeks of holdout: k = 3, the parameters within 10%, and the holdout purchases and
    the number alive at T within 5% in total."""
    sim = simulate_cnbd(8_000, 3, **PLANTED, dropout_at_zero=model_class.dropout_at_zero, seed=1)
    model = model_class().fit(sim["x"], sim["t_x"], sim["T"], litt=sim["litt"])
    assert model.converged_ and model.k_ == 3
    np.testing.assert_allclose(model.params_.to_numpy(), list(PLANTED.values()), rtol=0.1)
    predicted = model.expected_purchases(36.0, sim["x"], sim["t_x"], sim["T"])
    assert predicted.sum() == pytest.approx(sim["x_star"].sum(), rel=0.05)
    assert model.p_alive(sim["x"], sim["t_x"], sim["T"]).sum() == pytest.approx(sim["alive"].sum(), rel=0.05)


def test_the_k_likelihoods_include_the_regularity_term():
    """The log-likelihood compared across k carries (k - 1) litt - x log((k - 1)!)."""
    sim = simulate_cnbd(2_000, 2, **PLANTED, dropout_at_zero=True, seed=2)
    model = clv.ModifiedBetaGeoCNBDModel(k=2).fit(sim["x"], sim["t_x"], sim["T"], litt=sim["litt"])
    without = model.log_likelihood(sim["x"], sim["t_x"], sim["T"]).sum()
    assert model.log_likelihood_ == pytest.approx(without + sim["litt"].sum() - sim["x"].sum() * special.gammaln(2))
