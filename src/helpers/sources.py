"""Loading order data from files, databases or the synthetic demo, mapped to the contract.

``collect(source)`` is the entry point used by 01_collect: it reads the source described by
the config's ``source`` section, maps its columns to the transaction contract (see
``helpers.schema``), parses the values and splits personal data off into a contacts table.
Every row read is kept (parsing failures become NaN/NaT and are removed, with a logged
reason, by the cleaning step). ``source_row`` is the 1-based record number in the source.
"""

from __future__ import annotations

import codecs
import csv
import difflib
import gzip
import hashlib
import io
import os
import re
import resource
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from helpers import engine, schema, synthetic
from helpers.dtypes import TEXT
from helpers.campaign_file import parse_campaign, read_campaign_file
from helpers.errors import ConfigError, InputError
from helpers.config import PROJECT_ROOT

CSV_DELIMITERS = [",", ";", "\t", "|"]
_SAMPLE_BYTES = 64 * 1024


@dataclass(frozen=True)
class Preset:
    """How a known export maps to the contract: ``columns`` maps contract name -> export column."""

    columns: dict[str, str]
    read_options: dict[str, Any] = field(default_factory=dict)
    date_format: str | None = None
    prepare: Callable[[pd.DataFrame], pd.DataFrame] | None = None


def pseudonymize(values: pd.Series, prefix: str = "c_") -> pd.Series:
    """A stable, non-reversible id from a personal key (e.g. e-mail): sha256 of the trimmed,
    lower-cased value, first 12 hex digits. Missing stays missing."""
    text = values.astype("string").str.strip().str.lower()
    hashed = text.dropna().map(lambda v: prefix + hashlib.sha256(v.encode()).hexdigest()[:12])
    return hashed.reindex(values.index).astype("string")


_SHOPIFY_ORDER_LEVEL = ["Email", "Financial Status", "Created at", "Accepts Marketing",
                        "Billing City", "Billing Country", "Source"]


def _prepare_shopify(df: pd.DataFrame) -> pd.DataFrame:
    """Shopify fills order-level fields on an order's first line only: carry them to the
    other lines of the same order, and derive a pseudonymous customer id from the e-mail
    (the export has no customer id column)."""
    df = df.copy()
    present = [c for c in _SHOPIFY_ORDER_LEVEL if c in df]
    df[present] = df[present].replace("", pd.NA)
    df[present] = df.groupby("Name", sort=False)[present].ffill()
    if "Email" in df:
        df["customer_id"] = pseudonymize(df["Email"])
    return df


PRESETS: dict[str, Preset] = {
    "generic": Preset(columns={}),
    "uci_online_retail": Preset(
        columns={
            "order_id": "InvoiceNo",
            "product_id": "StockCode",
            "product_name": "Description",
            "quantity": "Quantity",
            "order_date": "InvoiceDate",
            "unit_price": "UnitPrice",
            "customer_id": "CustomerID",
            "country": "Country",
        },
    ),
    "cdnow": Preset(
        # Fader & Hardie's CDNOW files: no header, whitespace-separated fixed-width fields.
        columns={"customer_id": "sample_id", "order_date": "date", "quantity": "cds", "amount": "dollars"},
        read_options={
            "sep": r"\s+",
            "header": None,
            "names": ["original_id", "sample_id", "date", "cds", "dollars"],
            "engine": "python",
        },
        date_format="%Y%m%d",
        # One record is one purchase: the order id is the record itself.
        prepare=lambda df: df.assign(order_id=df["sample_id"].astype(str) + "-" + df["source_row"].astype(str)),
    ),
    "shopify_orders": Preset(
        columns={
            "order_id": "Name",
            "order_date": "Created at",
            "quantity": "Lineitem quantity",
            "unit_price": "Lineitem price",
            "product_name": "Lineitem name",
            "product_id": "Lineitem sku",
            "discount": "Lineitem discount",
            "status": "Financial Status",
            "country": "Billing Country",
            "city": "Billing City",
            "channel": "Source",
            "email": "Email",
            "consent": "Accepts Marketing",
        },
        prepare=_prepare_shopify,
    ),
}


