"""Files shipped inside the package: the step notebooks, the HTML templates and the scaffold of
a new project, found with ``importlib.resources`` (never from the source tree)."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path


def _folder(name: str) -> Path:
    return Path(str(files("segment_workbench.app") / name))


def notebooks_dir() -> Path:
    """The folder of the step notebooks (``01_collect.ipynb`` ...)."""
    return _folder("notebooks")


def notebook_path(step: str) -> Path:
    """The notebook of ``step``, e.g. ``notebook_path("02_clean")``."""
    return notebooks_dir() / f"{step}.ipynb"


def templates_dir() -> Path:
    """nbconvert and Jinja templates: the step pages, the index, the owner's report."""
    return _folder("templates")


def scaffold_dir() -> Path:
    """What ``segment-workbench init`` copies into a new project folder."""
    return _folder("scaffold")
