import sqlite3

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support import TEST_DATA

from segment_workbench.errors import ConfigError, InputError
from segment_workbench.io import contacts, detection, presets, readers
from segment_workbench.io.collect import collect
from segment_workbench.io.dtypes import TEXT

ORDERS = pd.DataFrame(
    {
        "customer_id": ["c1", "c1", "c2"],
        "order_id": ["o1", "o2", "o3"],
        "order_date": ["2024-01-05 10:00:00", "2024-02-01 11:30:00", "2024-02-03 09:00:00"],
        "quantity": ["2", "1", "3"],
        "unit_price": ["1234.50", "3.99", "10.00"],
        "product_name": ["Café crème", "Tasse à thé", "Bol"],
    }
)


def _collect(path, **source):
    return collect({"kind": "csv", "path": str(path), **source}).transactions


def _check(tx):
    assert tx["customer_id"].tolist() == ["c1", "c1", "c2"]
    assert tx["unit_price"].tolist() == [1234.5, 3.99, 10.0]
    assert tx["amount"].tolist() == [2469.0, 3.99, 30.0]
    assert tx["product_name"].tolist() == ["Café crème", "Tasse à thé", "Bol"]
    assert tx["order_date"].iloc[1] == pd.Timestamp("2024-02-01 11:30")
    assert tx["source_row"].tolist() == [1, 2, 3]


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "cp1252", "latin-1"])
@pytest.mark.parametrize("delimiter", [",", ";", "\t"])
def test_csv_encodings_and_delimiters(tmp_path, encoding, delimiter):
    path = tmp_path / "orders.csv"
    ORDERS.to_csv(path, sep=delimiter, index=False, encoding=encoding)
    _check(_collect(path))


def test_csv_decimal_comma_and_thousands(tmp_path):
    path = tmp_path / "orders.csv"
    ORDERS.assign(unit_price=["1.234,50", "3,99", "10,00"]).to_csv(path, sep=";", index=False)
    _check(_collect(path))


def test_gzip_csv(tmp_path):
    path = tmp_path / "orders.csv.gz"
    ORDERS.to_csv(path, index=False, compression="gzip")
    _check(_collect(path))


def test_detect_encoding_and_delimiter(tmp_path):
    path = tmp_path / "x.csv"
    path.write_bytes("a;b\n€;2\n".encode("cp1252"))
    assert detection.detect_encoding(path) == "cp1252"
    assert detection.detect_delimiter('a,"b;c",d\n1,"2;3",4\n') == ","
    assert detection.detect_delimiter("a\tb\tc\n1\t2\t3\n") == "\t"


def test_excel_finds_data_on_second_sheet(tmp_path):
    path = tmp_path / "orders.xlsx"
    with pd.ExcelWriter(path) as writer:
        pd.DataFrame({"Notes": ["Exported from the till", "see next sheet"]}).to_excel(
            writer, sheet_name="Read me", index=False
        )
        ORDERS.to_excel(writer, sheet_name="Orders", index=False)
    _check(collect({"kind": "excel", "path": str(path)}).transactions)
    _check(collect({"kind": "excel", "path": str(path), "sheet": "Orders"}).transactions)
    with pytest.raises(InputError, match="Sheet 'Sales' not found"):
        collect({"kind": "excel", "path": str(path), "sheet": "Sales"})


def test_parquet(tmp_path):
    path = tmp_path / "orders.parquet"
    ORDERS.assign(unit_price=[1234.5, 3.99, 10.0], quantity=[2, 1, 3]).to_parquet(path)
    _check(collect({"kind": "parquet", "path": str(path)}).transactions)
    read = readers.read_parquet(path)  # text as Arrow strings, not Python objects
    assert read["customer_id"].dtype == TEXT and read["unit_price"].dtype == "float64"
    not_parquet = tmp_path / "orders_export.parquet"
    not_parquet.write_text("customer_id,order_id\nc1,o1\n")
    with pytest.raises(InputError, match="could not be read as Parquet") as err:
        collect({"kind": "parquet", "path": str(not_parquet)})
    assert "orders_export.parquet" in str(err.value)


