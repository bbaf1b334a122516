"""Benchmark: BG/NBD and Gamma-Gamma fits on customers simulated from the models themselves.

Customers are drawn from the BG/NBD process with the CDNOW parameters (r=0.243, alpha=4.414,
a=0.793, b=2.426) and observed for T ~ Uniform(1, 78) weeks, recorded at daily resolution
(the resolution of a customer table). Prints the median wall time of ``--repeats`` fits and
the recovered parameters. Usage: python benchmarks/bench_clv.py --customers 25000 1000000
"""

from __future__ import annotations

import argparse

import numpy as np
from timing import timed

from segment_workbench import clv
from segment_workbench.datasets.synthetic import simulate_bgnbd


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, nargs="+", default=[25_000, 1_000_000])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(
        "| customers | unique (x, t_x, T) | BG/NBD fit, median s | Gamma-Gamma fit, median s | r, alpha, a, b recovered |"
    )
    print("|---:|---:|---:|---:|---|")
    for n in args.customers:
        x, t_x, T, m = simulate_bgnbd(n)
        unique = len(np.unique(np.column_stack([x, t_x, T]), axis=0))
        bg_time, bg = timed(clv.BetaGeoModel().fit, args.repeats, x, t_x, T)
        gg_time, _ = timed(clv.GammaGammaModel().fit, args.repeats, x, m)
        params = ", ".join(f"{v:.3f}" for v in bg.params_)
        print(f"| {n:,} | {unique:,} | {bg_time:.2f} | {gg_time:.2f} | {params} |")


if __name__ == "__main__":
    main()