def _is_gzip(path: Path) -> bool:
    with open(path, "rb") as f:
        return f.read(2) == b"\x1f\x8b"


def _open_binary(path: Path) -> io.BufferedIOBase:
    return gzip.open(path, "rb") if _is_gzip(path) else open(path, "rb")


def detect_encoding(path: Path) -> str:
    """``utf-8-sig`` (BOM), ``utf-16`` (BOM), ``utf-8`` if the whole file decodes as UTF-8,
    else ``cp1252`` (Windows exports) if it decodes as that, else ``latin-1``."""
    with _open_binary(path) as f:
        head = f.read(4)
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    for encoding in ("utf-8", "cp1252"):
        decoder = codecs.getincrementaldecoder(encoding)()
        try:
            with _open_binary(path) as f:
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    decoder.decode(chunk)
                decoder.decode(b"", final=True)
            return encoding
        except UnicodeDecodeError:
            continue
    return "latin-1"


def detect_delimiter(sample: str) -> str:
    """The candidate delimiter that splits the first lines into the most consistent number
    (> 1) of fields, quotes respected. Falls back to ``,``."""
    lines = sample.splitlines()[:50]
    if len(lines) > 1 and not sample.endswith(("\n", "\r")):
        lines = lines[:-1]  # the last line of the sample may be cut
    best, best_score = ",", (0.0, 0)
    for delim in CSV_DELIMITERS:
        counts = [len(r) for r in csv.reader(lines, delimiter=delim) if r]
        if not counts or counts[0] <= 1:
            continue
        score = (sum(c == counts[0] for c in counts) / len(counts), counts[0])
        if score > best_score:
            best, best_score = delim, score
    return best


def _read_sample(path: Path, encoding: str) -> str:
    with _open_binary(path) as f:
        raw = f.read(_SAMPLE_BYTES)
    return raw.decode(encoding, errors="replace")


#: Peak memory of 01_collect per byte of CSV read as text and typed, by pandas (12.2
#: measured on a 0.3 GB file in benchmarks/bench_large_file.py, rounded up) and by DuckDB (8.8);
#: gzip files are assumed to expand 5 times.
TEXT_MEMORY_FACTOR = 13
DUCKDB_MEMORY_FACTOR = 9
GZIP_EXPANSION = 5


def available_memory() -> int:
    """Bytes this process can still allocate: the machine's available memory (Linux
    MemAvailable), or less when an address-space limit (``ulimit -v``) is set."""
    available = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES")
    meminfo = Path("/proc/meminfo")
    if meminfo.is_file():
        found = re.search(r"MemAvailable:\s+(\d+) kB", meminfo.read_text())
        available = int(found.group(1)) * 1024 if found else available
    limit = resource.getrlimit(resource.RLIMIT_AS)[0]
    status = Path("/proc/self/status")
    if limit != resource.RLIM_INFINITY and status.is_file():
        used = int(re.search(r"VmSize:\s+(\d+) kB", status.read_text()).group(1)) * 1024
        available = min(available, limit - used)
    return max(available, 0)


TOO_LARGE_HINT = ("Load the orders into a database and use a sql source whose query selects the period and columns "
                  "you need, export a shorter period, or run on a machine with more memory. The customer table and "
                  "cohorts can be computed from the file without loading it (README: 'Data larger than memory').")


def check_memory(path: Path, factor: float = TEXT_MEMORY_FACTOR) -> None:
    """Refuse, with a clear message, a file too large to read in the memory available (never an
    out-of-memory crash halfway); ``factor``: peak memory per byte of text."""
    size = path.stat().st_size * (GZIP_EXPANSION if _is_gzip(path) else 1)
    need, free = size * factor, available_memory()
    if need > free:
        raise InputError(
            f"The file is too large to read here: {size / 1e9:.2f} GB of text needs about {need / 1e9:.1f} GB of memory "
            f"and {free / 1e9:.1f} GB are available.",
            file=str(path),
            hint=TOO_LARGE_HINT)


