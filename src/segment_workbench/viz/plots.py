"""Charts. Each function takes prepared data and returns a matplotlib Axes; none computes."""

from __future__ import annotations

import functools

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from cycler import cycler
from matplotlib.ticker import StrMethodFormatter

#: The charts' look (seaborn's whitegrid style, notebook context, deep palette), applied inside
#: each plotting call only: importing this module leaves the user's matplotlib settings alone.
STYLE = {
    **sns.axes_style("whitegrid"),
    **sns.plotting_context("notebook"),
    "axes.prop_cycle": cycler(color=sns.color_palette("deep")),
}


def _styled(plot):
    """Run ``plot`` with ``STYLE`` set, then put back only those settings (``plt.rc_context``
    would restore every setting, undoing what the notebook backend sets on the first figure,
    and the later figures of a cell would not be shown)."""

    @functools.wraps(plot)
    def styled_plot(*args, **kwargs):
        before = {key: mpl.rcParams[key] for key in STYLE}
        mpl.rcParams.update(STYLE)
        try:
            return plot(*args, **kwargs)
        finally:
            mpl.rcParams.update(before)

    return styled_plot


def _axes(ax, size=(9, 3.6)):
    if ax is None:
        _, ax = plt.subplots(figsize=size, layout="constrained")
    return ax


@_styled
def monthly_activity(monthly: pd.DataFrame, in_visits: bool = False, ax=None):
    """Bars: orders per month; line on a second axis: revenue per month (``in_visits``: a visit
    log, bars only)."""
    ax = _axes(ax)
    if in_visits:
        ax.bar(monthly["month"], monthly["orders"], width=20, color="#7aa6c2")
        ax.set_ylabel("visits per month")
        ax.yaxis.set_major_formatter(StrMethodFormatter("{x:,.0f}"))
        ax.set_title("Visits per month (all collected lines)")
        return ax
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


@_styled
def missing_values(missing: pd.DataFrame, ax=None):
    """Horizontal bars: share of missing/unparseable values per column."""
    ax = _axes(ax, (7, 0.3 * len(missing) + 1))
    ax.barh(missing["column"], missing["share"] * 100, color="#94a3b8")
    ax.invert_yaxis()
    ax.set_xlabel("% of rows missing or unparseable")
    ax.set_title("Missing values per column")
    return ax


@_styled
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


@_styled
def holdout_by_frequency(table: pd.DataFrame, ax=None):
    """Grouped bars: mean actual vs predicted holdout purchases by calibration frequency."""
    ax = _axes(ax, (8, 3.6))
    x = range(len(table))
    ax.bar([i - 0.2 for i in x], table["actual"], width=0.4, color="#334155", label="actual")
    ax.bar([i + 0.2 for i in x], table["predicted"], width=0.4, color="#f59e0b", label="predicted")
    ax.set_xticks(list(x), table["calibration frequency"])
    ax.set_xlabel("repeat purchases in the calibration period")
    ax.set_ylabel("mean purchases in the holdout")
    ax.set_title("Holdout: actual vs predicted, by past frequency")
    ax.legend()
    return ax


@_styled
def tracking(
    track: pd.DataFrame,
    calibration_end: pd.Timestamp,
    time_unit: str,
    cumulative: bool = False,
    model: str = "model",
    ax=None,
):
    """Lines: actual vs expected repeat purchases per period of ``time_unit`` (or cumulative),
    with the end of calibration marked; ``model`` names the expectation."""
    ax = _axes(ax, (9, 3.4))
    suffix = "_cumulative" if cumulative else ""
    ax.plot(track["period_start"], track["actual" + suffix], color="#334155", label="actual")
    ax.plot(track["period_start"], track["expected" + suffix], color="#f59e0b", ls="--", label=model)
    ax.axvline(pd.Timestamp(calibration_end), color="#64748b", ls=":", label="end of calibration")
    ax.set_ylabel(f"repeat purchases{' (cumulative)' if cumulative else f' per {time_unit[:-1]}'}")
    ax.set_title(("Cumulative r" if cumulative else "R") + f"epeat purchases: actual vs {model}")
    ax.legend()
    return ax


@_styled
def decile_calibration(deciles: pd.DataFrame, model: str, ax=None):
    """Points: mean actual against mean predicted holdout purchases per decile of the prediction,
    with the diagonal a calibrated model lies on."""
    ax = _axes(ax, (5, 4.2))
    top = float(max(deciles["predicted"].max(), deciles["actual"].max())) * 1.05 or 1.0
    ax.plot([0, top], [0, top], ls=":", color="#64748b", label="calibrated")
    ax.plot(deciles["predicted"], deciles["actual"], "o-", color="#0f766e", label=model)
    ax.set_xlabel("mean predicted holdout purchases")
    ax.set_ylabel("mean actual holdout purchases")
    ax.set_title(f"Calibration by decile of the prediction ({model})")
    ax.legend()
    return ax


