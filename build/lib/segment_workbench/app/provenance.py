"""What identifies a run: the input's fingerprint and the versions of Python and the packages."""

from __future__ import annotations

import hashlib
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

from segment_workbench.config import SourceConfig

VERSIONED_PACKAGES = [
    "segment-workbench",
    "pandas",
    "numpy",
    "scipy",
    "scikit-learn",
    "lifelines",
    "matplotlib",
    "seaborn",
    "pyarrow",
    "duckdb",
    "ibis-framework",
    "papermill",
    "nbconvert",
    "pandera",
    "sqlalchemy",
]


def sha256_file(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def input_fingerprint(source: SourceConfig) -> dict[str, Any]:
    """What identifies the input: a file's sha256 and size, or the synthetic seed, or the query."""
    if source.kind == "synthetic":
        return {"kind": "synthetic", "seed": source.seed, "n_customers": source.n_customers}
    if source.kind == "sql":
        return {
            "kind": "sql",
            "url_env": source.url_env,
            "query_sha256": hashlib.sha256(str(source.query).encode()).hexdigest(),
        }
    path = Path(str(source.path))
    if not path.is_file():
        return {"kind": source.kind, "path": str(path), "missing": True}
    return {"kind": source.kind, "path": str(path), "sha256": sha256_file(path), "bytes": path.stat().st_size}


def package_versions(names: list[str] = VERSIONED_PACKAGES) -> dict[str, str]:
    """Python's version and each installed package's ("not installed" when missing)."""
    versions = {"python": sys.version.split()[0]}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions
