import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from segment_workbench.errors import InputError
from segment_workbench.io import schema
from segment_workbench.io.dtypes import TEXT


@pytest.mark.parametrize(
    "text, decimal, expected",
    [
        (["1,234.50", "12.00"], None, [1234.5, 12.0]),
        (["1.234,50", "12,00"], None, [1234.5, 12.0]),
        (["€ 12,50", "3,99"], None, [12.5, 3.99]),
        (["£1,050.00", "2.55"], None, [1050.0, 2.55]),
        (["(3.00)", "4"], ".", [-3.0, 4.0]),
        (["-4.99", ""], ".", [-4.99, np.nan]),
        (["abc", "7"], ".", [np.nan, 7.0]),
        (["1,5", "2,25"], ",", [1.5, 2.25]),
    ],
)
def test_parse_numbers(text, decimal, expected):
    got = schema.parse_numbers(pd.Series(text, dtype=object), decimal)
    np.testing.assert_allclose(got.to_numpy(), expected, equal_nan=True)


def test_parse_numbers_keeps_numeric_columns():
    s = pd.Series([1, 2, 3])
    assert schema.parse_numbers(s).tolist() == [1.0, 2.0, 3.0]


def test_parse_dates_iso_mixed_offset_and_garbage():
    s = pd.Series(["2024-03-01 10:15:00", "2024-03-01 10:15:00 +0100", "03/04/2024", "not a date", "2025-13-45", None])
    got = schema.parse_dates(s, dayfirst=True)
    assert got.iloc[0] == pd.Timestamp("2024-03-01 10:15")
    assert got.iloc[1] == pd.Timestamp("2024-03-01 10:15")  # wall-clock time kept, offset dropped
    assert got.iloc[2] == pd.Timestamp("2024-04-03")  # day first
    assert got.iloc[3:].isna().all()


def test_numeric_dates_among_iso_ones_are_placed_by_position():
    """Only values starting like 31/01/24 are rewritten; a repeated index does not mix them up."""
    s = pd.Series(
        ["2024-01-05", "31/01/2024", "2024-02-01 10:00", "05.02.24 09:30", "1/2/2024x"], index=[0, 0, 1, 1, 2]
    )
    got = schema.parse_dates(s)  # 31/01 shows the order: day first
    assert list(got.iloc[:4]) == [
        pd.Timestamp("2024-01-05"),
        pd.Timestamp("2024-01-31"),
        pd.Timestamp("2024-02-01 10:00"),
        pd.Timestamp("2024-02-05 09:30"),
    ]
    assert pd.isna(got.iloc[4])  # a numeric date with trailing text


def test_parse_dates_with_format():
    got = schema.parse_dates(pd.Series(["19970101", "19971231"]), "%Y%m%d")
    assert list(got) == [pd.Timestamp("1997-01-01"), pd.Timestamp("1997-12-31")]


def test_normalize_ids():
    got = schema.normalize_ids(pd.Series(["17850.0", " 42 ", "", "nan", "0001", "A-1"]))
    assert got.tolist()[:2] == ["17850", "42"]
    assert got.isna().tolist() == [False, False, True, True, False, False]
    assert got.tolist()[4:] == ["0001", "A-1"]


def test_coerce_types_derives_amount_and_unit_price():
    df = pd.DataFrame(
        {
            "source_row": [1],
            "customer_id": ["1"],
            "order_id": ["o"],
            "order_date": ["2024-01-01"],
            "quantity": ["4"],
            "amount": ["10.00"],
        }
    )
    out = schema.coerce_types(df, "x.csv")
    assert out["unit_price"].iloc[0] == 2.5


def _undated() -> pd.DataFrame:
    """Two order lines, as read, whose dates cannot be read."""
    return pd.DataFrame(
        {
            "source_row": [1, 2],
            "customer_id": ["1", "2"],
            "order_id": ["a", "b"],
            "order_date": ["yesterday", "soon"],
            "quantity": ["1", "1"],
            "unit_price": ["1", "1"],
        }
    )


def test_no_parseable_dates_names_file_column_and_rows():
    df = _undated()
    with pytest.raises(InputError) as err:
        schema.coerce_types(df, "orders.csv")
    text = str(err.value)
    assert "orders.csv" in text and "order_date" in text and "yesterday" in text and "date_format" in text


