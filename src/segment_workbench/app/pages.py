"""The run's index page and the batch summary page, rendered from ``templates/pages/``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jinja2

from segment_workbench.app.resources import templates_dir

MARKS = {"complete": "✔", "failed": "✘", "skipped": "○", "not run": "–"}


def _render(template: str, **context: Any) -> str:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(templates_dir()), autoescape=True)
    return env.get_template(template).render(marks=MARKS, **context)


def write_index(path: Path, run_info: dict[str, Any]) -> None:
    """The run's front page: each step with a link, its status, a one-line summary (or the
    failing cell and its error) and time."""
    owner_report = (path.parent / "owner_report.html").is_file()
    path.write_text(_render("pages/index.html.j2", run=run_info, owner_report=owner_report), encoding="utf-8")


def write_batch_page(path: Path, rows: list[dict[str, Any]], jobs: int) -> None:
    """The batch summary: one row per config with its status, time, error and report link
    (relative to the page's folder)."""
    shown = [
        {
            **r,
            "name": Path(r["config"]).name,
            "link": Path(r["report"]).relative_to(path.parent).as_posix() if r["report"] else "",
        }
        for r in rows
    ]
    path.write_text(_render("pages/batch.html.j2", rows=shown, jobs=jobs), encoding="utf-8")
