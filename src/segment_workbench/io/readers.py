"""Readers for delimited text, Parquet, Excel and SQL sources: every value read as it is (typed later)."""

from __future__ import annotations

import os
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from segment_workbench.config import SourceConfig, _TableSource
from segment_workbench.customers import engine
from segment_workbench.errors import ConfigError, InputError
from segment_workbench.io import schema
from segment_workbench.io.detection import (
    DUCKDB_MEMORY_FACTOR,
    TEXT_MEMORY_FACTOR,
    TOO_LARGE_HINT,
    _is_gzip,
    _read_sample,
    check_memory,
    detect_delimiter,
    detect_encoding,
    existing_file,
)
from segment_workbench.io.dtypes import TEXT
from segment_workbench.io.mapping import _canonical, column_mapping
from segment_workbench.io.presets import PRESETS, Preset


def read_csv(path: Path, source: _TableSource, preset: Preset) -> pd.DataFrame:
    """Read a delimited text file as text columns (values are parsed later, per column).
    UTF-8 files are read by DuckDB into Arrow strings; other encodings and presets with
    their own read options by pandas."""
    if path.stat().st_size == 0:
        raise InputError("The file is empty.", file=str(path), hint="Export the orders again; the file has no bytes.")
    encoding = source.encoding or detect_encoding(path)
    sample = _read_sample(path, encoding)
    options = preset.options(sample) or {"sep": source.delimiter or detect_delimiter(sample)}
    by_duckdb = encoding.lower().replace("_", "-") in ("utf-8", "utf-8-sig", "utf8") and not preset.read_options
    check_memory(path, DUCKDB_MEMORY_FACTOR if by_duckdb else TEXT_MEMORY_FACTOR)
    try:
        df = (
            _duckdb_csv(path, options["sep"], encoding)
            if by_duckdb
            else pd.read_csv(path, dtype=str, keep_default_na=False, encoding=encoding, **options)
        )
    except pd.errors.EmptyDataError:
        raise InputError(
            "The file is empty.", file=str(path), hint="Export the orders again; the file has no rows."
        ) from None
    except (MemoryError, duckdb.OutOfMemoryException):
        raise InputError("The memory ran out while reading the file.", file=str(path), hint=TOO_LARGE_HINT) from None
    except (pd.errors.ParserError, UnicodeDecodeError, duckdb.Error) as exc:
        raise InputError(
            f"The file could not be read as delimited text: {str(exc).splitlines()[0]}",
            file=str(path),
            hint="Check source.delimiter and source.encoding in the config.",
        ) from None
    return df


def _duckdb_csv(path: Path, sep: str, encoding: str) -> pd.DataFrame:
    """Every field as text (missing as ""), in Arrow strings: a fraction of pandas' memory.
    Column names are pandas' (duplicates ``a.1``, blanks ``Unnamed: 3``), as for other files."""
    names = pd.read_csv(path, nrows=0, sep=sep, encoding=encoding).columns
    with duckdb.connect() as con:
        engine.no_progress_bar(con)
        table = con.read_csv(
            str(path),
            header=True,
            sep=sep,
            quotechar='"',
            escapechar='"',
            all_varchar=True,
            compression="gzip" if _is_gzip(path) else "none",
        ).to_arrow_table()
    if table.num_columns != len(names):
        raise InputError(
            f"The header has {len(names)} fields but the rows have {table.num_columns}.",
            file=str(path),
            hint="Check source.delimiter, and that the first line is the header.",
        )
    columns = {}
    for name, column in zip(names, table.columns, strict=True):
        columns[name] = pd.Series(pc.fill_null(column, ""), dtype=TEXT)
    return pd.DataFrame(columns, copy=False)


