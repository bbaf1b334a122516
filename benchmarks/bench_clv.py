"""Model fits side by side with lifetimes 0.11.3: BG/NBD, MBG/NBD (lifetimes'
ModifiedBetaGeoFitter), Pareto/NBD and Gamma-Gamma, on the CDNOW sample (2,357 customers, the
39-week calibration, weeks at daily resolution) and on customers drawn from the BG/NBD and
Gamma-Gamma processes with the CDNOW parameters, with real-valued recency and T (no two
customers share a history, so grouping them does not help): about the CDNOW master's size
(23,570) and 1,000,000. Median wall time of ``--repeats`` fits each (lifetimes' Pareto/NBD on
1M customers: one fit). Both optima are scored with our log-likelihood: the table shows their
relative difference (ours higher = negative). Needs the ``bench`` extra.

    python benchmarks/bench_clv.py --customers 23570 1000000 --repeats 3
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import numpy as np
from lifetimes import BetaGeoFitter, GammaGammaFitter, ModifiedBetaGeoFitter, ParetoNBDFitter
from timing import timed

from segment_workbench import clv
from segment_workbench.customers import table as customers
from segment_workbench.datasets.synthetic import simulate_bgnbd
from segment_workbench.io.collect import collect

REPO = Path(__file__).resolve().parents[1]
MODELS = {
    "BG/NBD": (clv.BetaGeoModel, BetaGeoFitter, ("r", "alpha", "a", "b")),
    "MBG/NBD": (clv.ModifiedBetaGeoModel, ModifiedBetaGeoFitter, ("r", "alpha", "a", "b")),
    "Pareto/NBD": (clv.ParetoNBDModel, ParetoNBDFitter, ("r", "alpha", "s", "beta")),
    "Gamma-Gamma": (clv.GammaGammaModel, GammaGammaFitter, ("p", "q", "v")),
}


def cdnow() -> tuple[str, tuple]:
    tx = collect({"kind": "csv", "path": str(REPO / "tests/data/cdnow_sample.txt"), "preset": "cdnow"}).transactions
    table = customers.build_customer_table(tx[tx["order_date"] <= "1997-09-30"], "1997-09-30", "weeks")
    return "CDNOW sample", tuple(table[c].to_numpy(float) for c in ("frequency", "recency", "T", "monetary_value"))


def simulated(n: int) -> tuple[str, tuple]:
    x, t_x, T, m = simulate_bgnbd(n, seed=1)
    rng = np.random.default_rng(0)  # undo the daily rounding: real-valued times
    T = T + rng.uniform(0, 1 / 7, n)
    t_x = np.where(x > 0, np.minimum(t_x + rng.uniform(0, 1 / 7, n), T), 0.0)
    return f"simulated, real-valued times, {n:,}", (x, t_x, T, m)


def fits(name: str, data: tuple, repeats: int) -> tuple[float, float, float]:
    """(our median seconds, lifetimes' median seconds, relative log-likelihood difference)."""
    ours_class, theirs_class, names = MODELS[name]
    x, t_x, T, m = data
    if name == "Gamma-Gamma":
        repeat = (x > 0) & (m > 0)
        args, ll_args = (x[repeat], m[repeat]), (x[repeat], m[repeat])
    else:
        args, ll_args = (x, t_x, T), (x, t_x, T)
    t_ours, ours = timed(ours_class().fit, repeats, *args)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs_repeats = 1 if name == "Pareto/NBD" and len(x) > 100_000 else repeats
        t_theirs, theirs = timed(theirs_class().fit, theirs_repeats, *args)
    their_params = np.array([theirs.params_[k] for k in names])
    mine = ours._log_likelihoods(ours.params_.to_numpy(), *ours._prepared(*ll_args)).sum()
    other = ours._log_likelihoods(their_params, *ours._prepared(*ll_args)).sum()
    return t_ours, t_theirs, (other - mine) / abs(mine)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, nargs="+", default=[23_570, 1_000_000])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--models", nargs="+", choices=list(MODELS), default=list(MODELS))
    parser.add_argument("--no-cdnow", action="store_true", help="skip the CDNOW sample")
    args = parser.parse_args()
    rows = []
    for label, data in [*([] if args.no_cdnow else [cdnow()]), *(simulated(n) for n in args.customers)]:
        for name in args.models:
            t_ours, t_theirs, diff = fits(name, data, args.repeats)
            rows.append(
                f"| {label} | {name} | {t_ours:.3f} | {t_theirs:.3f} | {t_theirs / t_ours:.1f}× | {diff:+.1e} |"
            )
            print(rows[-1], file=sys.stderr, flush=True)
    print(
        "| customers | model | ours, median s | lifetimes 0.11.3, median s | speed-up "
        "| log-likelihood at lifetimes' optimum, relative to ours |"
    )
    print("|---|---|---:|---:|---:|---:|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