def read_csv(path: Path, source: dict[str, Any], preset: Preset) -> pd.DataFrame:
    """Read a delimited text file as text columns (values are parsed later, per column).
    UTF-8 files are read by DuckDB into Arrow strings; other encodings and presets with
    their own read options by pandas."""
    if path.stat().st_size == 0:
        raise InputError("The file is empty.", file=str(path), hint="Export the orders again; the file has no bytes.")
    encoding = source.get("encoding") or detect_encoding(path)
    options = preset.read_options or {"sep": source.get("delimiter") or detect_delimiter(_read_sample(path, encoding))}
    by_duckdb = encoding.lower().replace("_", "-") in ("utf-8", "utf-8-sig", "utf8") and not preset.read_options
    check_memory(path, DUCKDB_MEMORY_FACTOR if by_duckdb else TEXT_MEMORY_FACTOR)
    try:
        df = _duckdb_csv(path, options["sep"], encoding) if by_duckdb else \
            pd.read_csv(path, dtype=str, keep_default_na=False, encoding=encoding, **options)
    except pd.errors.EmptyDataError:
        raise InputError("The file is empty.", file=str(path), hint="Export the orders again; the file has no rows.") from None
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
        table = con.read_csv(str(path), header=True, sep=sep, quotechar='"', escapechar='"', all_varchar=True,
                             compression="gzip" if _is_gzip(path) else "none").to_arrow_table()
    if table.num_columns != len(names):
        raise InputError(f"The header has {len(names)} fields but the rows have {table.num_columns}.", file=str(path),
                         hint="Check source.delimiter, and that the first line is the header.")
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
        raise InputError(f"The file could not be read as Parquet: {str(exc).splitlines()[0]}", file=str(path),
                         hint="Check source.kind and source.path; write the file with pandas' to_parquet or pyarrow.") from None
    return table.to_pandas(types_mapper={pa.string(): TEXT, pa.large_string(): TEXT}.get)


def read_excel(path: Path, source: dict[str, Any], preset: Preset) -> pd.DataFrame:
    """Read an Excel sheet as text columns. With ``source.sheet`` unset, the first sheet whose
    columns satisfy the contract (after mapping) is used, so data on a second sheet is found."""
    sheets = pd.read_excel(path, sheet_name=None, dtype=object)
    if not sheets:
        raise InputError("The workbook has no sheets.", file=str(path))
    wanted = source.get("sheet")
    if wanted is not None:
        names = list(sheets)
        key = names[wanted] if isinstance(wanted, int) and wanted < len(names) else wanted
        if key not in sheets:
            raise InputError(f"Sheet {wanted!r} not found; the workbook has sheets {names}.",
                             file=str(path), hint="Set source.sheet to one of those names.")
        return sheets[key]
    for frame in sheets.values():
        if _has_contract(frame.columns, source, preset):
            return frame
    if len(sheets) > 1:
        raise InputError(f"No sheet of the workbook has the required columns; its sheets are {list(sheets)}.",
                         file=str(path), column=", ".join(schema.REQUIRED),
                         rows=pd.DataFrame({"sheet": list(sheets), "columns": [", ".join(map(str, f.columns))[:60] for f in sheets.values()]}),
                         hint="Set source.sheet to the sheet with the orders and map its columns in source.columns.")
    return next(iter(sheets.values()))


def _has_contract(columns: pd.Index, source: dict[str, Any], preset: Preset) -> bool:
    mapped = _mapping(source, preset)
    names = {_canonical(c) for c in columns}
    have = {c for c in schema.CONTRACT if _canonical(mapped.get(c, c)) in names}
    return set(schema.REQUIRED) <= have and bool(have & set(schema.PRICE_COLUMNS))


