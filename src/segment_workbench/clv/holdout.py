"""Calibration/holdout split by date and the diagnostics of a repeat-purchase model.

The calibration table is the customer table built on the transactions up to
``calibration_end`` (customers acquired by then); the holdout columns count what the same
customers did in (calibration_end, holdout_end]. Repeat purchases are counted as distinct
purchase days, as in the customer table.
"""

from __future__ import annotations

from dataclasses import dataclass

import ibis
import numpy as np
import pandas as pd

from segment_workbench.config import unit_days
from segment_workbench.customers import engine
from segment_workbench.customers.table import table_before
from segment_workbench.errors import InputError


def split_dates(
    first_order: pd.Timestamp, as_of: pd.Timestamp, time_unit: str, holdout_periods: float | None = None
) -> tuple[pd.Timestamp, pd.Timestamp]:
    """(calibration_end, holdout_end=as_of). Without ``holdout_periods``, the last third of the
    span from the first order to as_of, in whole periods, is held out."""
    span_days = (as_of - first_order).days
    per = unit_days(time_unit)
    periods = holdout_periods if holdout_periods is not None else np.floor(span_days / 3 / per)
    holdout_days = int(round(periods * per))
    if holdout_days <= 0 or holdout_days >= span_days:
        raise InputError(
            f"A holdout of {periods} {time_unit} does not fit in the {span_days} days of data.",
            hint="Set clv.holdout_periods to a smaller number of periods.",
        )
    return as_of - pd.Timedelta(days=holdout_days), as_of


@dataclass(frozen=True)
class Holdout:
    """A calibration/holdout split: ``table`` is the customer table at ``calibration_end`` plus
    ``frequency_holdout`` (purchase days), ``revenue_holdout`` and ``duration_holdout`` (in
    ``time_unit``) of the same customers up to ``holdout_end``."""

    table: pd.DataFrame
    calibration_end: pd.Timestamp
    holdout_end: pd.Timestamp
    time_unit: str
    customers: int = 0  # calibration customers in all; more than len(table) when the table is a sample

    @property
    def duration(self) -> float:
        """The holdout's length in ``time_unit``."""
        return (self.holdout_end - self.calibration_end).days / unit_days(self.time_unit)


#: Above this many calibration customers the models are fitted and compared on a random sample
#: of this many (the chosen model is then fitted on every customer): a scorecard's relative
#: errors are settled long before, and five models' fits on millions of customers are not.
SCORECARD_SAMPLE = 100_000


def calibration_holdout(
    transactions, calibration_end, holdout_end, time_unit: str, sample: int = SCORECARD_SAMPLE, random_state: int = 0
) -> Holdout:
    """The calibration customer table with what each customer did in the holdout, and
    ``frequency_last_period``: their purchase days in the last stretch of calibration as long as
    the holdout; a random ``sample`` of its customers when there are more. ``transactions``:
    cleaned lines as ``segment_workbench.customers.engine`` takes them, or their
    ``engine.PurchaseDays`` (02_clean's file: the same numbers from fewer rows)."""
    calibration_end, holdout_end = pd.Timestamp(calibration_end).normalize(), pd.Timestamp(holdout_end).normalize()
    lines = engine.lines_table(transactions, engine.LINE_COLUMNS)
    calibration = lines.filter(lines.order_date.date() <= calibration_end.date())
    if engine.day_span(calibration)[0] == 0:
        raise InputError(f"No purchases on or before the calibration end {calibration_end.date()}.")
    days = transactions if isinstance(transactions, engine.PurchaseDays) else engine.purchase_days(calibration)
    table = table_before(days, calibration_end + pd.Timedelta(days=1), time_unit)
    everyone = len(table)
    if everyone > sample:
        table = table.sample(sample, random_state=random_state).sort_index().reset_index(drop=True)
    later = engine.activity_between(lines, calibration_end, holdout_end).set_index("customer_id")
    # the last stretch of calibration as long as the holdout, for the naive "as recently" baseline
    recent = engine.activity_between(lines, calibration_end - (holdout_end - calibration_end), calibration_end)
    ids = table["customer_id"]
    out = table.assign(
        frequency_holdout=ids.map(later["days"]).fillna(0).to_numpy(float),
        revenue_holdout=ids.map(later["revenue"]).fillna(0).to_numpy(float),
        frequency_last_period=ids.map(recent.set_index("customer_id")["days"]).fillna(0).to_numpy(float),
    )
    out["duration_holdout"] = (holdout_end - calibration_end).days / unit_days(time_unit)
    return Holdout(out, calibration_end, holdout_end, time_unit, everyone)


def predicted_holdout(model, holdout: Holdout) -> np.ndarray:
    """The model's expected purchases in the holdout for each calibration customer."""
    table = holdout.table
    return model.expected_purchases(
        holdout.duration, table["frequency"], table["recency"], table["T"], time_unit=holdout.time_unit
    )


def holdout_by_frequency(model, holdout: Holdout, max_frequency: int = 7) -> pd.DataFrame:
    """Mean actual vs predicted holdout purchases by calibration frequency (``max_frequency``+ pooled)."""
    table = holdout.table
    group = table["frequency"].clip(upper=max_frequency).astype(int)
    frame = pd.DataFrame(
        {"frequency": group, "actual": table["frequency_holdout"], "predicted": predicted_holdout(model, holdout)}
    )
    out = frame.groupby("frequency").agg(
        customers=("actual", "size"), actual=("actual", "mean"), predicted=("predicted", "mean")
    )
    out.index = [f"{i}+" if i == max_frequency else str(i) for i in out.index]
    return out.rename_axis("calibration frequency").reset_index()


