"""Notebooks are committed without outputs and declare their parameters."""

import nbformat
import pytest

from helpers.config import ALL_STEPS, DEFAULTS, NOTEBOOKS_DIR
from helpers.report import notebook_parameters

NOTEBOOKS = sorted(NOTEBOOKS_DIR.glob("*.ipynb"))


def test_every_step_has_a_notebook():
    assert [p.stem for p in NOTEBOOKS] == sorted(ALL_STEPS)
    assert ALL_STEPS[-1] == "06_owner_report"  # runs last, so it can report on every other step


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_committed_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    dirty = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and (c.outputs or c.execution_count)]
    assert not dirty, f"{path.name}: cells {dirty} have outputs; clear them before committing"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_one_parameters_cell_with_known_keys(path):
    nb = nbformat.read(path, as_version=4)
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1
    params = notebook_parameters(path.stem)
    assert "run_dir" in params
    assert set(params) - {"run_dir"} <= set(DEFAULTS), "parameters must be config keys"
