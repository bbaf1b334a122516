"""environment.yml (conda) and pyproject.toml (pip) list the same dependencies and bounds."""

import re
import tomllib

import yaml
from support import REPO


def _normalize(spec: str) -> tuple[str, str]:
    spec = spec.split("#")[0].strip()
    name, bounds = re.match(r"([A-Za-z0-9_.\-]+)\s*(.*)", spec).groups()
    return re.sub(r"[-_.]+", "-", name.lower()), re.sub(
        r"^\[[^\]]*\]", "", bounds.replace(" ", "")
    )  # pip extras: no conda equivalent


def test_environment_yml_matches_pyproject():
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    pip_deps = dict(_normalize(d) for d in pyproject["dependencies"] + pyproject["optional-dependencies"]["dev"])
    env = yaml.safe_load((REPO / "environment.yml").read_text())
    conda = [d for d in env["dependencies"] if isinstance(d, str) and not d.startswith(("python", "pip"))]
    conda_deps = dict(_normalize(d) for d in conda)
    assert conda_deps == pip_deps
    assert {"pip": ["-e ."]} in env["dependencies"]


def test_the_package_says_the_version_pyproject_does():
    import segment_workbench

    assert segment_workbench.__version__ == tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
