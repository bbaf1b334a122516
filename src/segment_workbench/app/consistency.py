"""Does the owner's report tell one story? Checks of a rendered report against its run:

- every group it names (cards, "where to focus", "what to do this month") is a segment of the
  run, or the "valuable and slipping" audience;
- no RFM segment name appears (RFM stays on the analyst's 03 page);
- one meaning of "still a customer": no churn-threshold "have stopped buying" beside the model's
  chances, no "% likely still active";
- every percentage in its prose is at most 300% (larger changes are said as multiples);
- each group's description agrees with its name ("One-time buyers": usually 1 order; "New ...":
  most joined in the last 6 months; "Lapsed ..." / "Fading ...": last bought at least 3 months
  ago; regulars, frequent and best customers: usually 2 orders or more).

``problems`` returns one sentence per disagreement; an empty list is a consistent report.
"""

from __future__ import annotations

import html as html_lib
import re
from pathlib import Path

import pandas as pd

from segment_workbench.app.owner_report import SLIPPING_NAME
from segment_workbench.io import artifacts
from segment_workbench.segmentation.rfm import DEFAULT_SEGMENT_MAP

#: Phrases of a second meaning of "still a customer" (the churn threshold's, or P(alive) rounded up).
TWO_MEANINGS = ("have stopped buying", "have stopped coming", "had stopped after", "likely still active")
MAX_PERCENT = 300


def page_text(html: str) -> str:
    """The visible text of a page: no tags, styles, scripts or embedded images."""
    body = re.sub(r"<(style|script)[^>]*>.*?</\1>", " ", html, flags=re.S)
    return html_lib.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", body)))


def named_groups(html: str) -> list[str]:
    """The group names the report shows: card headings and the numbered items of "where to
    focus" and "what to do this month"."""
    cards = re.findall(r'<div class="card[^"]*">\s*<h3>(.*?)</h3>', html, flags=re.S)
    focus = re.findall(r"<li><b>\d+\. (.*?)</b>", html, flags=re.S)
    return [html_lib.unescape(name).strip() for name in cards + focus]


def _descriptions(html: str) -> dict[str, str]:
    """Each card's name -> its first trait (the description of its centre)."""
    cards = re.findall(r'<div class="card[^"]*">\s*<h3>(.*?)</h3>.*?<li>(.*?)</li>', html, flags=re.S)
    return {html_lib.unescape(name).strip(): html_lib.unescape(first) for name, first in cards}


def _name_checks(run_dir: Path, segments: pd.DataFrame | None) -> dict[str, dict[str, float]]:
    """Per segment: median orders, days since the last order and days since the first."""
    if segments is None:
        return {}
    customers = artifacts.read(run_dir, artifacts.CUSTOMERS)
    columns = [c for c in ("n_orders", "days_since_last_order", "tenure_days") if c in customers]
    frame = customers[["customer_id", *columns]].merge(segments[["customer_id", "cluster_name"]], on="customer_id")
    return frame.groupby("cluster_name")[columns].median().to_dict(orient="index")


def _disagreement(name: str, description: str, centre: dict[str, float]) -> str | None:
    orders = centre.get("n_orders", float("nan"))
    last, first = centre.get("days_since_last_order", float("nan")), centre.get("tenure_days", float("nan"))
    if name.startswith("One-time") and not re.match(r"usually 1 (order|visit)\b", description):
        return f"“{name}” is described as “{description}”, not as usually 1 order"
    if name.startswith("New") and not first <= 183:
        return f"“{name}”: half its customers first bought {first:,.0f} days ago or earlier, not recently"
    if name.startswith(("Lapsed", "Fading")) and not last >= 90:
        return f"“{name}”: half its customers bought within the last {last:,.0f} days"
    if any(word in name for word in ("regulars", "Frequent", "Best")) and not orders >= 2:
        return f"“{name}”: its median customer has {orders:,.0f} order(s)"
    return None


def problems(html: str, run_dir: str | Path) -> list[str]:
    """Every way the rendered owner's report ``html`` disagrees with itself or its run."""
    run_dir = Path(run_dir)
    text = page_text(html)
    found = []
    segments = artifacts.read_optional(run_dir, artifacts.SEGMENTS)
    ours = set(segments["cluster_name"]) if segments is not None else set()
    for name in named_groups(html):
        if name not in ours | {SLIPPING_NAME}:
            found.append(f"“{name}” is named in the report but is not a segment of this run")
    for rule in DEFAULT_SEGMENT_MAP:
        name = rule["segment"]
        multiword = " " in name or name in ("Champions", "Hibernating")
        pattern = rf"\b{re.escape(name)}\b" if multiword else rf"“{re.escape(name)}”"
        if name not in ours and re.search(pattern, text):
            found.append(f"the RFM segment name “{name}” appears (RFM stays on the analyst's page)")
    for phrase in TWO_MEANINGS:
        if phrase in text:
            found.append(f"“{phrase}”: a second meaning of still being a customer")
    for match in re.finditer(r"(\d[\d,]*(?:\.\d+)?)%", text):
        if float(match.group(1).replace(",", "")) > MAX_PERCENT:
            found.append(f"“{match.group(0)}”: a percentage above {MAX_PERCENT}% (say it as a multiple)")
    centres = _name_checks(run_dir, segments)
    for name, description in _descriptions(html).items():
        problem = _disagreement(name, description, centres.get(name, {}))
        if problem:
            found.append(problem)
    return found


def check(html_path: str | Path, run_dir: str | Path) -> pd.DataFrame:
    """The problems of an owner's report file as a table (problem), for a notebook or a test."""
    return pd.DataFrame({"problem": problems(Path(html_path).read_text(encoding="utf-8"), run_dir)})
