"""The documentation: the README stays a front door, the reference builds offline with
--strict, and every config key is documented."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import BaseModel
from support import REPO

from segment_workbench.config import Config


def test_readme_is_a_front_door():
    lines = (REPO / "README.md").read_text().splitlines()
    assert len(lines) <= 250
    text = "\n".join(lines)
    for must in ("make report", "make test", "segment-workbench init", "owner_report.png", "docs/configuration.md"):
        assert must in text


def test_docs_build_offline_with_strict(tmp_path):
    mkdocs = Path(sys.executable).with_name("mkdocs")
    if not mkdocs.exists():
        pytest.skip("mkdocs is not installed (pip install -e .[dev])")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    done = subprocess.run(
        [str(mkdocs), "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "site" / "configuration.html").is_file()
    assert "fonts.googleapis" not in (tmp_path / "site" / "index.html").read_text()


def _keys(model: type[BaseModel], prefix: str = "") -> list[str]:
    keys = []
    for name, field in model.model_fields.items():
        if isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel):
            keys += _keys(field.annotation, f"{name}.")
        else:
            keys.append(prefix + name)
    return keys


def test_every_config_key_is_documented():
    page = (REPO / "docs" / "configuration.md").read_text()
    assert [k for k in _keys(Config) if f"`{k}`" not in page] == []
