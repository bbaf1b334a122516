"""Benchmark: 03_segment's computation (RFM, clustering with k selection and bootstrap
stability, names, rules) on the synthetic shop scaled to ``--customers``.

Usage: python benchmarks/bench_segment.py --customers 100000
"""

from __future__ import annotations

import argparse

from timing import timed

from segment_workbench.cleaning import rules as cleaning
from segment_workbench.config import DEFAULTS
from segment_workbench.customers import table as customers
from segment_workbench.io import sources
from segment_workbench.segmentation.pipeline import segment_customers


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, nargs="+", default=[100_000])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print("| customers | order lines | segmentation, median s | k chosen |")
    print("|---:|---:|---:|---:|")
    for n in args.customers:
        collected = sources.collect({"kind": "synthetic", "n_customers": n, "seed": 1})
        cleaned = cleaning.clean(collected.transactions, "2025-12-31")
        table = customers.build_customer_table(cleaned.transactions, "2025-12-31")
        seconds, result = timed(segment_customers, args.repeats, table, cleaned.removed, DEFAULTS["segmentation"], 42)
        print(f"| {len(table):,} | {len(collected.transactions):,} | {seconds:.1f} | {result.clusterer.k_} |")


if __name__ == "__main__":
    main()
