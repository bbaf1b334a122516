"""What notebooks record about their run, kept apart from the runner so that importing it in
a kernel stays light (the runner pulls in papermill, nbconvert and nbformat's validators,
seconds of import time per step)."""

from __future__ import annotations

import json
from pathlib import Path

SUMMARIES_FILE = "summaries.json"


def record_summary(run_dir: str | Path, step: str, text: str) -> None:
    """Store the one-line summary of ``step`` that the run's index page shows."""
    path = Path(run_dir) / SUMMARIES_FILE
    summaries = json.loads(path.read_text()) if path.is_file() else {}
    summaries[step] = text
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(summaries, indent=2))


def previous_run(run_dir: str | Path, run_name: str) -> Path | None:
    """The last complete run of the same config (``reports/<run_name>``) while a new run is
    being written beside it, or None."""
    run_dir = Path(run_dir).resolve()
    previous = run_dir.parent / run_name
    return previous if (previous / "run.json").is_file() and previous != run_dir else None
