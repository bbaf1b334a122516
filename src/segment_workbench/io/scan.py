"""01_collect for a file too large to hold as a frame: the source is mapped and typed by ibis
expressions the engine runs while it scans the file, and written to raw.parquet from there, so no
order line passes through pandas. Only the distinct values of a text column that are not written
plainly (``£1,234.50``, ``15 March 2024``) go to Python, to the same parsers as the frame path,
and come back as a lookup table joined in the engine.

Used for Parquet sources past ``ENGINE_ROWS`` lines (``source.engine: auto``) or always
(``source.engine: engine``); CSV files, Excel sheets, presets with their own reading steps and
SQL sources take the frame path.
"""

from __future__ import annotations

from pathlib import Path

import ibis
import ibis.expr.datatypes as dt
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from segment_workbench.config import SourceConfig
from segment_workbench.customers import engine
from segment_workbench.errors import InputError
from segment_workbench.io import schema
from segment_workbench.io.contacts import read_exclusions
from segment_workbench.io.detection import existing_file
from segment_workbench.io.dtypes import TEXT
from segment_workbench.io.mapping import map_columns
from segment_workbench.io.readers import database_url, query_failed

#: Parquet sources with more lines than this are collected by the engine (``source.engine: auto``).
ENGINE_ROWS = 5_000_000
_TOKENS = sorted(schema._MISSING_TOKENS - {""})


def wanted(source: SourceConfig, env_file: Path | None = None) -> bool:
    """Whether ``source`` is collected by the engine: a PostgreSQL query always (its lines stay
    in the database), a Parquet file past ``ENGINE_ROWS`` lines (``source.engine: auto``)."""
    if source.level != "lines" or source.engine == "frame" or source.kind not in ("parquet", "sql"):
        return False
    if source.kind == "sql":
        return database_url(source, env_file).startswith("postgresql")
    path = existing_file(source.path, "input file", "source.path")
    try:
        return source.engine == "engine" or pq.ParquetFile(path).metadata.num_rows > ENGINE_ROWS
    except (pa.ArrowInvalid, OSError):  # not Parquet: the frame path's reader says so clearly
        return False


def _source_table(source: SourceConfig, env_file: Path | None) -> tuple[ibis.Table, ibis.Value, str]:
    """The source as the engine sees it, its record numbers (1-based: the file's row numbers, or
    the query's row order) and a label naming it."""
    if source.kind == "parquet":
        path = existing_file(source.path, "input file", "source.path")
        table = engine.read_parquet(path, file_row_number=True)
        return table, table.file_row_number + 1, str(path)
    url = database_url(source, env_file)
    try:
        table = engine.connect_database(url).sql(source.query)
    except Exception as exc:  # the driver's own error, reworded without the URL
        raise query_failed(exc, url, source.url_env) from None
    return table, ibis.row_number().over() + 1, f"sql via ${source.url_env}"


def typed_lines(
    source: SourceConfig, preset, env_file: Path | None = None
) -> tuple[ibis.Table, dict[str, str], str, list[str], str]:
    """The source as typed contract columns (an ibis expression over the file or the query,
    nothing read yet), the source's name of each contract column, the value unit (``currency``
    or ``visits``), a sentence per derived column (as ``schema.complete_orders`` says them) and
    the source's label."""
    table, source_row, label = _source_table(source, env_file)
    if preset.prepare is not None:
        raise InputError(
            f"The {source.preset} preset reshapes its export in pandas, which the engine does not.",
            file=label,
            hint="Set source.engine: frame, or name the columns as the contract does and use the generic preset.",
        )
    head = table.limit(3).execute().drop(columns="file_row_number", errors="ignore")
    _, source_columns = map_columns(head.assign(source_row=range(1, len(head) + 1)), source, preset, label)
    typed, parsers = {"source_row": source_row}, {}
    for column, name in source_columns.items():
        value = table[name]
        if value.type().is_string() and column == "order_date":
            parsers[column] = (_DATE, lambda text: schema.parse_dates(text, source.date_format, source.dayfirst, label))
        elif value.type().is_string() and column in schema.NUMERIC:
            parsers[column] = (_NUMBER, lambda text: schema.parse_numbers(text, source.decimal))
        typed[column] = _text(value) if column in parsers else _typed(value, column)
    t = table.select(**typed)
    for column, (kind, parse) in parsers.items():
        t = _parsed(t, column, kind, parse)
    t, value_unit, notes = _complete(t, source)
    return t, source_columns, value_unit, notes, label