_NUMBER_TEXT = st.one_of(
    st.floats(-1e6, 1e6, allow_nan=False).map(lambda v: f"{v:.2f}"),
    st.integers(-999, 99_999).map(str),
    st.sampled_from(
        [
            "1,234.50",
            "£41.19",
            "(3.00)",
            ".5",
            "-.5",
            "1.",
            "007",
            "1e5",
            "1E-3",
            "inf",
            "Infinity",
            "NaN",
            "+5",
            "1_000",
            "0x1A",
            " 12",
            "",
            "x",
            "1.2.3",
            None,
        ]
    ),
)
_DATE_TEXT = st.one_of(
    st.datetimes(
        min_value=pd.Timestamp("1990-01-01").to_pydatetime(), max_value=pd.Timestamp("2030-12-31").to_pydatetime()
    ).map(lambda d: d.isoformat(sep=" ")),
    st.dates().map(str),
    st.sampled_from(
        [
            "2025-13-45 10:00:00",
            "2024-02-30",
            "2023-02-29",
            "2024-01-01T08",
            "2024-01-01T08:13",
            "9999-01-01",
            "20240101",
            "2024/01/02",
            "2024-01-01 08:13:10 ",
            "15 March 2024",
            "not a date",
            "2024-01",
            None,
        ]
    ),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(_NUMBER_TEXT, max_size=30), st.lists(_DATE_TEXT, max_size=30))
def test_plain_values_cast_by_duckdb_read_as_the_general_parsers_do(numbers, dates):
    """The fast path (DuckDB's cast of plainly written values) changes no value: the same
    floats and datetimes as the general parsers applied to every value."""
    numbers = pd.Series(numbers, dtype=TEXT)
    general = pd.to_numeric(numbers, errors="coerce").astype("float64")
    fast = schema._plain_first(
        numbers, schema._PLAIN_NUMBER, "DOUBLE", lambda rest: pd.to_numeric(rest, errors="coerce")
    )
    pd.testing.assert_series_equal(fast, general)
    dates = pd.Series(dates, dtype=TEXT)
    fast = schema._plain_first(dates, schema._PLAIN_ISO_DATE, "TIMESTAMP_NS", schema._general_dates)
    pd.testing.assert_series_equal(fast, schema._general_dates(dates))


def test_label_columns_are_categoricals_of_the_trimmed_text():
    df = pd.DataFrame(
        {
            "source_row": [1, 2, 3, 4, 5],
            "customer_id": ["1"] * 5,
            "order_id": list("abcde"),
            "order_date": ["2024-01-02"] * 5,
            "quantity": ["1"] * 5,
            "unit_price": ["2"] * 5,
            "country": ["UK", " UK", "France", "n/a", None],
            "product_id": ["12.0", "12", "A1 ", "", "7"],
        }
    )
    out = schema.coerce_types(df, "x.csv")
    country = out["country"]
    assert isinstance(country.dtype, pd.CategoricalDtype) and country.cat.categories.dtype == TEXT
    assert list(country.cat.categories) == ["France", "UK"]  # "UK" and " UK" are one value; sorted
    assert country.iloc[:3].tolist() == ["UK", "UK", "France"] and country.isna().tolist() == [False] * 3 + [True] * 2
    assert out["product_id"].astype(object).where(out["product_id"].notna(), None).tolist() == [
        "12",
        "12",
        "A1",
        None,
        "7",
    ]
    assert out["customer_id"].dtype == TEXT and out["order_id"].dtype == TEXT  # ids stay text


def test_coerce_types_consuming_its_input_gives_the_same_table_and_empties_the_input():
    def frame():
        return pd.DataFrame(
            {
                "source_row": [1, 2],
                "customer_id": [" 7.0", "8"],
                "order_id": ["a", "b"],
                "order_date": ["2024-01-02", "2024-01-03"],
                "quantity": ["2", "3"],
                "unit_price": ["1.50", "2"],
                "country": ["UK ", "-"],
            }
        )

    kept, consumed = frame(), frame()
    expected = schema.coerce_types(kept, "x.csv")
    got = schema.coerce_types(consumed, "x.csv", consume=True)
    pd.testing.assert_frame_equal(got, expected)
    assert got["customer_id"].tolist() == ["7", "8"] and got["amount"].tolist() == [3.0, 6.0]
    assert list(kept.columns) == list(frame().columns) and list(consumed.columns) == []


def test_no_parseable_dates_shows_the_rows_when_consuming_the_input():
    df = _undated()
    with pytest.raises(InputError) as err:
        schema.coerce_types(df, "orders.csv", consume=True)
    assert "yesterday" in str(err.value) and "soon" in str(err.value)