def _dotenv(path: Path) -> dict[str, str]:
    """KEY=VALUE lines of a .env file (``#`` comments, optional quotes, optional ``export``)."""
    if not path.is_file():
        return {}
    values = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        key, sep, value = line.strip().removeprefix("export ").partition("=")
        if sep and key and not key.startswith("#"):
            values[key.strip()] = value.strip().strip("'\"")
    return values


def read_sql(source: dict[str, Any]) -> pd.DataFrame:
    """Run ``source.query`` against the database whose SQLAlchemy URL is in the environment
    variable named by ``source.url_env`` (or in the project's git-ignored ``.env`` file). The URL
    is never printed or stored."""
    import sqlalchemy

    env = source.get("url_env")
    query = source.get("query")
    if not env or not query:
        raise ConfigError("A sql source needs source.url_env (name of an environment variable "
                          "holding the database URL) and source.query.")
    url = os.environ.get(env) or _dotenv(PROJECT_ROOT / ".env").get(env)
    if not url:
        raise ConfigError(f"Environment variable {env} is not set. Put the database URL in it "
                          f"(e.g. export {env}=postgresql+psycopg://user:password@host/db) or in the "
                          f"project's .env file (git-ignored) as {env}=...")
    engine = sqlalchemy.create_engine(url)
    try:
        with engine.connect() as conn:
            return pd.read_sql_query(sqlalchemy.text(query), conn)
    except sqlalchemy.exc.SQLAlchemyError as exc:
        message = str(exc.orig if getattr(exc, "orig", None) else exc).replace(url, f"${env}")
        raise InputError(f"The database query failed: {message.strip()}", file=f"sql via ${env}",
                         hint="Check source.query and that the database is reachable.") from None
    finally:
        engine.dispose()


def _canonical(name: Any) -> str:
    return re.sub(r"[\s_\-]+", "_", str(name).strip().lower())


def _mapping(source: dict[str, Any], preset: Preset) -> dict[str, str]:
    mapping = dict(preset.columns)
    mapping.update(source.get("columns") or {})
    return mapping


def map_columns(df: pd.DataFrame, source: dict[str, Any], preset: Preset, file: str) -> pd.DataFrame:
    """Rename the source's columns to contract names and keep only contract columns.

    A contract column is taken from the column the mapping names, or else from a column with
    the contract name itself (matched ignoring case, spaces, ``-`` and ``_``).
    """
    mapping = _mapping(source, preset)
    by_canonical = {_canonical(c): c for c in df.columns}
    out = pd.DataFrame({"source_row": df["source_row"]})
    for contract_col in schema.CONTRACT:
        wanted = mapping.get(contract_col, contract_col)
        found = wanted if wanted in df.columns else by_canonical.get(_canonical(wanted))
        if found is not None:
            out[contract_col] = df[found]
            out.attrs.setdefault("source_columns", {})[contract_col] = str(found)
        elif contract_col in mapping and source.get("columns", {}).get(contract_col):
            raise InputError(
                f"The config maps {contract_col} to column '{wanted}', which the file does not have.",
                file=file, column=wanted,
                hint=f"The file's columns are {list(df.columns)}.{_close(wanted, df.columns)}",
            )
    missing = [c for c in schema.REQUIRED if c not in out]
    if not any(c in out for c in schema.PRICE_COLUMNS):
        missing.append("unit_price or amount")
    if missing:
        available = [c for c in df.columns if c != "source_row"]
        suggestions = "".join(f" For {c}:{_close(mapping.get(c, c), df.columns)}" for c in missing
                              if _close(mapping.get(c, c), df.columns))
        raise InputError(
            f"Required column(s) missing: {', '.join(missing)}.",
            file=file,
            column=", ".join(missing),
            rows=df[available].head(3),
            hint=(f"The file has the columns {available}.{suggestions} Map your column names in the config "
                  "(source.columns: {customer_id: YourColumn, ...}) or choose a preset "
                  "(uci_online_retail, cdnow, shopify_orders)."),
        )
    return out


def _close(name: str, columns: pd.Index) -> str:
    match = difflib.get_close_matches(str(name), [str(c) for c in columns], n=1, cutoff=0.6)
    return f" Did you mean '{match[0]}'?" if match else ""


