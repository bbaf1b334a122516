"""What notebooks record about their run, kept apart from the runner so that importing it in
a kernel stays light (the runner pulls in papermill, nbconvert and nbformat's validators,
seconds of import time per step)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd

from segment_workbench.io import artifacts

SUMMARIES_FILE = "summaries.json"
SUMMARIES_DIR = ".summaries"


def record_summary(run_dir: str | Path, step: str, text: str) -> None:
    """Store the one-line summary of ``step`` that the run's index page shows. Each step writes
    its own file (steps run side by side); the runner gathers them with ``gather_summaries``."""
    folder = Path(run_dir) / SUMMARIES_DIR
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{step}.txt").write_text(text, encoding="utf-8")


def gather_summaries(run_dir: str | Path) -> dict[str, str]:
    """The summaries of the run's steps, kept in ``summaries.json`` (those of an earlier run's
    steps that were not re-run stay)."""
    run_dir = Path(run_dir)
    path, folder = run_dir / SUMMARIES_FILE, run_dir / SUMMARIES_DIR
    summaries = json.loads(path.read_text()) if path.is_file() else {}
    for file in sorted(folder.glob("*.txt")):
        summaries[file.stem] = file.read_text(encoding="utf-8")
    path.write_text(json.dumps(summaries, indent=2))
    shutil.rmtree(folder, ignore_errors=True)
    return summaries


def previous_run(run_dir: str | Path, run_name: str) -> Path | None:
    """The last complete run of the same config (``reports/<run_name>``) while a new run is
    being written beside it, or None."""
    run_dir = Path(run_dir).resolve()
    previous = run_dir.parent / run_name
    return previous if (previous / "run.json").is_file() and previous != run_dir else None


def previous_as_of(run_dir: str | Path, run_name: str) -> pd.Timestamp | None:
    """``as_of`` of the last complete run of the same config (a refresh compares with it), or None."""
    previous = previous_run(run_dir, run_name)
    if previous is None or not artifacts.exists(previous, artifacts.CUSTOMERS):
        return None
    return artifacts.run_meta(previous).as_of