@_styled
def histogram(values: pd.Series, title: str, xlabel: str, bins: int = 30, ax=None):
    """A histogram of one column."""
    ax = _axes(ax, (7, 3.2))
    ax.hist(values, bins=bins, color="#7aa6c2", edgecolor="white")
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("customers")
    return ax


@_styled
def value_bands(table: pd.DataFrame, label: str, worth: str = "expected value", ax=None):
    """Horizontal bars with interval whiskers: mean CLV per group with its prediction interval
    (``worth`` names it: "expected visits" for a visit log)."""
    ax = _axes(ax, (8, 0.45 * len(table) + 1.2))
    y = range(len(table))
    mean, low, high = (table[c].to_numpy(float) for c in ("clv_mean", "clv_mean_low", "clv_mean_high"))
    ax.barh(list(y), mean, color="#7aa6c2")
    # The analytic mean can sit just outside a narrow simulated interval: whiskers start at the bar.
    whiskers = np.vstack([mean - low, high - mean]).clip(min=0)
    ax.errorbar(mean, list(y), xerr=whiskers, fmt="none", ecolor="#1e293b", capsize=4)
    ax.set_yticks(list(y), table[label])
    ax.invert_yaxis()
    ax.set_xlabel(f"{worth} per customer over the horizon (with interval)")
    ax.set_title(f"{worth.capitalize()} per customer by group")
    return ax


@_styled
def k_selection(selection: pd.DataFrame, chosen: int, ax=None):
    """Silhouette and stability by number of clusters (and BIC when present), the chosen k marked."""
    ax = _axes(ax, (7, 3.2))
    ax.plot(selection["k"], selection["silhouette"], marker="o", color="#334155", label="silhouette (higher is better)")
    if "stability" in selection and selection["stability"].notna().any():
        ax.plot(selection["k"], selection["stability"], marker="^", color="#0f766e", label="stability (adjusted Rand)")
    ax.axvline(chosen, color="#f59e0b", ls="--", label=f"chosen k = {chosen}")
    ax.set_xlabel("number of clusters k")
    ax.set_ylabel("silhouette / stability")
    if selection["bic"].notna().any():
        ax2 = ax.twinx()
        ax2.plot(selection["k"], selection["bic"], marker="s", color="#94a3b8", label="BIC (lower is better)")
        ax2.set_ylabel("BIC")
        ax2.grid(False)
    ax.set_title("Choosing the number of segments")
    ax.legend(loc="lower right")
    return ax


@_styled
def segment_shares(profiles: pd.DataFrame, value: str = "revenue", ax=None):
    """Paired horizontal bars: each segment's share of customers and of revenue (``value``
    names it: "visits" for a visit log)."""
    ax = _axes(ax, (8, 0.5 * len(profiles) + 1.2))
    y = range(len(profiles))
    ax.barh(
        [i - 0.2 for i in y], profiles["share_customers"] * 100, height=0.4, color="#94a3b8", label="% of customers"
    )
    ax.barh([i + 0.2 for i in y], profiles["share_revenue"] * 100, height=0.4, color="#0f766e", label=f"% of {value}")
    ax.set_yticks(list(y), profiles["segment"])
    ax.invert_yaxis()
    ax.set_xlabel("%")
    ax.legend(loc="lower right")
    ax.set_title(f"Segments: share of customers vs share of {value}")
    return ax


@_styled
def ranking(ranked: pd.DataFrame, ax=None):
    """Horizontal bars: attractiveness score per segment, best first."""
    ax = _axes(ax, (8, 0.45 * len(ranked) + 1.2))
    colors = ["#94a3b8" if flag else "#0f766e" for flag in ranked["not_our_customer"]]
    ax.barh(ranked["segment"], ranked["score"], color=colors)
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_xlabel("attractiveness (0-1; grey: costs more than it brings)")
    ax.set_title("Which segments to target")
    return ax


@_styled
def heatmap(matrix: pd.DataFrame, title: str, xlabel: str, ylabel: str, fmt: str = "d", ax=None):
    """An annotated heatmap of a count or share matrix, sized for its labels (long segment names
    below a two-row matrix would leave no room for the cells)."""
    longest_row = max((len(str(v)) for v in matrix.index), default=0)
    longest_column = max((len(str(v)) for v in matrix.columns), default=0)
    ax = _axes(
        ax, (0.8 * matrix.shape[1] + 3 + 0.07 * longest_row, 0.5 * matrix.shape[0] + 1.5 + 0.07 * longest_column)
    )
    sns.heatmap(matrix, annot=True, fmt=fmt, cmap="Blues", cbar=False, ax=ax, linewidths=0.5)
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    return ax