def read_parquet(path: Path) -> pd.DataFrame:
    """Read a Parquet file with its text columns as Arrow strings (``TEXT``): about a tenth of
    the memory of Python string objects, and no copy when they are parsed."""
    try:
        table = pq.read_table(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise InputError(
            f"The file could not be read as Parquet: {str(exc).splitlines()[0]}",
            file=str(path),
            hint="Check source.kind and source.path; write the file with pandas' to_parquet or pyarrow.",
        ) from None
    return table.to_pandas(types_mapper={pa.string(): TEXT, pa.large_string(): TEXT}.get)


def read_excel(path: Path, source: SourceConfig, preset: Preset) -> pd.DataFrame:
    """Read an Excel sheet as text columns. With ``source.sheet`` unset, the first sheet whose
    columns satisfy the contract (after mapping) is used, so data on a second sheet is found."""
    sheets = pd.read_excel(path, sheet_name=None, dtype=object)
    if not sheets:
        raise InputError("The workbook has no sheets.", file=str(path))
    wanted = source.sheet
    if wanted is not None:
        names = list(sheets)
        key = names[wanted] if isinstance(wanted, int) and wanted < len(names) else wanted
        if key not in sheets:
            raise InputError(
                f"Sheet {wanted!r} not found; the workbook has sheets {names}.",
                file=str(path),
                hint="Set source.sheet to one of those names.",
            )
        return sheets[key]
    for frame in sheets.values():
        if _has_contract(frame.columns, source, preset):
            return frame
    if len(sheets) > 1:
        raise InputError(
            f"No sheet of the workbook has the required columns; its sheets are {list(sheets)}.",
            file=str(path),
            column=", ".join(schema.REQUIRED),
            rows=pd.DataFrame(
                {"sheet": list(sheets), "columns": [", ".join(map(str, f.columns))[:60] for f in sheets.values()]}
            ),
            hint="Set source.sheet to the sheet with the orders and map its columns in source.columns.",
        )
    return next(iter(sheets.values()))


def _has_contract(columns: pd.Index, source: SourceConfig, preset: Preset) -> bool:
    mapped = column_mapping(source, preset)
    names = {_canonical(c) for c in columns}
    have = {c for c in schema.CONTRACT if _canonical(mapped.get(c, c)) in names}
    return set(schema.REQUIRED) <= have


def read_table(section: _TableSource, what: str, key: str, env_file: Path | None = None) -> tuple[pd.DataFrame, str]:
    """A side table (the customers file, the survey) as read, every value as text where the
    format has text, and a label naming it. ``what`` names it in messages ("customers file"),
    ``key`` is its config section."""
    if section.kind == "sql":
        return read_sql(section, env_file), f"sql via ${section.url_env}"
    if not section.path:
        raise ConfigError(f"A {section.kind} {what} needs {key}.path.")
    path = existing_file(section.path, what, f"{key}.path")
    if section.kind == "parquet":
        df = read_parquet(path)
    elif section.kind == "excel":
        sheets = pd.read_excel(path, sheet_name=None, dtype=object)
        names = list(sheets)
        wanted = section.sheet if section.sheet is not None else 0
        sheet = names[wanted] if isinstance(wanted, int) and wanted < len(names) else wanted
        if sheet not in sheets:
            raise InputError(f"Sheet {wanted!r} not found; the workbook has sheets {names}.", file=str(path))
        df = sheets[sheet]
    else:
        df = read_csv(path, section, PRESETS["generic"])
    if len(df) == 0:
        raise InputError(f"The {what} has a header but no data rows.", file=str(path))
    return df.reset_index(drop=True), str(path)


def dotenv(path: Path) -> dict[str, str]:
    """KEY=VALUE lines of a .env file (``#`` comments, optional quotes, optional ``export``)."""
    if not path.is_file():
        return {}
    values = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        key, sep, value = line.strip().removeprefix("export ").partition("=")
        if sep and key and not key.startswith("#"):
            values[key.strip()] = value.strip().strip("'\"")
    return values


def database_url(source: _TableSource, env_file: Path | None = None) -> str:
    """The SQLAlchemy URL of a sql source: from the environment variable named by
    ``source.url_env``, or from ``env_file`` (the project's git-ignored ``.env``). Never printed
    or stored."""
    env = source.url_env
    if not env or not source.query:
        raise ConfigError(
            "A sql source needs source.url_env (name of an environment variable "
            "holding the database URL) and source.query."
        )
    url = os.environ.get(env) or (dotenv(env_file) if env_file else {}).get(env)
    if not url:
        raise ConfigError(
            f"Environment variable {env} is not set. Put the database URL in it "
            f"(e.g. export {env}=postgresql+psycopg://user:password@host/db) or in the "
            f"project's .env file (git-ignored) as {env}=..."
        )
    return url


def query_failed(exc: Exception, url: str, env: str) -> InputError:
    """The error for a failed query, with the URL (and its password) replaced by ``$env``."""
    message = str(getattr(exc, "orig", None) or exc).replace(url, f"${env}")
    return InputError(
        f"The database query failed: {message.strip()}",
        file=f"sql via ${env}",
        hint="Check source.query and that the database is reachable.",
    )


def read_sql(source: _TableSource, env_file: Path | None = None) -> pd.DataFrame:
    """Run ``source.query`` against the database at ``database_url``."""
    import sqlalchemy

    url, env, query = database_url(source, env_file), source.url_env, source.query
    engine = sqlalchemy.create_engine(url)
    try:
        with engine.connect() as conn:
            return pd.read_sql_query(sqlalchemy.text(query), conn)
    except sqlalchemy.exc.SQLAlchemyError as exc:
        raise query_failed(exc, url, env) from None
    finally:
        engine.dispose()
