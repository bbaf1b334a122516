"""Benchmark: 04_cohorts' computation (cohort matrices, churn threshold, survival inputs,
Kaplan–Meier by segment, Cox drivers) on the synthetic shop scaled to about ``--lines``
cleaned order lines. Usage: python benchmarks/bench_cohorts.py --customers 50000
"""

from __future__ import annotations

import argparse

from timing import timed

from segment_workbench.cleaning import rules as cleaning
from segment_workbench.customers import table as customers
from segment_workbench.io import sources
from segment_workbench.lifecycle import survival
from segment_workbench.lifecycle.cohorts import cohort_tables


def run(tx, table, attributes, truth) -> None:
    cohort_tables(tx, "2025-12-31")
    threshold = survival.suggest_threshold(tx)
    data = survival.survival_data(table, threshold)
    group = data[["customer_id"]].merge(truth, on="customer_id", how="left")["group"]
    survival.kaplan_meier(data, group)
    survival.cox_drivers(data, survival.early_covariates(tx, attributes))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, nargs="+", default=[50_000])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print("| customers | cleaned order lines | cohorts + survival + Cox, median s |")
    print("|---:|---:|---:|")
    for n in args.customers:
        collected = sources.collect({"kind": "synthetic", "n_customers": n, "seed": 1})
        tx = cleaning.clean(collected.transactions, "2025-12-31").transactions
        table = customers.build_customer_table(tx, "2025-12-31")
        seconds, _ = timed(
            run,
            args.repeats,
            tx,
            table,
            collected.extras["attributes"],
            collected.extras["ground_truth"][["customer_id", "group"]],
        )
        print(f"| {len(table):,} | {len(tx):,} | {seconds:.1f} |")


if __name__ == "__main__":
    main()
