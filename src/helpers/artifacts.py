"""Reading and writing a run's artifacts: ``<run_dir>/data/<name>.parquet|csv``.

Notebooks never build paths themselves; they ask for an artifact by name, so each step
reads exactly what the earlier steps wrote.
"""

from __future__ import annotations

from pathlib import Path

import joblib
import pandas as pd
import pyarrow.parquet as pq

from helpers.errors import InputError


def data_dir(run_dir: str | Path) -> Path:
    path = Path(run_dir) / "data"
    path.mkdir(parents=True, exist_ok=True)
    return path


def write(df: pd.DataFrame, run_dir: str | Path, name: str) -> Path:
    """Write ``name`` (``x.parquet`` or ``x.csv``) into the run's data folder; attrs are kept in parquet."""
    path = data_dir(run_dir) / name
    if path.suffix == ".parquet":
        df.to_parquet(path, index=False)
    elif path.suffix == ".csv":
        df.to_csv(path, index=False)
    else:
        raise ValueError(f"Unsupported artifact type: {name}")
    return path


def exists(run_dir: str | Path, name: str) -> bool:
    return (Path(run_dir) / "data" / name).is_file()


def _existing(run_dir: str | Path, name: str) -> Path:
    """The artifact's path; a clear error says which step to run first when it is missing."""
    path = Path(run_dir) / "data" / name
    if not path.is_file():
        raise InputError(
            f"Artifact {name} is missing in {path.parent}.",
            file=str(path),
            hint="Run the earlier steps first (workbench run CONFIG, or the notebooks in order "
            "with the same run_dir).",
        )
    return path


def read(run_dir: str | Path, name: str, columns: list[str] | None = None) -> pd.DataFrame:
    """Read an artifact written by an earlier step; text columns of Parquet files come back as
    Arrow-backed strings (``dtypes.TEXT``), as they were written. ``columns``: read only those
    of a Parquet file's columns that it has (the rest is never loaded)."""
    path = _existing(run_dir, name)
    if path.suffix != ".parquet":
        return pd.read_csv(path)
    if columns is not None:
        present = set(pq.read_schema(path).names)
        columns = [c for c in columns if c in present]
    with pd.option_context("mode.string_storage", "pyarrow"):
        return pd.read_parquet(path, columns=columns)


def write_model(model: object, run_dir: str | Path, name: str) -> Path:
    """Save a fitted model (``x.joblib``) for later steps of the same run and environment."""
    path = data_dir(run_dir) / name
    joblib.dump(model, path)
    return path


def read_model(run_dir: str | Path, name: str) -> object:
    """A model saved by an earlier step."""
    return joblib.load(_existing(run_dir, name))
