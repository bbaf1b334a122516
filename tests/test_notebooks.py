"""Notebooks are committed without outputs, declare their parameters, and read only what the
steps they wait for have written."""

import re

import nbformat
import pytest

from segment_workbench.app.resources import notebook_path, notebooks_dir
from segment_workbench.app.runner import notebook_parameters
from segment_workbench.config import ALL_STEPS, STEP_INPUTS, Config
from segment_workbench.io import artifacts

NOTEBOOKS = sorted(notebooks_dir().glob("*.ipynb"))


def test_every_step_has_a_notebook():
    assert [p.stem for p in NOTEBOOKS] == ALL_STEPS  # file order is run order
    assert ALL_STEPS[-1] == "07_owner_report"  # runs last, so it can report on every other step


def _code(step: str) -> str:
    nb = nbformat.read(notebook_path(step), as_version=4)
    return "\n".join(c.source for c in nb.cells if c.cell_type == "code")


def _named_in_calls(code: str, call: str) -> list[str]:
    """The artifact constants (``artifacts.NAME``) among the arguments of each call matching
    ``call``, however the call is wrapped over lines."""
    found = []
    for match in re.finditer(call, code):
        depth, end = 1, match.end()
        while depth and end < len(code):
            depth += {"(": 1, ")": -1}.get(code[end], 0)
            end += 1
        found += re.findall(r"artifacts\.([A-Z_]+)\b", code[match.end() : end])
    return found


def test_steps_that_run_side_by_side_never_share_an_artifact():
    """What each notebook reads (artifacts.read / exists / lines) was written by a step it waits for
    (STEP_INPUTS); steps that may run at the same time neither read nor write what the other
    writes. Artifacts are named by the constants in ``artifacts``; 01_collect's extra tables are
    named by the source."""
    assert set(STEP_INPUTS) == set(ALL_STEPS)
    names = {k: v for k, v in vars(artifacts).items() if k.isupper() and isinstance(v, str) and "." in v}
    reads = {
        s: {names[n] for n in _named_in_calls(_code(s), r"(?:read\w*|exists|lines)\(\s*run_dir")} for s in ALL_STEPS
    }
    reads = {
        s: names_read | ({artifacts.TRANSACTIONS} if "artifacts.lines(run_dir)" in _code(s) else set())
        for s, names_read in reads.items()
    }
    writes = {s: {names[n] for n in _named_in_calls(_code(s), r"artifacts\.write\w*\(")} for s in ALL_STEPS}
    for s in ALL_STEPS:  # files the engine writes itself, at paths the notebook names
        writes[s] |= {names[n] for n in re.findall(r"data_dir\(run_dir\) / artifacts\.([A-Z_]+)", _code(s))}
    writes["01_collect"] |= {"attributes.parquet", "survey.parquet", "ground_truth.parquet", "campaign.parquet"}
    for step in ALL_STEPS:  # the customer table and the run's metadata travel together
        if "artifacts.write_customers(" in _code(step):
            writes[step].add(artifacts.CUSTOMERS)
        if "artifacts.run_meta(run_dir)" in _code(step):
            reads[step].add(artifacts.CUSTOMERS)
    assert not re.findall(r'(?:read\w*|exists|write\w*)\(\s*run_dir, "', "".join(_code(s) for s in ALL_STEPS)), (
        "use the artifacts' constants"
    )
    before = {}  # every step a step waits for, directly or not
    for step in ALL_STEPS:
        assert all(ALL_STEPS.index(d) < ALL_STEPS.index(step) for d in STEP_INPUTS[step]), step
        before[step] = set(STEP_INPUTS[step]).union(*(before[d] for d in STEP_INPUTS[step]))
    assert before["07_owner_report"] == set(ALL_STEPS) - {"07_owner_report"}
    for step in ALL_STEPS:
        missing = reads[step] - writes[step] - set().union(*(writes[d] for d in before[step]))
        assert not missing, f"{step} reads {missing}, which no step it waits for writes"
        for other in ALL_STEPS:
            if other != step and other not in before[step] and step not in before[other]:
                shared = writes[other] & (reads[step] | writes[step])
                assert not shared, f"{step} and {other} run side by side and share {shared}"
    assert {"segments.parquet", "clv.parquet", "segment_kpis.csv"} <= set().union(*writes.values())


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
    assert set(params) - {"run_dir"} <= set(Config.model_fields), "parameters must be config keys"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_section_opens_with_a_paragraph(path):
    """A heading cell says what the section shows and how to read it, not just its title."""
    nb = nbformat.read(path, as_version=4)
    bare = [c.source for c in nb.cells if c.cell_type == "markdown" and len(c.source.splitlines()) < 2]
    assert not bare, f"{path.name}: sections without a paragraph: {bare}"