def _text(value: ibis.Value) -> ibis.StringValue:
    """Trimmed text, the usual missing-value tokens (and "") as null. The tokens are looked up
    only in text as short as they are: DuckDB makes the lookup a join, which on every value of
    every column took most of a scan's time."""
    text = value.cast("string").strip()
    missing = ibis.ifelse(text.isin(["", *_TOKENS]), ibis.null("string"), text)
    return ibis.ifelse(text.length() <= max(map(len, _TOKENS)), missing, text)


def _typed(value: ibis.Column, column: str) -> ibis.Value:
    """A column the engine types on its own: ids, typed dates and numbers, flags, text."""
    kind = value.type()
    if column in ("customer_id", "order_id", "product_id"):
        if kind.is_floating():  # 12345.0 written by Excel/pandas -> "12345"
            return ibis.ifelse(value == value.round(), value.cast("int64").cast("string"), value.cast("string"))
        text = _text(value)  # the pattern only where it may match: it costs as much as the scan
        return ibis.ifelse(text.contains("."), text.re_replace(r"^(\d+)\.0+$", r"\1"), text)
    if column == "order_date":
        return value.cast(_DATE[1])
    if column in schema.NUMERIC:
        return value.cast("float64")
    if column == "consent":
        text = _text(value).lower()
        return ibis.cases(
            (text.isin(["yes", "y", "true", "1", "1.0"]), True),
            (text.isin(["no", "n", "false", "0", "0.0"]), False),
            else_=ibis.null("boolean"),
        )
    return _text(value)


#: (plain pattern, type): values fully matching the pattern are cast by the engine, the rest parsed in Python.
_DATE = (schema._PLAIN_ISO_DATE, dt.Timestamp(scale=6))
_NUMBER = (schema._PLAIN_NUMBER, dt.float64)


def _parsed(t: ibis.Table, column: str, kind: tuple, parse) -> ibis.Table:
    """``t`` with the text ``column`` typed: values written plainly cast by the engine, the others
    parsed by ``parse`` (a frame-path parser) once per distinct value, in Python, and joined back."""
    plain, target = kind
    text = t[column]
    if t._find_backend().name in ("duckdb", "pyspark"):
        cast = ibis.ifelse(text.re_search(f"^(?:{plain})$"), text.try_cast(target), ibis.null(target))
    else:  # no TRY_CAST (PostgreSQL): every value goes through the Python parser
        cast = ibis.null(target)
    t = t.mutate(**{column: cast, f"_{column}_text": ibis.ifelse(cast.isnull(), text, ibis.null("string"))})
    others = t.select(value=t[f"_{column}_text"]).distinct().filter(lambda d: d.value.notnull())
    values = pd.Series(others.to_pyarrow().column(0).to_pylist(), dtype=TEXT)
    if len(values):
        parsed = parse(values)
        lookup = ibis.memtable(pd.DataFrame({"_value": values.astype(object), "_parsed": parsed.to_numpy()}))
        lookup = lookup.mutate(_parsed=lookup._parsed.cast(target))
        joined = t.left_join(lookup, t[f"_{column}_text"] == lookup._value)
        t = joined.select(*(t[c] for c in t.columns), lookup._parsed)
        t = t.mutate(**{column: t[column].coalesce(t._parsed)}).drop("_parsed")
    return t.drop(f"_{column}_text")


def _complete(t: ibis.Table, source: SourceConfig) -> tuple[ibis.Table, dict[str, str], str, list[str]]:
    """``schema.complete_orders`` in the engine: order ids, quantities and values a log lacks."""
    notes, columns, value_unit = [], set(t.columns), "currency"
    if "order_id" not in columns:
        when = "%Y-%m-%d" if source.order_per == "day" else "%Y-%m-%d %H:%M:%S"
        t = t.mutate(order_id=t.customer_id.concat("@", t.order_date.strftime(when)))
        notes.append(f"No order id column: one order per customer per {source.order_per}.")
    if "quantity" not in columns:
        t = t.mutate(quantity=ibis.literal(1.0))
        notes.append("No quantity column: each line counts as one unit.")
    if "amount" not in columns and "unit_price" in columns:
        t = t.mutate(amount=t.quantity * t.unit_price)
    elif "unit_price" not in columns and "amount" in columns:
        t = t.mutate(unit_price=t.amount / t.quantity)
    elif "amount" not in columns:
        lines_per_order = t.count().over(ibis.window(group_by="order_id"))
        t = t.mutate(amount=(source.value_per_visit or 1.0) / lines_per_order.cast("float64"))
        t = t.mutate(unit_price=t.amount / t.quantity)
        if source.value_per_visit is None:
            value_unit = "visits"
            notes.append("A visit log (customer and date only): counted in visits, each order is one visit.")
        else:
            notes.append(
                f"No price or amount column: each visit is worth {source.value_per_visit:,.2f} (source.value_per_visit)."
            )
    return t, value_unit, notes