#: The naive predictions every model must beat (``baseline_predictions``).
BASELINES = {
    "calibration_rate": "calibration rate carried forward",
    "last_period": "as many as in the last stretch of calibration",
}


def baseline_predictions(holdout: Holdout) -> dict[str, np.ndarray]:
    """Two naive predictions of holdout purchases: each customer's repeat purchases per unit of
    time in calibration (frequency / T) times the holdout's length; and as many purchase days as
    in the last stretch of calibration as long as the holdout (0 = "does not buy again")."""
    table = holdout.table
    rate = np.divide(table["frequency"], table["T"], out=np.zeros(len(table)), where=table["T"].to_numpy() > 0)
    return {"calibration_rate": rate * holdout.duration, "last_period": table["frequency_last_period"].to_numpy(float)}


def scorecard(predictions: dict[str, np.ndarray], actual: np.ndarray) -> pd.DataFrame:
    """One row per prediction of holdout purchases: MAE, relative MAE (Σ|error| / Σ actual),
    bias (Σ predicted / Σ actual − 1), RMSE, Pearson and Spearman correlation with the actual
    purchases, and the AUC of telling who buys at least once in the holdout. A prediction with
    missing values (a fit that ran to the edge of its parameters: not converged) gets NaN."""
    from sklearn.metrics import roc_auc_score

    actual = np.asarray(actual, float)
    rows = []
    for name, predicted in predictions.items():
        predicted = np.asarray(predicted, float)
        if not np.isfinite(predicted).all():
            rows.append({"model": name})
            continue
        error = predicted - actual
        buys = actual > 0
        rows.append(
            {
                "model": name,
                "mae": float(np.mean(np.abs(error))),
                "relative_mae": float(np.abs(error).sum() / actual.sum()) if actual.sum() else float("nan"),
                "bias": float(predicted.sum() / actual.sum() - 1) if actual.sum() else float("nan"),
                "rmse": float(np.sqrt(np.mean(error**2))),
                "pearson": float(np.corrcoef(predicted, actual)[0, 1]) if np.ptp(predicted) > 0 else float("nan"),
                "spearman": float(pd.Series(predicted).corr(pd.Series(actual), method="spearman"))
                if np.ptp(predicted) > 0
                else float("nan"),
                "auc": float(roc_auc_score(buys, predicted)) if 0 < buys.sum() < len(buys) else float("nan"),
            }
        )
    columns = ["model", "mae", "relative_mae", "bias", "rmse", "pearson", "spearman", "auc"]
    return pd.DataFrame(rows, columns=columns)


def decile_calibration(predicted: np.ndarray, actual: np.ndarray) -> pd.DataFrame:
    """Customers in ten equal groups by predicted holdout purchases (ties kept together):
    customers, mean predicted and mean actual per group, lowest first."""
    frame = pd.DataFrame({"predicted": np.asarray(predicted, float), "actual": np.asarray(actual, float)})
    rank = frame["predicted"].rank(method="min")
    frame["decile"] = np.minimum(10, 1 + np.floor(10 * (rank - 1) / len(frame))).astype(int)
    out = frame.groupby("decile").agg(
        customers=("actual", "size"), predicted=("predicted", "mean"), actual=("actual", "mean")
    )
    return out.reset_index()


def tracking(model, transactions, holdout: Holdout) -> pd.DataFrame:
    """Repeat purchases per period, actual vs expected, from the first purchase to the holdout end.

    Periods are ``time_unit`` long, counted from the earliest first purchase. Actual: purchase
    days after each calibration customer's first purchase day. Expected: for each customer
    E[X(t)] (repeat purchases since acquisition) summed by acquisition day, differenced.
    """
    table, end = holdout.table, holdout.holdout_end
    per = unit_days(holdout.time_unit)
    start = table["first_purchase"].min()
    n_periods = int(np.ceil(((end - start).days + 1) / per))
    edges_days = np.arange(1, n_periods + 1) * per  # period k covers days [(k-1)per, k per)
    cohorts = table.groupby("first_purchase").size()
    birth = (cohorts.index - start).days.to_numpy()
    t = np.clip(edges_days[:, None] - birth[None, :] - 1, 0, None) / per
    expected_cum = (model.expected_repeat_purchases(t) * cohorts.to_numpy()[None, :]).sum(axis=1)
    lines = engine.lines_table(transactions, ["customer_id", "order_date"])
    if holdout.customers > len(table):  # the sampled customers' purchases only
        lines = lines.semi_join(ibis.memtable(table[["customer_id"]].astype(object)), "customer_id")
    actual = engine.repeat_days_per_period(lines, start, holdout.calibration_end, end, per)
    out = pd.DataFrame(
        {
            "period": np.arange(1, n_periods + 1),
            "period_start": start + pd.to_timedelta(np.arange(n_periods) * per, unit="D"),
            "actual": actual,
            "expected": np.diff(np.concatenate([[0.0], expected_cum])),
        }
    )
    out["actual_cumulative"] = out["actual"].cumsum()
    out["expected_cumulative"] = out["expected"].cumsum()
    return out
