"""Charts. Each function takes prepared data and returns a matplotlib Axes; none computes."""

from __future__ import annotations

import matplotlib.pyplot as plt
from matplotlib.ticker import StrMethodFormatter
import pandas as pd
import seaborn as sns

sns.set_theme(style="whitegrid", context="notebook")


def _axes(ax, size=(9, 3.6)):
    if ax is None:
        _, ax = plt.subplots(figsize=size, layout="constrained")
    return ax


def monthly_activity(monthly: pd.DataFrame, ax=None):
    """Bars: orders per month; line on a second axis: revenue per month."""
    ax = _axes(ax)
    ax.bar(monthly["month"], monthly["orders"], width=20, color="#7aa6c2", label="orders")
    ax.set_ylabel("orders per month")
    ax.yaxis.set_major_formatter(StrMethodFormatter("{x:,.0f}"))
    ax2 = ax.twinx()
    ax2.plot(monthly["month"], monthly["revenue"], color="#c2410c", marker="o", ms=3, label="revenue")
    ax2.set_ylabel("revenue per month")
    ax2.yaxis.set_major_formatter(StrMethodFormatter("{x:,.0f}"))
    ax2.grid(False)
    ax.set_title("Orders and revenue per month (all collected lines)")
    return ax


def missing_values(missing: pd.DataFrame, ax=None):
    """Horizontal bars: share of missing/unparseable values per column."""
    ax = _axes(ax, (7, 0.3 * len(missing) + 1))
    ax.barh(missing["column"], missing["share"] * 100, color="#94a3b8")
    ax.invert_yaxis()
    ax.set_xlabel("% of rows missing or unparseable")
    ax.set_title("Missing values per column")
    return ax


def cleaning_accounting(log: pd.DataFrame, rows_kept: int, ax=None):
    """Horizontal bars: rows removed per reason, and the rows kept, on a log scale."""
    removed = log[log["rows_removed"] > 0]
    labels = [f"{r.rule}: {r.reason}" for r in removed.itertuples()] + ["kept"]
    values = list(removed["rows_removed"]) + [rows_kept]
    ax = _axes(ax, (8, 0.4 * len(labels) + 1))
    colors = ["#dc2626"] * len(removed) + ["#16a34a"]
    ax.barh(labels, values, color=colors)
    ax.invert_yaxis()
    ax.set_xscale("log")
    for y, v in enumerate(values):
        ax.text(v, y, f" {v:,}", va="center", fontsize=9)
    ax.set_xlabel("rows (log scale)")
    ax.set_title("Where every input row went")
    return ax
