"""Side by side with what analysts use today: the customer summary (frequency, recency, T,
monetary value) and the BG/NBD fit, against the archived ``lifetimes`` 0.11.3 package and a
plain pandas ``groupby().apply`` written per customer. Ours is
``customers.repeat_purchase_summary`` (DuckDB via segment_workbench.customers.engine; the whole customer table,
which adds orders, quantities and discount share, is timed beside it). Results are checked
equal (frequency, recency and T exactly, monetary value to 1e-9) before any time is reported;
median of ``--repeats`` (the apply: one run). The BG/NBD fit runs on as many customers drawn
from the BG/NBD process (CDNOW parameters). Needs the ``bench`` extra (``pip install -e .[bench]``).

    python benchmarks/bench_lifetimes.py --lines 100000 1000000 --repeats 3
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
import pandas as pd
from lifetimes import BetaGeoFitter
from lifetimes.utils import summary_data_from_transaction_data
from timing import timed

from segment_workbench import clv
from segment_workbench.cleaning import rules as cleaning
from segment_workbench.customers import table as customers
from segment_workbench.datasets.synthetic import simulate_bgnbd
from segment_workbench.io import sources

AS_OF = pd.Timestamp("2025-12-31")
LINES_PER_CUSTOMER = 17.95  # the synthetic shop's cleaned order lines per customer


def cleaned_lines(lines: int) -> pd.DataFrame:
    """The synthetic shop scaled to about ``lines`` order lines, collected and cleaned."""
    collected = sources.collect({"kind": "synthetic", "n_customers": round(lines / LINES_PER_CUSTOMER), "seed": 3})
    return cleaning.clean(collected.transactions, AS_OF).transactions[
        ["customer_id", "order_id", "order_date", "quantity", "amount"]
    ]


def per_customer_apply(tx: pd.DataFrame) -> pd.DataFrame:
    """The summary the way notebooks often write it: a Python function per customer."""

    def one(group: pd.DataFrame) -> pd.Series:
        days = group.groupby(group["order_date"].dt.normalize())["amount"].sum().sort_index()
        first, last = days.index[0], days.index[-1]
        repeat = days.iloc[1:]
        return pd.Series(
            {
                "frequency": float(len(days) - 1),
                "recency": float((last - first).days),
                "T": float((AS_OF - first).days),
                "monetary_value": float(repeat.mean()) if len(repeat) else 0.0,
            }
        )

    return tx.groupby("customer_id").apply(one, include_groups=False)


def from_lifetimes(tx: pd.DataFrame) -> pd.DataFrame:
    return summary_data_from_transaction_data(
        tx, "customer_id", "order_date", monetary_value_col="amount", observation_period_end=AS_OF, freq="D"
    )


def same(summary: pd.DataFrame, theirs: pd.DataFrame) -> bool:
    """Our summary (customer_id a column) equals theirs (indexed by customer)."""
    a, b = summary.set_index("customer_id").sort_index(), theirs.sort_index()
    return (
        list(a.index) == list(b.index)
        and all(np.array_equal(a[c].to_numpy(float), b[c].to_numpy(float)) for c in ("frequency", "recency", "T"))
        and np.allclose(a["monetary_value"].to_numpy(float), b["monetary_value"].to_numpy(float), rtol=1e-9)
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lines", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--apply-up-to", type=int, default=1_000_000, help="skip the per-customer apply above this size"
    )
    args = parser.parse_args()
    rows = []
    for n in args.lines:
        tx = cleaned_lines(n)
        t_ours, table = timed(customers.repeat_purchase_summary, args.repeats, tx, AS_OF, "days")
        t_table, _ = timed(customers.build_customer_table, args.repeats, tx, AS_OF, "days")
        t_life, life = timed(from_lifetimes, args.repeats, tx)
        assert same(table, life), "customer summary differs from lifetimes'"
        if n <= args.apply_up_to:
            t_apply, applied = timed(per_customer_apply, 1, tx)
            assert same(table, applied), "customer summary differs from the per-customer apply"
        else:
            t_apply = float("nan")
        # the fit on as many customers drawn from the BG/NBD process (CDNOW parameters): the demo
        # shop's abrupt lapses put BG/NBD on a boundary, where neither fitter converges
        x, t_x, T, _ = simulate_bgnbd(len(table), seed=1)
        t_fit, model = timed(clv.BetaGeoModel().fit, args.repeats, x, t_x, T)
        t_lfit, lmodel = timed(BetaGeoFitter().fit, args.repeats, x, t_x, T)
        ours_p = np.array([model.params_[k] for k in ("r", "alpha", "a", "b")])
        life_p = lmodel.params_[["r", "alpha", "a", "b"]].to_numpy()
        rows.append(
            f"| {len(tx):,} | {len(table):,} | {t_ours:.2f} | {t_table:.2f} | {t_life:.2f} ({t_life / t_ours:.1f}×) | "
            f"{t_apply:.1f} ({t_apply / t_ours:.0f}×) | {t_fit:.2f} | {t_lfit:.2f} ({t_lfit / t_fit:.1f}×) | "
            f"{np.max(np.abs(ours_p / life_p - 1)):.1e} |"
        )
        print(rows[-1], file=sys.stderr, flush=True)
    print(
        "| cleaned lines | customers | summary: ours, s | whole customer table: ours, s | lifetimes 0.11.3 summary, s (ratio) "
        "| pandas apply per customer, s (ratio) "
        "| BG/NBD fit (as many simulated customers): ours, s | lifetimes, s (ratio) | largest relative parameter difference |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
