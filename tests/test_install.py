"""The package outside this repository: a wheel built from the tree, installed on its own,
scaffolds a project folder with ``init`` and runs its example config there."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from support import REPO

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("runner")]


def _wheel(tmp_path: Path) -> Path:
    """A wheel built from a copy of the tree (a build in place would leave build/ behind)."""
    tree = tmp_path / "tree"
    for name in ("src", "notebooks"):
        shutil.copytree(
            REPO / name, tree / name, symlinks=True, ignore=shutil.ignore_patterns("*.egg-info", "__pycache__")
        )
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, tree / name)
    out = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(out), str(tree)],
        check=True,
        capture_output=True,
        text=True,
    )
    return next(out.glob("segment_workbench-*.whl"))


def test_wheel_installs_and_init_then_run_completes_a_demo_run(tmp_path):
    site = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--quiet", "--target", str(site), str(_wheel(tmp_path))],
        check=True,
        capture_output=True,
        text=True,
    )
    env = {**os.environ, "PYTHONPATH": str(site)}
    where = subprocess.run(
        [sys.executable, "-c", "import segment_workbench; print(segment_workbench.__file__)"],
        cwd=tmp_path,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    assert where.startswith(str(site)), "the installed wheel, not the source tree, must be imported"
    cli = [sys.executable, str(site / "bin" / "segment-workbench")]
    init = subprocess.run([*cli, "init", "my-shop"], cwd=tmp_path, env=env, check=True, capture_output=True, text=True)
    shop = tmp_path / "my-shop"
    assert "segment-workbench run configs/example.yaml" in init.stdout
    assert sorted(p.name for p in (shop / "notebooks").glob("*.ipynb")) == [
        "01_collect.ipynb",
        "02_clean.ipynb",
        "03_segment.ipynb",
        "04_cohorts.ipynb",
        "05_cltv.ipynb",
        "06_campaign.ipynb",
        "07_owner_report.ipynb",
    ]
    assert (shop / "data" / "raw").is_dir() and (shop / "configs" / "example.yaml").is_file()
    config = shop / "configs" / "example.yaml"  # a smaller shop keeps the test quick
    config.write_text(config.read_text().replace("n_customers: 3000", "n_customers: 300"))
    subprocess.run([*cli, "run", "configs/example.yaml"], cwd=shop, env=env, check=True, capture_output=True, text=True)
    run = json.loads((shop / "reports" / "example" / "run.json").read_text())
    assert run["status"] == "complete" and all(s["status"] == "complete" for s in run["steps"])
    assert len(run["steps"]) == 7 and (shop / "reports" / "example" / "owner_report.html").is_file()
    assert run["parameters"]["project_dir"] == str(shop.resolve())
    again = subprocess.run([*cli, "init", "my-shop"], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert again.returncode == 1 and "is not empty" in again.stderr  # never overwrites a project


def test_importing_the_models_pulls_in_no_runner_dependencies():
    code = (
        "import sys, segment_workbench.clv; from segment_workbench.clv import BetaGeoModel; "
        "import segment_workbench.viz.plots, segment_workbench.segmentation.pipeline; "
        "print([m for m in ('papermill', 'nbconvert', 'jinja2') if m in sys.modules])"
    )
    assert (
        subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout.strip() == "[]"
    )


def test_importing_the_plots_leaves_matplotlib_settings_alone():
    code = (
        "import matplotlib as mpl; before = dict(mpl.rcParams); import segment_workbench.viz.plots; "
        "print(before == dict(mpl.rcParams))"
    )
    assert (
        subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout.strip()
        == "True"
    )


def test_nothing_imports_the_old_package_name():
    sources = [
        *REPO.glob("src/**/*.py"),
        *REPO.glob("tests/*.py"),
        *REPO.glob("benchmarks/*.py"),
        *REPO.glob("notebooks/*.ipynb"),
    ]
    here = Path(__file__)
    assert not [
        str(p) for p in sources if p != here and ("from helpers" in p.read_text() or "import helpers" in p.read_text())
    ]
