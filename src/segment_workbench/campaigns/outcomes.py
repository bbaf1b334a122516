"""Reading out a randomized test from an outcome file (``segment_workbench.io.outcome_file``):
per arm and segment, the lifts against the control with intervals, Holm-adjusted verdicts; a
test of whether the lift differs between segments at all; who should get which message (a
segment rule and an uplift model, both valued on customers they were not fitted on); and the
Qini curves.

Statistics:

- a rate (0/1 outcome): difference of proportions, Newcombe's hybrid score interval and the
  Miettinen–Nurminen score test (``campaign.conversion_lift``);
- an amount (spend): difference of means with Welch's interval and test. Spend is mostly zeros,
  but each arm's mean is over thousands of customers, so the central limit theorem holds for the
  means; where an arm has fewer than ``MIN_FOR_WELCH`` customers with a non-zero amount a
  percentile bootstrap of the difference is used instead, and the method column says which;
- Holm's adjustment over the family of one outcome and one segment dimension (every arm ×
  segment comparison with the control);
- heterogeneity: a likelihood-ratio test of the arm × segment interaction (logistic regression
  for a rate, least squares with an F test for an amount);
- policy values by cross-fitting: the data are split into ``folds``; the rule (per segment, the
  arm with the highest mean amount net of the contact cost, or no message) and the uplift model
  (one gradient-boosting regression of the amount per arm, the arm with the highest predicted
  gain) are fitted on the other folds and valued on the held-out fold by inverse-propensity
  weighting (Hájek), the arm shares being known from the randomization. Values are per 1,000
  customers, against sending nobody a message.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import statsmodels.formula.api as smf
from scipy import stats
from sklearn.ensemble import HistGradientBoostingRegressor
from statsmodels.stats.multitest import multipletests

from segment_workbench.campaigns.campaign import conversion_lift, mean_lift, sample_size
from segment_workbench.io.outcome_file import Outcomes

ALL = "All customers"
MIN_FOR_WELCH = 30  # customers with a non-zero amount per arm; fewer: bootstrap the difference
PER = 1_000  # values per this many customers


def _bootstrap_lift(
    test: np.ndarray, control: np.ndarray, alpha: float, seed: int = 0
) -> tuple[float, float, float, float]:
    rng = np.random.default_rng(seed)
    draws = np.array(
        [rng.choice(test, len(test)).mean() - rng.choice(control, len(control)).mean() for _ in range(2_000)]
    )
    low, high = np.quantile(draws, [alpha / 2, 1 - alpha / 2])
    p = 2 * min((draws <= 0).mean(), (draws >= 0).mean())
    return float(test.mean() - control.mean()), float(low), float(high), float(min(1.0, p))


def lifts(
    outcomes: Outcomes, alpha: float = 0.05, compare_arms: bool = False, margin: float = 1.0, cost: float = 0.0
) -> pd.DataFrame:
    """One row per outcome, segment dimension, segment, arm and comparison arm (the control,
    and with ``compare_arms`` each other arm): the outcome's kind ("rate" or "amount"), n,
    value in each arm (rate or mean), lift with
    its interval and p-value, the method, Holm's adjusted p-value over the outcome's family in
    that dimension, and a verdict. The dimension ``ALL`` has the one segment ``ALL``. For the
    amount: ``net_per_1000`` = (lift × ``margin`` − ``cost`` per message) per 1,000 customers
    messaged, and ``roi`` = (lift × margin − cost) / cost when messages cost anything."""
    data = outcomes.data
    pairs = [(a, outcomes.control) for a in outcomes.arms if a != outcomes.control]
    if compare_arms:
        tested = [a for a in outcomes.arms if a != outcomes.control]
        pairs += [(a, b) for i, a in enumerate(tested) for b in tested[i + 1 :]]
    measures = [(name, "rate") for name in outcomes.binary] + ([(outcomes.amount, "amount")] if outcomes.amount else [])
    rows = []
    for dimension in [ALL, *outcomes.dimensions]:
        groups = [(ALL, data)] if dimension == ALL else list(data.groupby(dimension, sort=True))
        for segment, part in groups:
            by_arm = {a: part[part["arm"] == a] for a in outcomes.arms}
            for arm, other in pairs:
                t, c = by_arm[arm], by_arm[other]
                for name, kind in measures:
                    row = {"dimension": dimension, "segment": segment, "arm": arm, "against": other, "outcome": name}
                    row["kind"] = kind
                    row.update(n_arm=len(t), n_against=len(c))
                    if len(t) == 0 or len(c) == 0:
                        rows.append(row)
                        continue
                    if kind == "rate":
                        x_t, x_c = int(t[name].sum()), int(c[name].sum())
                        estimate = conversion_lift(x_t, len(t), x_c, len(c), alpha)
                        method = "Newcombe score interval, score test"
                    elif min((t[name] > 0).sum(), (c[name] > 0).sum()) >= MIN_FOR_WELCH:
                        estimate = mean_lift(t[name].to_numpy(float), c[name].to_numpy(float), alpha)
                        method = "Welch"
                    else:
                        estimate = _bootstrap_lift(t[name].to_numpy(float), c[name].to_numpy(float), alpha)
                        method = "bootstrap (few non-zero amounts)"
                    row.update(value_arm=t[name].mean(), value_against=c[name].mean(), method=method)
                    row["lift"], row["lift_low"], row["lift_high"], row["p_value"] = estimate
                    rows.append(row)
    out = pd.DataFrame(rows)
    out["p_adjusted"] = np.nan
    for _, idx in out.groupby(["dimension", "outcome", "against"]).groups.items():
        tested = [i for i in idx if out.at[i, "p_value"] == out.at[i, "p_value"]]
        if tested:
            out.loc[tested, "p_adjusted"] = multipletests(out.loc[tested, "p_value"], method="holm")[1]
    if outcomes.amount:
        amount = out["outcome"] == outcomes.amount
        net = out["lift"] * margin - cost
        out["net_per_1000"] = np.where(amount, PER * net, np.nan)
        out["roi"] = np.where(amount & (cost > 0), net / cost if cost > 0 else np.nan, np.nan)
    out["verdict"] = np.where(
        out["p_adjusted"] < alpha, np.where(out["lift"] > 0, "higher", "lower"), "no clear difference"
    )
    return out


def heterogeneity(outcomes: Outcomes, outcome: str, dimension: str) -> float:
    """p-value of the likelihood-ratio test that the arms' effects differ between the segments of
    ``dimension`` (the arm × segment interaction), for a rate by logistic regression, for an
    amount by least squares (F test)."""
    data = outcomes.data[["arm", dimension, outcome]].rename(columns={dimension: "segment", outcome: "y"})
    if outcome in outcomes.binary:
        full = smf.logit("y ~ C(arm) * C(segment)", data).fit(disp=0, method="bfgs", maxiter=500)
        reduced = smf.logit("y ~ C(arm) + C(segment)", data).fit(disp=0, method="bfgs", maxiter=500)
        statistic = 2 * (full.llf - reduced.llf)
        return float(stats.chi2.sf(statistic, full.df_model - reduced.df_model))
    full = smf.ols("y ~ C(arm) * C(segment)", data).fit()
    reduced = smf.ols("y ~ C(arm) + C(segment)", data).fit()
    return float(full.compare_f_test(reduced)[1])


# --- who should get what -------------------------------------------------------------------------


def segment_rule(
    data: pd.DataFrame, dimension: str, arms: list[str], control: str, amount: str, cost: float, margin: float = 1.0
) -> dict:
    """Per segment of ``dimension``, the arm with the highest mean ``amount`` × ``margin`` less
    the contact cost (the control costs nothing), i.e. the control when no message pays."""
    return {
        segment: best_arm(part, arms, control, amount, cost, margin)
        for segment, part in data.groupby(dimension, sort=True)
    }


def best_arm(data: pd.DataFrame, arms: list[str], control: str, amount: str, cost: float, margin: float = 1.0) -> str:
    """The arm with the highest mean ``amount`` × ``margin`` over the control's, less the
    contact cost (the control's own gain is 0); the control when no arm was tried in ``data``."""
    means = data.groupby("arm")[amount].mean().reindex(arms)
    gain = (means - means[control]) * margin - np.where(means.index == control, 0.0, cost)
    return gain.idxmax() if gain.notna().any() else control


def choose_rule(
    data: pd.DataFrame,
    dimensions: list[str],
    arms: list[str],
    control: str,
    amount: str,
    cost: float,
    margin: float = 1.0,
) -> tuple[str, dict]:
    """The segment dimension whose ``segment_rule`` has the highest value on ``data`` itself
    (inverse-propensity, Hájek), and that rule."""
    share = data["arm"].value_counts(normalize=True).to_dict()
    arm = data["arm"].to_numpy()
    net = data[amount].to_numpy(float) * margin - np.where(arm == control, 0.0, cost)
    best = None
    for dimension in dimensions:
        rule = segment_rule(data, dimension, arms, control, amount, cost, margin)
        chosen = data[dimension].map(rule).to_numpy(dtype=object)
        value = _policy_value(arm, net, chosen, share)
        if best is None or value > best[0]:
            best = (value, dimension, rule)
    return best[1], best[2]


def _policy_value(arm: np.ndarray, y: np.ndarray, chosen: np.ndarray, share: dict[str, float]) -> float:
    """Hájek inverse-propensity estimate of the mean outcome had every customer got ``chosen``."""
    hit = arm == chosen
    weight = hit / np.array([share[a] for a in chosen])
    return float((weight * y).sum() / weight.sum()) if weight.sum() else float("nan")


def _features(data: pd.DataFrame, features: list[str]) -> pd.DataFrame:
    X = data[features].copy()
    for column in features:
        if not pd.api.types.is_numeric_dtype(X[column]):
            X[column] = X[column].astype("category")
    return X


@dataclass
class Targeting:
    """Cross-fitted values per ``PER`` customers (against sending nobody a message, net of the
    contact cost) of: the segment ``rule`` (its dimension and arms chosen on the training folds;
    chosen on all data for display in ``rule_table``), the best single arm, and the uplift
    model; their bootstrap intervals; the held-out gains per customer behind the Qini curves
    (``scores``)."""

    dimension: str
    rule_table: pd.DataFrame  # segment, arm, customers
    values: pd.DataFrame  # policy, value, low, high (per PER customers)
    scores: pd.DataFrame  # per customer and non-control arm: arm, treated, y, rule_score, model_score


def targeting(
    outcomes: Outcomes,
    cost: float = 0.0,
    folds: int = 5,
    random_state: int = 0,
    n_boot: int = 200,
    margin: float = 1.0,
) -> Targeting:
    """Who should get which message (module docstring), on the amount outcome × ``margin`` less
    ``cost`` per message."""
    data, amount, control, arms = outcomes.data, outcomes.amount, outcomes.control, outcomes.arms
    share = data["arm"].value_counts(normalize=True).to_dict()
    rng = np.random.default_rng(random_state)
    fold = rng.permutation(np.arange(len(data)) % folds)
    net = data[amount].to_numpy(float) * margin - np.where(data["arm"].to_numpy() == control, 0.0, cost)
    chosen = {p: np.empty(len(data), dtype=object) for p in ("rule", "best single arm", "uplift model")}
    predicted = {a: np.zeros(len(data)) for a in arms}
    rule_gain = {a: np.zeros(len(data)) for a in arms}
    X = _features(data, outcomes.features)
    for k in range(folds):
        train, test = data[fold != k], fold == k
        dimension, rule = choose_rule(train, outcomes.dimensions, arms, control, amount, cost, margin)
        chosen["rule"][test] = data.loc[test, dimension].map(rule).fillna(control).to_numpy()
        chosen["best single arm"][test] = best_arm(train, arms, control, amount, cost, margin)
        by_segment = train.groupby([dimension, "arm"])[amount].mean().unstack("arm").reindex(columns=arms)
        for a in arms:
            model = HistGradientBoostingRegressor(
                max_iter=100,
                learning_rate=0.05,
                min_samples_leaf=200,
                random_state=random_state,
                categorical_features="from_dtype",
            )
            mask = (fold != k) & (data["arm"].to_numpy() == a)
            model.fit(X[mask], data.loc[mask, amount])
            predicted[a][test] = model.predict(X[test])
            segment_gain = (by_segment[a] - by_segment[control]).reindex(data.loc[test, dimension]).fillna(0.0)
            rule_gain[a][test] = segment_gain.to_numpy()
        gain = np.column_stack(
            [(predicted[a][test] - predicted[control][test]) * margin - (cost if a != control else 0) for a in arms]
        )
        chosen["uplift model"][test] = np.array(arms, dtype=object)[gain.argmax(axis=1)]
    arm, y = data["arm"].to_numpy(), data[amount].to_numpy(float)
    nobody = np.full(len(data), control, dtype=object)

    def per_thousand(index: np.ndarray, policy: np.ndarray) -> float:
        base = _policy_value(arm[index], y[index] * margin, nobody[index], share)
        value = _policy_value(arm[index], net[index], policy[index], share)
        return PER * (value - base)

    everyone = np.arange(len(data))
    draws = [rng.integers(0, len(data), len(data)) for _ in range(n_boot)]
    rows = []
    for name, policy in chosen.items():
        boot = [per_thousand(d, policy) for d in draws]
        rows.append(
            {
                "policy": name,
                "value": per_thousand(everyone, policy),
                "low": float(np.quantile(boot, 0.025)),
                "high": float(np.quantile(boot, 0.975)),
                "share_messaged": float((policy != control).mean()),
            }
        )
    dimension, full_rule = choose_rule(data, outcomes.dimensions, arms, control, amount, cost, margin)
    sizes = data[dimension].value_counts()
    rule_table = pd.DataFrame(
        {"segment": list(full_rule), "arm": list(full_rule.values()), "customers": [int(sizes[s]) for s in full_rule]}
    )
    parts = []
    for a in arms:
        if a == control:
            continue
        rows_a = np.concatenate([np.flatnonzero(arm == a), np.flatnonzero(arm == control)])  # the arm, then the control
        parts.append(
            pd.DataFrame(
                {
                    "arm": a,
                    "treated": arm[rows_a] == a,
                    "y": y[rows_a],
                    "rule_score": rule_gain[a][rows_a],
                    "model_score": predicted[a][rows_a] - predicted[control][rows_a],
                }
            )
        )
    scores = pd.concat(parts, ignore_index=True)
    return Targeting(dimension, rule_table, pd.DataFrame(rows), scores)


def qini(scores: pd.DataFrame, column: str, points: int = 50) -> pd.DataFrame:
    """The Qini curve of one arm's ``scores`` (held-out customers of that arm and of the control)
    ranked by ``column``: share targeted, incremental amount per ``PER`` customers targeted so
    far, Y_t(k) − Y_c(k) × N_t(k) / N_c(k), scaled to the whole population (0 until a control
    customer has been reached: the gain is not estimable before)."""
    ordered = scores.sort_values(column, ascending=False, kind="stable")
    treated = ordered["treated"].to_numpy()
    y = ordered["y"].to_numpy(float)
    n_t, n_c = np.cumsum(treated), np.cumsum(~treated)
    y_t, y_c = np.cumsum(y * treated), np.cumsum(y * ~treated)
    with np.errstate(divide="ignore", invalid="ignore"):
        gain = np.where(n_c > 0, y_t - y_c * n_t / n_c, 0.0)
    n = len(ordered)
    at = np.unique(np.linspace(0, n - 1, points).astype(int))
    return pd.DataFrame({"share_targeted": (at + 1) / n, "incremental": PER * gain[at] / n})


def qini_coefficient(curve: pd.DataFrame) -> float:
    """Area between the Qini curve and the straight line of random targeting (per ``PER``)."""
    x, y = curve["share_targeted"].to_numpy(), curve["incremental"].to_numpy()
    random = x * y[-1]
    return float(np.trapezoid(y - random, x))


def with_segments(outcomes: Outcomes, segment_of: pd.Series) -> Outcomes:
    """``outcomes`` with the behavioural segments (``segment_of``: customer_id -> segment) as
    one more dimension, ``segment``, when the file has customer ids; contacts without orders
    are "(not a customer yet)"."""
    if "customer_id" not in outcomes.data:
        return outcomes
    data = outcomes.data.assign(segment=outcomes.data["customer_id"].map(segment_of).fillna("(not a customer yet)"))
    return Outcomes(
        data,
        outcomes.arms,
        outcomes.control,
        outcomes.binary,
        outcomes.amount,
        ["segment", *outcomes.dimensions],
        outcomes.features,
        outcomes.file,
        outcomes.notes,
    )


def _money(value: float, currency: str) -> str:
    return f"{'-' if value < 0 else ''}{currency}{abs(value):,.0f}"


def overall_sentence(overall: pd.DataFrame, outcomes: Outcomes, currency: str = "") -> str:
    """What each arm did for all customers, against the control, in one sentence per arm."""
    sentences = []
    for arm, rows in overall[overall["against"] == outcomes.control].groupby("arm", sort=False):
        parts = []
        for r in rows.itertuples():
            if r.outcome == outcomes.amount:
                parts.append(
                    f"{r.outcome} {currency}{r.value_arm:,.3f} per customer against {currency}{r.value_against:,.3f} "
                    f"({_money(PER * r.lift, currency)} per {PER:,} customers, interval {_money(PER * r.lift_low, currency)} "
                    f"to {_money(PER * r.lift_high, currency)})"
                )
            else:
                parts.append(f"{r.outcome} {r.value_arm:.2%} against {r.value_against:.2%}")
        sentences.append(f"{arm}: " + "; ".join(parts) + ".")
    return " ".join(sentences)


def differing_cuts(table: pd.DataFrame, outcome: str, alpha: float = 0.05) -> list[str]:
    """The cuts (``heterogeneity`` p-values per dimension in ``table``) whose lifts in ``outcome``
    differ between segments, Holm-adjusted over the cuts tested; in words ("product line")."""
    adjusted = multipletests(table[outcome], method="holm")[1]
    return [d.replace("_", " ") for d, p in zip(table["dimension"], adjusted, strict=True) if p < alpha]


def heterogeneity_sentence(table: pd.DataFrame, outcome: str, alpha: float = 0.05) -> str:
    """Which cuts of the customers show lifts that differ, for ``outcome`` (``differing_cuts``)."""
    differ = differing_cuts(table, outcome, alpha)
    if not differ:
        return (
            f"No cut shows lifts in {outcome} that differ between its segments (Holm-adjusted over "
            f"{len(table)} cuts): the data cannot support targeting by segment on {outcome}."
        )
    return (
        f"The lift in {outcome} differs between segments by {', '.join(differ)} (Holm-adjusted over {len(table)} cuts); "
        "by the other cuts the data cannot tell the segments apart."
    )


def targeting_sentence(target: Targeting, outcomes: Outcomes, currency: str = "") -> str:
    """The recommendation in words, with the cross-fitted values per ``PER`` customers."""
    values = target.values.set_index("policy")
    rule = values.loc["rule"]
    best = values.loc["best single arm"]
    groups = "; ".join(f"{r.arm} to {r.segment}" for r in target.rule_table.itertuples())
    head = (
        f"Cross-fitted, per {PER:,} customers against sending nothing: the rule by {target.dimension.replace('_', ' ')} "
        f"({groups}) {_money(rule['value'], currency)} (interval {_money(rule['low'], currency)} to "
        f"{_money(rule['high'], currency)}); the best single arm for everyone {_money(best['value'], currency)}; "
        f"the uplift model {_money(values.loc['uplift model', 'value'], currency)}."
    )
    winner = values["value"].idxmax()
    if winner == "rule":
        return head + " Targeting by segment pays: send by the rule."
    if winner == "best single arm":
        return head + " No targeting beats sending everyone the same best message."
    return head + " The uplift model finds the responders best: use its scores, and check them on the next test."


def next_test(
    lifts_table: pd.DataFrame, outcomes: Outcomes, target_lift: float, alpha: float, power: float, test_share: float
) -> str:
    """The next test, in words: for the arm with the largest lift in the primary rate (the first
    ``binary`` outcome) overall, the customers needed to detect ``target_lift`` (absolute) at the
    control's observed rate; without customer ids no audience files can be written."""
    if not outcomes.binary:
        return "No rate outcome (campaign.binary) to plan the next test on."
    outcome = outcomes.binary[0]
    overall = lifts_table.query("dimension == @ALL and outcome == @outcome and against == @outcomes.control")
    row = overall.sort_values("lift", ascending=False).iloc[0]
    n_test, n_control = sample_size(float(row["value_against"]), target_lift, alpha, power, test_share)
    return (
        f"Next test: {row['arm']} against {outcomes.control} on {outcome}, from a baseline of "
        f"{row['value_against']:.2%}: detecting a rise of {100 * target_lift:.1f} points takes {n_test:,} + "
        f"{n_control:,} customers."
        + (
            " The split is written as audience files (audiences/next_test/)."
            if "customer_id" in outcomes.data
            else " The outcome file has no customer ids, so no audience files are written: draw the split in your "
            "e-mail tool."
        )
    )