@_styled
def cohort_heatmap(
    matrix: pd.DataFrame, partial: pd.DataFrame, sizes: pd.Series, title: str, fmt: str = ".0%", ax=None
):
    """Cohort x period heatmap; cells of a period not complete at as_of are hatched and
    labelled "partial"; cohort sizes are shown in the row labels."""
    ax = _axes(ax, (min(0.55 * matrix.shape[1] + 3, 16), 0.32 * matrix.shape[0] + 1.5))
    labels = [f"{c} (n={sizes[c]:,})" for c in matrix.index]
    shown = matrix.where(~partial)
    sns.heatmap(
        shown,
        annot=matrix.shape[1] <= 26,
        fmt=fmt,
        cmap="YlGnBu",
        cbar=False,
        ax=ax,
        yticklabels=labels,
        linewidths=0.3,
        annot_kws={"fontsize": 7},
    )
    for i, j in zip(*np.nonzero(partial.to_numpy())):
        ax.add_patch(plt.Rectangle((j, i), 1, 1, fill=False, hatch="///", edgecolor="#94a3b8", lw=0))
        ax.text(j + 0.5, i + 0.5, "partial", ha="center", va="center", fontsize=6, color="#475569")
    ax.set_xlabel("periods since acquisition")
    ax.set_ylabel("acquisition cohort")
    ax.set_title(title)
    return ax


@_styled
def survival_curves(curves: pd.DataFrame, ax=None):
    """Kaplan–Meier curves per group with their 95% confidence bands."""
    ax = _axes(ax, (9, 4))
    for name, part in curves.groupby("group", sort=True):
        line = ax.step(part["days"], part["survival"], where="post", label=name)[0]
        ax.fill_between(part["days"], part["lower"], part["upper"], step="post", alpha=0.15, color=line.get_color())
    ax.set_xlabel("days since first purchase")
    ax.set_ylabel("share not yet churned")
    ax.set_ylim(0, 1.02)
    ax.set_title("How long customers stay (Kaplan–Meier, 95% bands)")
    ax.legend(fontsize=8)
    return ax


@_styled
def forest(drivers: pd.DataFrame, ax=None):
    """Hazard ratios with 95% intervals on a log scale; 1 = no effect."""
    ax = _axes(ax, (8, 0.32 * len(drivers) + 1.2))
    y = range(len(drivers))
    colors = ["#dc2626" if p < 0.05 else "#94a3b8" for p in drivers["p_value"]]
    ratio, lower, upper = (drivers[c].to_numpy(float) for c in ("hazard_ratio", "lower", "upper"))
    ax.errorbar(
        ratio,
        list(y),
        xerr=np.vstack(
            [ratio - lower, upper - ratio]
        ),  # arrays: a one-driver Series made matplotlib call float() on it
        fmt="none",
        ecolor="#475569",
        capsize=3,
    )
    ax.scatter(ratio, list(y), color=colors, zorder=3)
    ax.axvline(1, color="#64748b", ls="--")
    ax.set_xscale("log")
    ax.set_yticks(list(y), drivers["covariate"])
    ax.invert_yaxis()
    ax.set_xlabel("hazard ratio (> 1: leave sooner; red: p < 0.05)")
    ax.set_title("Churn drivers (Cox model)")
    return ax


@_styled
def segment_kpis(kpis: pd.DataFrame, metrics: dict[str, str]):
    """Small multiples: one panel per KPI (``metrics`` maps column -> title), one line per
    segment over the periods; periods not complete at as_of are drawn dotted."""
    fig, axes = plt.subplots(
        int(np.ceil(len(metrics) / 2)),
        2,
        figsize=(11, 2.9 * np.ceil(len(metrics) / 2)),
        layout="constrained",
        sharex=True,
        squeeze=False,
    )
    palette = dict(zip(sorted(kpis["segment"].unique()), sns.color_palette("tab10", kpis["segment"].nunique())))
    for ax, (column, title) in zip(axes.flat, metrics.items()):
        for segment, part in kpis.groupby("segment", sort=True):
            part = part.sort_values("period_start")
            full = part[~part["partial"]]
            ax.plot(full["period_start"], full[column], color=palette[segment], label=segment, lw=1.6)
            if part["partial"].any():
                ax.plot(part["period_start"].iloc[-2:], part[column].iloc[-2:], color=palette[segment], ls=":", lw=1.6)
        ax.set_title(title)
        ax.tick_params(axis="x", labelrotation=30)
    for ax in axes.flat[len(metrics) :]:
        ax.set_visible(False)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=min(4, len(labels)), frameon=False)
    return fig