def test_sql_via_sqlite_url_from_environment(tmp_path, monkeypatch):
    db = tmp_path / "shop.db"
    with sqlite3.connect(db) as conn:
        ORDERS.rename(columns={"customer_id": "cust"}).to_sql("order_lines", conn, index=False)
    monkeypatch.setenv("SHOP_DB_URL", f"sqlite:///{db}")
    source = {
        "kind": "sql",
        "url_env": "SHOP_DB_URL",
        "query": "SELECT * FROM order_lines ORDER BY order_id",
        "columns": {"customer_id": "cust"},
    }
    collected = collect(source)
    _check(collected.transactions)
    assert collected.file == "sql via $SHOP_DB_URL"


def test_sql_errors_never_show_the_url(tmp_path, monkeypatch):
    monkeypatch.delenv("MISSING_URL", raising=False)
    with pytest.raises(ConfigError, match="MISSING_URL is not set"):
        collect({"kind": "sql", "url_env": "MISSING_URL", "query": "select 1"})
    secret = f"sqlite:///{tmp_path}/secret-token-123.db"
    monkeypatch.setenv("SHOP_DB_URL", secret)
    with pytest.raises(InputError) as err:
        collect({"kind": "sql", "url_env": "SHOP_DB_URL", "query": "SELECT * FROM no_such_table"})
    assert "no such table" in str(err.value) and "secret-token-123" not in str(err.value)


def test_synthetic_source_has_extras_without_personal_data():
    collected = collect({"kind": "synthetic", "n_customers": 200, "seed": 3})
    assert set(collected.extras) == {"survey", "ground_truth", "campaign"}
    attributes = collected.attributes.table
    assert "email" not in collected.transactions and not {"name", "email", "consent"} & set(attributes)
    assert list(attributes["age_band"].cat.categories) == ["18-24", "25-34", "35-44", "45-54", "55-64", "65+"]
    assert collected.contacts["email"].str.endswith("@example.com").all()


def test_preset_uci_online_retail():
    tx = _collect(TEST_DATA / "online_retail_head.csv", preset="uci_online_retail")
    assert len(tx) == 300
    first = tx.iloc[0]
    assert (first["customer_id"], first["order_id"], first["product_id"]) == ("17850", "536365", "85123A")
    assert first["quantity"] == 6 and first["unit_price"] == 2.55 and first["amount"] == pytest.approx(15.3)
    assert first["order_date"] == pd.Timestamp("2010-12-01 08:26") and first["country"] == "United Kingdom"


def test_preset_cdnow():
    tx = _collect(TEST_DATA / "cdnow_sample.txt", preset="cdnow")
    assert len(tx) == 6919 and tx["customer_id"].nunique() == 2357
    first = tx.iloc[0]
    assert (first["customer_id"], first["order_date"], first["quantity"], first["amount"]) == (
        "0001",
        pd.Timestamp("1997-01-01"),
        2,
        29.33,
    )
    assert tx["order_id"].is_unique
    assert tx["order_date"].min() == pd.Timestamp("1997-01-01") and tx["order_date"].max() == pd.Timestamp("1998-06-30")


def test_preset_shopify_orders():
    collected = collect({"kind": "csv", "path": str(TEST_DATA / "shopify_orders.csv"), "preset": "shopify_orders"})
    tx = collected.transactions
    assert len(tx) == 4 and "email" not in tx
    # The second line of #1001 inherits the order-level fields of the first.
    assert tx["status"].tolist() == ["paid", "paid", "paid", "voided"]
    assert tx["country"].tolist()[:2] == ["FR", "FR"]
    # One pseudonymous customer for Jane, whatever the case of her e-mail.
    assert tx["customer_id"].nunique() == 2 and tx["customer_id"].iloc[0] == tx["customer_id"].iloc[2]
    assert tx["customer_id"].iloc[0].startswith("c_") and "jane" not in tx["customer_id"].iloc[0]
    assert tx["order_date"].iloc[2] == pd.Timestamp("2024-04-11 18:40")
    jane = collected.contacts.set_index("customer_id").loc[tx["customer_id"].iloc[0]]
    assert jane["email"] == "jane.doe@example.org" and not jane["consent"]  # the latest order says "no"


def test_generic_mapping_and_case_insensitive_headers(tmp_path):
    path = tmp_path / "orders.csv"
    ORDERS.rename(columns={"customer_id": "Kunde", "order_id": "Order ID", "order_date": "Order-Date"}).to_csv(
        path, index=False
    )
    _check(_collect(path, columns={"customer_id": "Kunde"}))


