"""01_collect on the engine (``io.scan``, for files too large for a frame) gives what the frame
path gives: the same typed lines, notes, contacts and exclusions, from messy text and from
typed columns; and the whole pipeline from such a file equals the frame path's."""

from __future__ import annotations

import pandas as pd
import pytest

from segment_workbench.cleaning import rules as cleaning
from segment_workbench.customers import table as customers
from segment_workbench.io import artifacts
from segment_workbench.io.collect import collect

MESSY = pd.DataFrame(
    {
        "Customer": ["123.0", "c2", " c2 ", "N/A", "c3", "c3", "c4", "123"],
        "Invoice": ["A1", "A2", "A2", "A3", "A4", "C5", "A6", "A7"],
        "When": [
            "2024-03-01 10:00",
            "15 March 2024",
            "15 March 2024",
            "2024-03-02",
            "not a date",
            "2024-04-01T08:30:00",
            "03/04/2024",
            "2024-05-01",
        ],
        "Qty": ["2", "1", "1", "3", "1", "-1", "", "4"],
        "Price": ["£1,234.50", "10", "10", "2.5", "(3.00)", "5", "7", "0.99"],
        "Country": ["UK", "UK ", "-", "France", "France", "France", None, "UK"],
        "Email": ["a@x.org", None, "b@x.org", None, "c@x.org", "c2@x.org", None, "a2@x.org"],
        "Consent": ["yes", "no", "y", None, "1", "0", "maybe", "no"],
    }
)
COLUMNS = {
    "customer_id": "Customer",
    "order_id": "Invoice",
    "order_date": "When",
    "quantity": "Qty",
    "unit_price": "Price",
    "country": "Country",
    "email": "Email",
    "consent": "Consent",
}


def _both(path, **source):
    config = {"kind": "parquet", "path": str(path), "columns": COLUMNS, **source}
    return collect({**config, "engine": "frame"}), collect({**config, "engine": "engine"})


def _lines(collected, tmp_path) -> pd.DataFrame:
    path = artifacts.write_lines(collected.transactions, tmp_path / collected.file.replace("/", "_"), artifacts.RAW)
    out = pd.read_parquet(path).sort_values("source_row", ignore_index=True)
    out["order_date"] = out["order_date"].astype("datetime64[ns]")  # microseconds from DuckDB
    for c in out:
        if out[c].dtype == object or str(out[c].dtype) in ("category", "string"):
            out[c] = out[c].astype(object).where(out[c].notna(), None)
    return out


def test_messy_text_is_typed_alike(tmp_path):
    path = tmp_path / "orders.parquet"
    MESSY.to_parquet(path)
    frame, scanned = _both(path, dayfirst=True)
    assert scanned.notes == frame.notes and scanned.source_columns == frame.source_columns
    got, expected = _lines(scanned, tmp_path / "e"), _lines(frame, tmp_path / "f")
    pd.testing.assert_frame_equal(got[expected.columns], expected, check_dtype=False)
    assert got["unit_price"].tolist()[:5] == [1234.5, 10.0, 10.0, 2.5, -3.0]
    assert got["order_date"][6] == pd.Timestamp("2024-04-03")  # day first
    assert got["customer_id"].tolist()[:3] == ["123", "c2", "c2"]
    pd.testing.assert_frame_equal(
        scanned.contacts.astype(str), frame.contacts.astype(str)
    )  # latest e-mail and consent per customer
    assert (
        frame.contacts.set_index("customer_id").loc["c3", "email"] == "c@x.org"
    )  # a line without a date counts as the latest


def test_exclusions_and_a_log_without_orders_or_prices(tmp_path):
    path = tmp_path / "visits.parquet"
    MESSY[["Customer", "When", "Email"]].to_parquet(path)
    excluded = tmp_path / "optout.csv"
    excluded.write_text("customer_id,email\nnobody,b@x.org\n")
    config = {"kind": "parquet", "path": str(path), "exclusions": str(excluded), "dayfirst": True}
    config["columns"] = {"customer_id": "Customer", "order_date": "When", "email": "Email"}
    frame, scanned = collect({**config, "engine": "frame"}), collect({**config, "engine": "engine"})
    assert (
        (scanned.excluded_customers, scanned.excluded_lines)
        == (frame.excluded_customers, frame.excluded_lines)
        == (1, 2)
    )
    assert scanned.value_unit == frame.value_unit == "visits" and scanned.notes == frame.notes
    got, expected = _lines(scanned, tmp_path / "e"), _lines(frame, tmp_path / "f")
    pd.testing.assert_frame_equal(got[expected.columns], expected, check_dtype=False)


@pytest.mark.parametrize("engine", ["frame", "engine"])
def test_a_typed_export_gives_the_demo_s_customer_table(tmp_path, engine):
    """The demo's cleaned lines written as a typed export: collected and cleaned on either path,
    the customer table is the one built from the lines directly."""
    demo = collect({"kind": "synthetic", "n_customers": 200, "seed": 5})
    lines = cleaning.clean(demo.transactions, "2025-12-31").transactions.drop(columns="source_row")
    path = tmp_path / "export.parquet"
    lines.astype(dict.fromkeys(("product_id", "product_name", "category", "country", "channel"), str)).to_parquet(path)
    collected = collect({"kind": "parquet", "path": str(path), "engine": engine})
    raw = artifacts.write_lines(collected.transactions, tmp_path, artifacts.RAW, meta=collected.meta())
    result = cleaning.clean_files(
        raw, "2025-12-31", kept=tmp_path / "kept.parquet", removed=tmp_path / "removed.parquet"
    )
    assert result.summary["rows_removed"] == 0 and result.summary["rows_in"] == len(lines)
    assert artifacts.read_meta(tmp_path, artifacts.RAW) == collected.meta()
    pd.testing.assert_frame_equal(
        customers.build_customer_table(result.transactions, "2025-12-31"),
        customers.build_customer_table(lines, "2025-12-31"),
        check_exact=False,
        rtol=1e-12,
    )
