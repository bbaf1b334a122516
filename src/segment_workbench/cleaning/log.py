"""What every cleaning run returns, whatever ran it: the kept rows, the accounting log (one row
per rule and reason) and the removed rows with their rule and reason.

The invariant, checked in code: ``rows_in == rows_kept + sum(rows_removed)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from segment_workbench.errors import InputError

LOG_COLUMNS = [
    "step",
    "rule",
    "reason",
    "description",
    "rows_removed",
    "revenue_removed",
    "rows_adjusted",
    "revenue_adjusted",
    "rows_remaining",
]


class AccountingError(AssertionError):
    """Rows were lost or invented by a cleaning rule (a bug, never a data problem)."""


@dataclass
class CleaningResult:
    """``transactions``: the kept rows in source order; ``removed``: every removed row with its
    ``rule`` and ``reason``; ``revenue_in``: the input's positive amounts summed."""

    transactions: pd.DataFrame
    log: pd.DataFrame
    removed: pd.DataFrame
    rows_in: int
    revenue_in: float

    @property
    def summary(self) -> dict[str, float]:
        """Rows and revenue in, kept and removed; shares are fractions of the input."""
        removed = int(self.log["rows_removed"].sum())
        return {
            "rows_in": self.rows_in,
            "rows_kept": len(self.transactions),
            "rows_removed": removed,
            "share_rows_removed": removed / self.rows_in if self.rows_in else 0.0,
            "revenue_in": self.revenue_in,
            "revenue_kept": float(line_revenue(self.transactions).sum()),
            "customers_kept": int(self.transactions["customer_id"].nunique()),
        }


def line_revenue(df: pd.DataFrame) -> pd.Series:
    """Revenue of each line (``amount``; of each row of a customer table, ``revenue_total``);
    unparseable values count as 0."""
    return df["amount" if "amount" in df else "revenue_total"].fillna(0.0)


def check_accounting(rows_in: int, rows_kept: int, log: pd.DataFrame) -> None:
    """AccountingError unless every row in is kept or removed once."""
    removed = int(log["rows_removed"].sum())
    if rows_in != rows_kept + removed:
        raise AccountingError(f"{rows_in} rows in, {rows_kept} kept + {removed} removed.")


def nothing_left(log: pd.DataFrame, file: str) -> InputError:
    """The error when cleaning removed every row: the three rules that removed the most."""
    worst = log.sort_values("rows_removed", ascending=False, kind="stable").head(3)
    return InputError(
        "Cleaning removed every row, so there is nothing to analyse.",
        file=file,
        rows=worst[["rule", "reason", "rows_removed"]],
        hint="The rules above removed the most rows. Check the column mapping and "
        "as_of, or switch a rule off with cleaning.skip.",
    )