@dataclass
class Collected:
    """What 01_collect writes: typed transactions (no personal data), contacts, extras, and how
    many customers and order lines the exclusion list kept out."""

    transactions: pd.DataFrame
    contacts: pd.DataFrame
    file: str
    extras: dict[str, pd.DataFrame] = field(default_factory=dict)
    excluded_customers: int = 0
    excluded_lines: int = 0


def read_exclusions(path: str | Path) -> tuple[set[str], set[str]]:
    """Customer ids and e-mail addresses (lower-cased) from an exclusion list: a CSV with a
    ``customer_id`` and/or an ``email`` column (opt-outs, requests to be forgotten)."""
    path = Path(path)
    if not path.is_file():
        raise InputError("The exclusion list does not exist.", file=str(path),
                         hint="Check source.exclusions; relative paths are read from the config file's folder.")
    table = pd.read_csv(path, dtype=str, sep=None, engine="python", encoding="utf-8-sig")
    table.columns = [_canonical(c) for c in table.columns]
    if "customer_id" not in table and "email" not in table:
        raise InputError("The exclusion list has neither a customer_id nor an email column.", file=str(path),
                         column="customer_id", rows=table.head(3), hint="Name the column customer_id (or email) in the first line.")
    ids = set(schema.normalize_ids(table["customer_id"]).dropna()) if "customer_id" in table else set()
    emails = set(table["email"].dropna().str.strip().str.lower()) if "email" in table else set()
    return ids, emails


def apply_exclusions(typed: pd.DataFrame, extras: dict[str, pd.DataFrame], path: str | Path) -> tuple[pd.DataFrame, dict[str, pd.DataFrame], int, int]:
    """Drop every line and extra row of the customers on the exclusion list (matched by id or
    e-mail): they reach no artifact. Returns the tables, customers excluded, lines excluded."""
    ids, emails = read_exclusions(path)
    if emails and "email" in typed:
        ids |= set(typed.loc[typed["email"].str.strip().str.lower().isin(emails), "customer_id"].dropna())
    drop = typed["customer_id"].isin(ids)
    customers = int(typed.loc[drop, "customer_id"].nunique())
    kept_extras = {name: t[~t["customer_id"].isin(ids)].reset_index(drop=True) if "customer_id" in t else t for name, t in extras.items()}
    return typed[~drop].reset_index(drop=True), kept_extras, customers, int(drop.sum())


def read_source(source: dict[str, Any]) -> tuple[pd.DataFrame, str, dict[str, pd.DataFrame]]:
    """The source's rows as read (column names as in the source), a label naming the file,
    and extra tables (the synthetic demo's customers, survey and ground truth)."""
    kind = source.get("kind", "synthetic")
    preset = _preset(source)
    extras: dict[str, pd.DataFrame] = {}
    if kind == "synthetic":
        demo = synthetic.generate(n_customers=int(source.get("n_customers", 3000)), seed=int(source.get("seed", 42)))
        df, label = demo.transactions, f"synthetic demo (seed {source.get('seed', 42)})"
        # Names and e-mails are not needed by any analysis: dropped here (data minimization);
        # e-mail and consent reach the contacts table from the order lines.
        attributes = demo.attributes.drop(columns=["name", "email", "consent"])
        extras = {"attributes": attributes, "survey": demo.survey, "ground_truth": demo.ground_truth,
                  "campaign": parse_campaign(demo.campaign, label)}
    elif kind == "sql":
        df, label = read_sql(source), f"sql via ${source.get('url_env')}"
    else:
        if not source.get("path"):
            raise ConfigError(f"A {kind} source needs source.path.")
        path = Path(source["path"])
        if not path.is_file():
            raise InputError("The input file does not exist.", file=str(path),
                             hint="Check source.path; relative paths are read from the config file's folder.")
        label = str(path)
        readers = {"csv": read_csv, "excel": read_excel}
        if kind in readers:
            df = readers[kind](path, source, preset)
        elif kind == "parquet":
            df = read_parquet(path)
        else:
            raise ConfigError(f"Unknown source.kind {kind!r}; use csv, excel, parquet, sql or synthetic.")
    if len(df) == 0:
        raise InputError("The source has a header but no data rows.", file=label,
                         hint="Export the orders again, or check the query/sheet.")
    df = df.reset_index(drop=True)
    df.insert(0, "source_row", pd.RangeIndex(1, len(df) + 1))
    return df, label, extras