def test_missing_required_column_suggests_the_close_name(tmp_path):
    path = tmp_path / "orders.csv"
    ORDERS.rename(columns={"customer_id": "custmer_id"}).to_csv(path, index=False)
    with pytest.raises(InputError) as err:
        _collect(path)
    text = str(err.value)
    assert "Required column(s) missing: customer_id" in text and str(path) in text
    assert "Did you mean 'custmer_id'" in text and "example rows" in text


def test_mapped_column_absent(tmp_path):
    path = tmp_path / "orders.csv"
    ORDERS.to_csv(path, index=False)
    with pytest.raises(InputError, match="maps customer_id to column 'Client'"):
        _collect(path, columns={"customer_id": "Client"})


@pytest.mark.parametrize(
    "content, message",
    [("", "The file is empty"), ("customer_id,order_id,order_date,quantity,unit_price\n", "no data rows")],
)
def test_empty_and_header_only_files(tmp_path, content, message):
    path = tmp_path / "orders.csv"
    path.write_text(content)
    with pytest.raises(InputError, match=message) as err:
        _collect(path)
    assert str(path) in str(err.value)


def test_missing_file_and_unknown_preset(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        _collect(tmp_path / "nope.csv")
    path = tmp_path / "orders.csv"
    ORDERS.to_csv(path, index=False)
    with pytest.raises(ConfigError, match="Did you mean 'shopify_orders'"):
        _collect(path, preset="shopify_order")


def test_pseudonymize_is_stable_and_case_insensitive():
    ids = presets.pseudonymize(pd.Series(["A@x.org", " a@X.org", None]))
    assert ids.iloc[0] == ids.iloc[1] and pd.isna(ids.iloc[2]) and len(ids.iloc[0]) == 14


def _contacts_by_sorting(typed: pd.DataFrame) -> pd.DataFrame:
    """The contacts table read straight from its definition: sort by date and row, last non-missing value per customer."""
    rows = typed.dropna(subset=["customer_id"]).sort_values(["order_date", "source_row"], na_position="last")
    return rows.groupby("customer_id", sort=True)[["email", "consent"]].last().reset_index()


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["a", "b", "C", None]),
            st.sampled_from(["2024-01-02", "2024-01-01", None]),
            st.sampled_from(["x@example.com", "y@example.com", None]),
            st.sampled_from([True, False, None]),
        ),
        min_size=1,
        max_size=25,
    )
)
def test_contacts_are_the_latest_value_seen_per_customer(lines):
    typed = pd.DataFrame(lines, columns=["customer_id", "order_date", "email", "consent"])
    typed.insert(0, "source_row", range(1, len(typed) + 1))
    typed = typed.astype({"customer_id": TEXT, "email": TEXT, "consent": "boolean", "order_date": "datetime64[ns]"})
    pd.testing.assert_frame_equal(contacts.contacts_table(typed), _contacts_by_sorting(typed))
    without = contacts.contacts_table(typed.drop(columns=["email", "consent"]))
    first_seen = (
        typed.dropna(subset=["customer_id"]).sort_values(["order_date", "source_row"])["customer_id"].drop_duplicates()
    )
    assert without["customer_id"].tolist() == first_seen.tolist()


@pytest.mark.parametrize("header", ["", "customer date cds dollars\r\n", "ID DATE CDs DOLLARS\r\n"])
def test_preset_cdnow_reads_the_master_layout_with_or_without_a_header(tmp_path, header):
    """The CDNOW master file: id, date, number of CDs, dollar value (the sample has an extra
    original id first). Written here from the sample's records, so both must agree."""
    sample = (TEST_DATA / "cdnow_sample.txt").read_text().splitlines()
    master = [" ".join(line.split()[1:]) for line in sample]
    path = tmp_path / "CDNOW_master.txt"
    path.write_text(header + "\r\n".join(master) + "\r\n")
    tx = _collect(path, preset="cdnow")
    expected = _collect(TEST_DATA / "cdnow_sample.txt", preset="cdnow")
    assert len(tx) == 6919 and tx["customer_id"].nunique() == 2357 and tx["source_row"].iloc[0] == 1
    cols = ["customer_id", "order_date", "quantity", "amount", "order_id"]
    pd.testing.assert_frame_equal(tx[cols], expected[cols])