def apply_exclusions(
    lines: ibis.Table, extras: dict[str, pd.DataFrame], path: str | Path
) -> tuple[ibis.Table, dict[str, pd.DataFrame], int, int]:
    """``contacts.apply_exclusions`` in the engine: the lines and extra rows of the customers on
    the exclusion list (by id or e-mail) left out; customers and lines excluded."""
    ids, emails = read_exclusions(path)
    if emails and "email" in lines.columns:
        matched = lines.filter(lines.email.strip().lower().isin(sorted(emails)))
        ids |= set(engine.customer_ids(matched))
    listed = ibis.memtable(pd.DataFrame({"_excluded": sorted(ids)}, dtype=object))
    flagged = lines.left_join(listed, lines.customer_id == listed._excluded)
    flagged = flagged.select(*(lines[c] for c in lines.columns), _out=listed._excluded.notnull())
    counts = flagged.filter(flagged._out).aggregate(
        customers=lambda t: t.customer_id.nunique(), lines=lambda t: t.count()
    )
    counts = counts.to_pyarrow().to_pylist()[0]
    kept_extras = {
        name: t[~t["customer_id"].isin(ids)].reset_index(drop=True) if "customer_id" in t else t
        for name, t in extras.items()
    }
    return flagged.filter(~flagged._out).drop("_out"), kept_extras, int(counts["customers"]), int(counts["lines"])


def contacts(lines: ibis.Table) -> pd.DataFrame:
    """``contacts.contacts_table`` in the engine: customer_id, email, consent, the latest
    non-missing value per customer (latest by order date, then source row; no date = latest)."""
    t = lines.filter(lines.customer_id.notnull())
    out = engine.frame(t.select("customer_id").distinct(), ["customer_id"])
    for column in ("email", "consent"):
        if column not in t.columns:
            continue
        seen = t.filter(t[column].notnull())
        latest_first = ibis.window(
            group_by="customer_id",
            order_by=[ibis.desc(seen.order_date.isnull()), ibis.desc(seen.order_date), ibis.desc(seen.source_row)],
        )
        latest = seen.mutate(_n=ibis.row_number().over(latest_first))
        latest = latest.filter(latest._n == 0).select("customer_id", column)
        values = engine.frame(latest, ["customer_id"]).set_index("customer_id")[column]
        out[column] = out["customer_id"].map(values).astype("boolean" if column == "consent" else TEXT).array
    if "consent" not in out:
        out["consent"] = pd.array([pd.NA] * len(out), dtype="boolean")
    return out


def from_recipe(recipe: dict) -> ibis.Table:
    """Lines left in the source database, from the recipe a step wrote in their place: the
    collected lines (typed, exclusions applied, no personal data) or, with ``raw``, the kept or
    removed ones of the cleaning (``part``), recomputed by the database when queried."""
    if "raw" in recipe:
        from segment_workbench.cleaning import rules

        decided = rules.decide(from_recipe(recipe["raw"]), pd.Timestamp(recipe["as_of"]), recipe["params"])
        return rules.kept_lines(decided) if recipe["part"] == "kept" else rules.removed_lines(decided)
    from segment_workbench.io.presets import PRESETS

    source = SourceConfig(**recipe["source"])
    env_file = Path(recipe["env_file"]) if recipe.get("env_file") else None
    lines = typed_lines(source, PRESETS[source.preset], env_file)[0]
    if source.exclusions:
        lines = apply_exclusions(lines, {}, source.exclusions)[0]
    return lines.drop(*[c for c in schema.PII + ["consent"] if c in lines.columns])


def cleaned_recipes(raw: dict, as_of: pd.Timestamp, params: dict) -> dict[str, dict]:
    """The recipes of the kept and the removed lines of cleaning the lines of ``raw``'s recipe
    with ``params`` (``rules.parameters``) as of ``as_of``."""
    common = {"raw": raw, "as_of": f"{as_of:%Y-%m-%d}", "params": params}
    return {"kept": {**common, "part": "kept"}, "removed": {**common, "part": "removed"}}
