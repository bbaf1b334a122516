"""A campaign outcome file: one row per contacted customer with the arm they were randomized to
and the outcomes already measured (visited, converted: 0/1; spent: an amount), as e-mail and ad
tools export them, plus what was known about the customer before the send (the segments).

``read_outcomes`` reads and checks it (``campaign.kind: outcomes``); the statistics are in
``segment_workbench.campaigns.outcomes``. Segments come from the file's own columns: as they are
(bands, categories), from 0/1 columns combined (``groups``: which of them are 1, e.g. the
product lines a customer bought) or numbers cut at edges (``bins``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from segment_workbench.config import CampaignConfig
from segment_workbench.errors import ConfigError, InputError
from segment_workbench.io import schema
from segment_workbench.io.detection import existing_file
from segment_workbench.io.mapping import _canonical, find_column

#: Arms whose smallest is below this share of the largest get a warning about the split.
UNEQUAL_ARMS = 0.5


@dataclass
class Outcomes:
    """The typed file: ``data`` has ``arm`` (text), ``customer_id`` when the file has one, the
    binary outcomes (0/1 floats), the amount (float), one text column per segment dimension and
    the features, under their config names.
    ``dimensions``: the segment columns; ``notes``: sentences about the split and the data."""

    data: pd.DataFrame
    arms: list[str]
    control: str
    binary: list[str]
    amount: str | None
    dimensions: list[str]
    features: list[str]
    file: str
    notes: list[str] = field(default_factory=list)


def _read(path: Path) -> pd.DataFrame:
    if path.suffix.lower() in (".xlsx", ".xls"):
        return pd.read_excel(path, dtype=str)
    if path.suffix.lower() == ".parquet":
        return pd.read_parquet(path).astype("string")
    return pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")


def _bin_labels(edges: list[float]) -> list[str]:
    """Labels for [a, b) intervals: "1-3" for integer edges 1 and 4, else "1.5-4"."""
    labels = []
    for low, high in zip(edges[:-1], edges[1:], strict=True):
        if float(low).is_integer() and float(high).is_integer():
            labels.append(f"{low:.0f}" if high - low == 1 else f"{low:.0f}-{high - 1:.0f}")
        else:
            labels.append(f"{low:g}-{high:g}")
    return labels


def read_outcomes(settings: CampaignConfig) -> Outcomes:
    """The outcome file named by ``settings`` (``campaign.path``), typed and checked. Raises
    InputError for a missing arm or outcome column, an arm list without the control, outcome
    values other than 0/1, or an amount below zero; arms of very unequal size only add a note."""
    if not settings.path:
        raise ConfigError("campaign.kind: outcomes needs campaign.path (the file with arms and outcomes).")
    if not settings.control:
        raise ConfigError("campaign.kind: outcomes needs campaign.control: the arm that got no message.")
    path = existing_file(settings.path, "campaign outcome file", "campaign.path")
    raw, file = _read(path), str(path)
    column = {name: find_column(raw, name, file, key) for name, key in _wanted(settings)}
    arm = schema._as_text(raw[column[settings.arm]])
    if arm.isna().any():
        raise InputError(
            f"{int(arm.isna().sum())} row(s) have no arm in {settings.arm}.",
            file=file,
            column=settings.arm,
            rows=raw[arm.isna()].head(3),
            hint="Every contacted customer needs the arm they were randomized to.",
        )
    arms = sorted(arm.unique(), key=lambda a: (a != settings.control, a))
    if settings.control not in arms:
        raise InputError(
            f"No row has the control arm '{settings.control}'; the arms in {settings.arm} are {', '.join(arms)}.",
            file=file,
            column=settings.arm,
            rows=raw[[column[settings.arm]]].drop_duplicates().head(5),
            hint="Set campaign.control to the arm that got no message (a read-out needs customers held back).",
        )
    data = pd.DataFrame({"arm": arm.to_numpy()})
    id_column = {_canonical(c): c for c in raw.columns}.get("customer_id")
    if id_column is not None:  # customers of the shop: segments and audiences can join on it
        data["customer_id"] = schema.normalize_ids(raw[id_column]).to_numpy()
    for name in settings.binary:
        values = schema.parse_numbers(raw[column[name]])
        bad = ~values.isin([0.0, 1.0])
        if bad.any():
            raise InputError(
                f"The outcome {name} must be 0 or 1; {int(bad.sum())} row(s) hold other values "
                f"({', '.join(raw.loc[bad, column[name]].drop_duplicates().astype(str).head(3))}).",
                file=file,
                column=name,
                rows=raw.loc[bad, [column[settings.arm], column[name]]].head(5),
                hint="Code it 1 (happened) or 0 (did not); an amount belongs in campaign.amount.",
            )
        data[name] = values.to_numpy()
    if settings.amount:
        values = schema.parse_numbers(raw[column[settings.amount]])
        bad = values.isna() | (values < 0)
        if bad.any():
            raise InputError(
                f"{int(bad.sum())} value(s) of {settings.amount} are below zero or unreadable.",
                file=file,
                column=settings.amount,
                rows=raw.loc[bad, [column[settings.arm], column[settings.amount]]].head(5),
                hint="The amount is what each customer spent in the window after the send: 0 or more. "
                "Net refunds out before exporting, or set them to 0.",
            )
        data[settings.amount] = values.to_numpy()
    dimensions = []
    for name in settings.segments:
        data[name] = schema._as_text(raw[column[name]]).fillna("(missing)").to_numpy()
        dimensions.append(name)
    for name, flags in settings.groups.items():
        on = pd.DataFrame({f: schema.parse_numbers(raw[column[f]]).eq(1).to_numpy() for f in flags})
        data[name] = [" and ".join(f for f in flags if row[f]) or "none" for _, row in on.iterrows()]
        dimensions.append(name)
    for name, edges in settings.bins.items():
        values = schema.parse_numbers(raw[column[name]])
        cut = pd.cut(values, bins=edges, right=False, labels=_bin_labels(edges))
        data[f"{name}_band"] = cut.astype(object).where(cut.notna(), "(outside the bands)").to_numpy()
        dimensions.append(f"{name}_band")
    features = settings.features or list(
        dict.fromkeys([*settings.segments, *settings.bins, *(f for fl in settings.groups.values() for f in fl)])
    )
    for name in features:
        if name in data:
            continue
        numbers = schema.parse_numbers(raw[column[name]])
        data[name] = (
            numbers.to_numpy() if numbers.notna().mean() > 0.95 else schema._as_text(raw[column[name]]).to_numpy()
        )
    outcomes = Outcomes(
        data, arms, settings.control, list(settings.binary), settings.amount, dimensions, features, file
    )
    sizes = data["arm"].value_counts()
    if sizes.min() < UNEQUAL_ARMS * sizes.max():
        outcomes.notes.append(
            "The arms are of very unequal size ("
            + ", ".join(f"{a}: {n:,}" for a, n in sizes.items())
            + "): check that customers were split at random. The comparisons stay valid, but the smallest "
            "arm limits what can be detected."
        )
    return outcomes


def _wanted(settings: CampaignConfig) -> list[tuple[str, str]]:
    """(column, config key) of every column the read-out uses."""
    wanted = [(settings.arm, "campaign.arm")]
    wanted += [(c, "campaign.binary") for c in settings.binary]
    wanted += [(settings.amount, "campaign.amount")] if settings.amount else []
    wanted += [(c, "campaign.segments") for c in settings.segments]
    wanted += [(f, "campaign.groups") for flags in settings.groups.values() for f in flags]
    wanted += [(c, "campaign.bins") for c in settings.bins]
    wanted += [(c, "campaign.features") for c in settings.features]
    return list(dict.fromkeys(wanted))