def _preset(source: dict[str, Any]) -> Preset:
    name = source.get("preset") or "generic"
    if name not in PRESETS:
        raise ConfigError(f"Unknown source.preset {name!r}.{_close(name, pd.Index(list(PRESETS)))} "
                          f"Presets: {', '.join(PRESETS)}.")
    return PRESETS[name]


def collect(source: dict[str, Any], campaign_path: str | Path | None = None) -> Collected:
    """Read, map and type the source (and the campaign file, when given); personal data goes to
    ``contacts`` (one row per customer: latest e-mail and consent seen), never into the
    transactions; customers on ``source.exclusions`` are dropped from everything."""
    typed, label, extras, source_columns = _typed_source(source)
    if campaign_path:
        extras["campaign"] = read_campaign_file(campaign_path)
    excluded = (0, 0)
    if source.get("exclusions"):
        typed, extras, *excluded = apply_exclusions(typed, extras, source["exclusions"])
    contacts = contacts_table(typed)
    transactions = typed.drop(columns=[c for c in schema.PII + ["consent"] if c in typed])
    transactions.attrs["source_columns"] = source_columns  # for the repeated_header rule
    return Collected(transactions=transactions, contacts=contacts, file=label, extras=extras,
                     excluded_customers=excluded[0], excluded_lines=excluded[1])


def _typed_source(source: dict[str, Any]) -> tuple[pd.DataFrame, str, dict[str, pd.DataFrame], dict]:
    """The source read, mapped and typed; its text as read is freed column by column as it is
    typed (at 10M lines it is as large as the typed table)."""
    df, label, extras = read_source(source)
    preset = _preset(source)
    if preset.prepare is not None:
        df = preset.prepare(df)
    mapped = map_columns(df, source, preset, label)
    del df  # the mapped columns are its only holders now
    source_columns = mapped.attrs.get("source_columns", {})
    typed = schema.coerce_types(mapped, label, decimal=source.get("decimal"),
                                date_format=source.get("date_format") or preset.date_format,
                                dayfirst=source.get("dayfirst"), consume=True)
    return typed, label, extras, source_columns


def contacts_table(typed: pd.DataFrame) -> pd.DataFrame:
    """customer_id, email, consent: the latest non-missing value seen per customer (latest by
    order date, then source row; lines without a date count as the latest). Customers sorted
    by id. Works on positions, so no text column is copied (at 10M lines that is gigabytes)."""
    cols = [c for c in ("email", "consent") if c in typed]
    codes, customers = pd.factorize(typed["customer_id"], sort=True)  # -1: no customer id
    order = np.lexsort((typed["source_row"].to_numpy(), typed["order_date"].to_numpy()))  # NaT last
    order = order[codes[order] >= 0]
    if not cols:  # in order of first purchase
        return pd.DataFrame({"customer_id": customers.take(pd.unique(codes[order]))})
    contacts = pd.DataFrame({"customer_id": customers})
    for column in cols:
        values = typed[column]
        seen = order[values.notna().to_numpy()[order]]
        latest = pd.Series(seen).groupby(codes[seen]).last()  # the row of each customer's latest value
        out = pd.Series(pd.NA, index=range(len(customers)), dtype=values.dtype)
        out.iloc[latest.index.to_numpy()] = values.iloc[latest.to_numpy()].to_numpy()
        contacts[column] = out.array
    if "consent" not in contacts:
        contacts["consent"] = pd.array([pd.NA] * len(contacts), dtype="boolean")
    return contacts