@_styled
def lift_intervals(results: pd.DataFrame, ax=None):
    """Conversion lift (points) per segment with its interval; 0 = no effect; colour = verdict."""
    colors = {
        "worked": "#1a7f37",
        "backfired": "#cf222e",
        "no clear effect": "#6e7781",
        "not enough customers to tell": "#d0d7de",
    }
    ax = _axes(ax, (8, 0.5 * len(results) + 1.4))
    y = np.arange(len(results))
    lift = 100 * results["lift"].to_numpy(float)
    err = np.vstack(
        [lift - 100 * results["lift_low"].to_numpy(float), 100 * results["lift_high"].to_numpy(float) - lift]
    )
    for i, verdict in enumerate(results["verdict"]):
        ax.errorbar(lift[i], y[i], xerr=err[:, [i]], fmt="o", color=colors.get(verdict, "#6e7781"), capsize=4)
    ax.axvline(0, color="#57606a", lw=1)
    ax.set_yticks(y, [f"{s} ({v})" for s, v in zip(results["segment"], results["verdict"])])
    ax.invert_yaxis()
    ax.set_xlabel("more buyers per 100 contacts than in the control group")
    ax.set_title(f"{results['campaign'].iloc[0]} ({results['variant'].iloc[0]}): lift in conversion with its interval")
    return ax


@_styled
def outcome_lifts(table: pd.DataFrame, title: str, xlabel: str, scale: float = 1.0, ax=None):
    """Lift per segment and arm with its interval (one outcome, one dimension of
    ``campaigns.outcomes.lifts``); 0 = no difference from the control; colour = arm, filled =
    Holm-adjusted verdict not "no clear difference". ``scale``: 100 for rates in points."""
    ax = _axes(ax, (8, 0.42 * len(table) + 1.4))
    y = np.arange(len(table))
    lift = scale * table["lift"].to_numpy(float)
    err = np.vstack(
        [lift - scale * table["lift_low"].to_numpy(float), scale * table["lift_high"].to_numpy(float) - lift]
    )
    palette = ["#0f766e", "#c2410c", "#7c3aed", "#2563eb"]
    arms = list(dict.fromkeys(table["arm"]))
    for i, (arm, verdict) in enumerate(zip(table["arm"], table["verdict"], strict=True)):
        color = palette[arms.index(arm) % len(palette)]
        ax.errorbar(
            lift[i],
            y[i],
            xerr=err[:, [i]],
            fmt="o",
            color=color,
            mfc=color if verdict != "no clear difference" else "white",
            capsize=3,
        )
    ax.axvline(0, color="#57606a", lw=1)
    # "$" is matplotlib's math delimiter: shown as written
    ax.set_yticks(y, [f"{s} · {a}".replace("$", r"\$") for s, a in zip(table["segment"], table["arm"], strict=True)])
    ax.invert_yaxis()
    ax.set_xlabel(xlabel.replace("$", r"\$"))
    ax.set_title(title.replace("$", r"\$"))
    return ax


@_styled
def qini_curves(curves: dict[str, pd.DataFrame], title: str, ax=None):
    """Qini curves (``campaigns.outcomes.qini``): incremental amount per 1,000 customers as more
    are targeted, best-scored first; the dotted line is targeting at random."""
    ax = _axes(ax, (7, 4))
    last = 0.0
    for label, curve in curves.items():
        ax.plot(100 * curve["share_targeted"], curve["incremental"], label=label)
        last = curve["incremental"].iloc[-1]
    ax.plot([0, 100], [0, last], ls=":", color="#57606a", label="at random")
    ax.set_xlabel("% of customers targeted, best-scored first")
    ax.set_ylabel("incremental amount per 1,000 customers")
    ax.legend(loc="best")
    ax.set_title(title)
    return ax


@_styled
def monthly_trend(table: pd.DataFrame, sales: str = "sales", ax=None):
    """Bars of ``sales`` per month (a partial month lighter) and, where the data reach back, the
    same month a year earlier as points joined by a line (``monthly_sales``' table)."""
    ax = _axes(ax, (8, 3.2))
    x = np.arange(len(table))
    colors = ["#cbd5e1" if partial else "#7aa6c2" for partial in table["partial"]]
    ax.bar(x, table["sales"], color=colors, label=f"{sales} (lighter: month not complete)")
    if table["sales_year_before"].notna().any():
        ax.plot(x, table["sales_year_before"], marker="o", color="#1e293b", label="same month a year earlier")
    ax.set_xticks(x, [m.strftime("%b %y") for m in table["month"]], rotation=45, ha="right")
    ax.yaxis.set_major_formatter(StrMethodFormatter("{x:,.0f}"))
    ax.set_ylabel(sales)
    ax.set_title(f"{sales.capitalize()} month by month")
    ax.legend(loc="upper left")
    return ax
