"""The bad-input catalogue: realistic broken exports, each ending in either a clear error
(file, column, example rows, what to do; never a traceback) or a documented handling that
shows up in the cleaning log. The README's "When your data is messy" lists the same cases.
The 2 GB file is in benchmarks/bench_large_file.py, not here."""

from __future__ import annotations

import gzip
from pathlib import Path

import pandas as pd
import pytest

from segment_workbench.cleaning import quality
from segment_workbench.cleaning import rules as cleaning
from segment_workbench.clv import valuation
from segment_workbench.customers import table as customers
from segment_workbench.errors import ConfigError, InputError
from segment_workbench.io.collect import collect
from segment_workbench.segmentation.pipeline import segment_customers

AS_OF = "2024-12-31"
HEADER = "customer_id,order_id,order_date,quantity,unit_price"
GOOD = ["c1,o1,2024-03-01,2,10.00", "c2,o2,2024-04-15,1,25.50", "c1,o3,2024-06-20,3,4.00"]


def write(tmp_path: Path, text: str, name: str = "orders.csv", encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def csv(*lines: str, header: str = HEADER) -> str:
    return "\n".join([header, *lines]) + "\n"


def collect_and_clean(path: Path, **source):
    collected = collect({"kind": "csv", "path": str(path), **source})
    cleaned = cleaning.clean(collected.transactions, AS_OF, source_columns=collected.source_columns, file=str(path))
    summary = cleaned.summary
    assert summary["rows_in"] == summary["rows_kept"] + summary["rows_removed"]  # every row accounted for
    return collected, cleaned


def removed(cleaned, reason: str) -> int:
    return int(cleaned.log.loc[cleaned.log["reason"] == reason, "rows_removed"].sum())


def assert_clear(
    err: pytest.ExceptionInfo, path: Path | str, column: str | None, *words: str, rows: bool = True
) -> None:
    message = str(err.value)
    assert f"file:   {path}" in message
    if column:
        assert f"column: {column}" in message
    if rows:
        assert "example rows:" in message
    assert "what to do:" in message and "Traceback" not in message
    for word in words:
        assert word in message, (word, message)


# --- cases that stop with a clear message ------------------------------------------------------


def test_missing_required_column(tmp_path):
    """Only customer and date are required (a visit log has nothing else); without a date there
    is nothing to analyse."""
    path = write(tmp_path, csv("c1,A1,2,10", header="customer_id,order_id,quantity,unit_price"))
    with pytest.raises(InputError) as err:
        collect_and_clean(path)
    assert_clear(err, path, "order_date", "Required column(s) missing: order_date", "source.columns")


def test_misspelled_header_gets_a_suggestion(tmp_path):
    path = write(tmp_path, csv(*GOOD, header="custmer_id,order_id,order_date,quantity,unit_price"))
    with pytest.raises(InputError) as err:
        collect_and_clean(path)
    assert_clear(err, path, "customer_id", "Did you mean 'custmer_id'?")


def test_mapped_column_not_in_file(tmp_path):
    path = write(tmp_path, csv(*GOOD))
    with pytest.raises(InputError) as err:
        collect_and_clean(path, columns={"customer_id": "Customer Number"})
    assert_clear(err, path, "Customer Number", "which the file does not have", rows=False)


def test_empty_file(tmp_path):
    path = write(tmp_path, "")
    with pytest.raises(InputError) as err:
        collect_and_clean(path)
    assert_clear(err, path, None, "empty", rows=False)


def test_header_only(tmp_path):
    path = write(tmp_path, csv())
    with pytest.raises(InputError) as err:
        collect_and_clean(path)
    assert_clear(err, path, None, "header but no data rows", rows=False)


def test_file_not_found(tmp_path):
    path = tmp_path / "nowhere.csv"
    with pytest.raises(InputError) as err:
        collect_and_clean(path)
    assert_clear(err, path, None, "does not exist", "source.path", rows=False)


def test_not_a_text_file(tmp_path):
    path = tmp_path / "orders.csv"
    path.write_bytes(bytes(range(256)) * 20)
    with pytest.raises(InputError) as err:
        collect_and_clean(path)
    assert_clear(err, path, None, rows=False)


def test_all_dates_unparseable(tmp_path):
    path = write(tmp_path, csv("c1,o1,soon,2,10", "c2,o2,n/a-ish,1,5", "c3,o3,tomorrow,1,5"))
    with pytest.raises(InputError) as err:
        collect_and_clean(path)
    assert_clear(err, path, "order_date", "No order date could be read", "source.date_format", "tomorrow")


def test_day_first_and_month_first_mixed(tmp_path):
    path = write(tmp_path, csv("c1,o1,25/03/2024,1,10", "c2,o2,03/25/2024,1,10", "c3,o3,04/05/2024,1,10"))
    with pytest.raises(InputError) as err:
        collect_and_clean(path)
    assert_clear(err, path, "order_date", "mix day-first", "25/03/2024", "03/25/2024")


def test_day_month_order_ambiguous(tmp_path):
    path = write(tmp_path, csv("c1,o1,03/04/2024,1,10", "c2,o2,05/06/2024,1,10"))
    with pytest.raises(InputError) as err:
        collect_and_clean(path)
    assert_clear(err, path, "order_date", "ambiguous", "source.dayfirst", "03/04/2024")


def test_excel_without_any_sheet_of_orders(tmp_path):
    path = tmp_path / "orders.xlsx"
    with pd.ExcelWriter(path) as writer:
        pd.DataFrame({"note": ["read me"]}).to_excel(writer, sheet_name="Notes", index=False)
        pd.DataFrame({"total": [5]}).to_excel(writer, sheet_name="Totals", index=False)
    with pytest.raises(InputError) as err:
        collect({"kind": "excel", "path": str(path)})
    assert_clear(err, path, "customer_id", "Notes", "Totals", "source.sheet")


def test_every_line_removed_by_cleaning(tmp_path):
    path = write(tmp_path, csv("c1,o1,2024-03-01,1,0", "c2,o2,2024-04-01,2,-1"))
    with pytest.raises(InputError) as err:
        collect_and_clean(path)
    assert_clear(err, path, None, "Cleaning removed every row", "missing_zero_or_negative_price", "cleaning.skip")


def test_exclusion_list_without_an_id_column(tmp_path):
    path = write(tmp_path, csv(*GOOD))
    optouts = write(tmp_path, "who\nc1\n", "optouts.csv")
    with pytest.raises(InputError) as err:
        collect_and_clean(path, exclusions=str(optouts))
    assert_clear(err, optouts, "customer_id", "neither a customer_id nor an email column")


# --- cases that are handled, and logged ------------------------------------------------------


def test_windows_1252_text(tmp_path):
    path = write(tmp_path, csv("c1,o1,2024-03-01,1,10,Café crème", header=HEADER + ",product_name"), encoding="cp1252")
    collected, _ = collect_and_clean(path)
    assert collected.transactions["product_name"].iloc[0] == "Café crème"


@pytest.mark.parametrize("bom, encoding", [("\ufeff", "utf-8"), ("\ufeff", "utf-16")])
def test_byte_order_mark(tmp_path, bom, encoding):
    path = write(tmp_path, bom + csv(*GOOD), encoding=encoding)
    collected, cleaned = collect_and_clean(path)
    assert list(collected.transactions["customer_id"]) == ["c1", "c2", "c1"] and len(cleaned.transactions) == 3


def test_semicolons_and_decimal_commas(tmp_path):
    path = write(
        tmp_path,
        "customer_id;order_id;order_date;quantity;unit_price\nc1;o1;2024-03-01;2;10,50\nc2;o2;2024-03-02;1;1.234,00\n",
    )
    collected, _ = collect_and_clean(path)
    assert collected.transactions["unit_price"].tolist() == [10.5, 1234.0]


def test_thousands_separators_and_currency_symbols(tmp_path):
    path = write(
        tmp_path, csv('c1,o1,2024-03-01,1,"£1,234.50"', "c2,o2,2024-03-02,1,$12.00", 'c3,o3,2024-03-03,1," 7.25 EUR"')
    )
    collected, _ = collect_and_clean(path)
    assert collected.transactions["unit_price"].tolist() == [1234.5, 12.0, 7.25]


def test_mixed_date_formats_in_one_column(tmp_path):
    path = write(
        tmp_path,
        csv(
            "c1,o1,2024-03-15,1,10",
            "c2,o2,16/03/2024,1,10",
            'c3,o3,"March 17, 2024",1,10',
            "c4,o4,2024-03-18T09:30:00Z,1,10",
        ),
    )
    collected, _ = collect_and_clean(path)
    assert collected.transactions["order_date"].dt.strftime("%Y-%m-%d %H:%M").tolist() == [
        "2024-03-15 00:00",
        "2024-03-16 00:00",
        "2024-03-17 00:00",
        "2024-03-18 09:30",
    ]


def test_day_first_read_from_the_data(tmp_path):
    path = write(tmp_path, csv("c1,o1,03/04/2024,1,10", "c2,o2,25/04/2024,1,10"))
    collected, _ = collect_and_clean(path)
    assert collected.transactions["order_date"].dt.strftime("%Y-%m-%d").tolist() == ["2024-04-03", "2024-04-25"]


def test_explicit_month_first_removes_impossible_dates_with_a_logged_reason(tmp_path):
    path = write(tmp_path, csv("c1,o1,03/04/2024,1,10", "c2,o2,25/04/2024,1,10"))
    collected, cleaned = collect_and_clean(path, dayfirst=False)
    assert collected.transactions["order_date"].iloc[0] == pd.Timestamp("2024-03-04")
    assert removed(cleaned, "unparseable_date") == 1


def test_dates_after_as_of(tmp_path):
    path = write(tmp_path, csv(*GOOD, "c3,o9,2025-02-01,1,10"))
    _, cleaned = collect_and_clean(path)
    assert removed(cleaned, "after_as_of") == 1


def test_excel_with_the_data_on_the_second_sheet(tmp_path):
    path = tmp_path / "orders.xlsx"
    with pd.ExcelWriter(path) as writer:
        pd.DataFrame({"Exported by": ["shop admin"]}).to_excel(writer, sheet_name="Cover", index=False)
        pd.read_csv(write(tmp_path, csv(*GOOD)), dtype=str).to_excel(writer, sheet_name="Orders", index=False)
    collected = collect({"kind": "excel", "path": str(path)})
    assert len(collected.transactions) == 3


def test_negative_quantities_without_a_cancellation_marker_are_netted(tmp_path):
    path = write(tmp_path, csv("c1,o1,2024-03-01,3,10,P1", "c1,o2,2024-03-05,-1,10,P1", header=HEADER + ",product_id"))
    _, cleaned = collect_and_clean(path)
    assert removed(cleaned, "return_netted") == 1
    assert cleaned.transactions["quantity"].tolist() == [2.0]
    assert int(cleaned.log["rows_adjusted"].sum()) == 1


def test_cancellations_without_a_matching_purchase(tmp_path):
    path = write(tmp_path, csv("c1,o1,2024-03-01,1,10,P1", "c1,C77,2024-03-05,-2,10,P9", header=HEADER + ",product_id"))
    _, cleaned = collect_and_clean(path)
    assert removed(cleaned, "return_without_matching_purchase") == 1


def test_repeated_header_rows_inside_the_file(tmp_path):
    path = write(tmp_path, csv(GOOD[0], HEADER, GOOD[1], HEADER, GOOD[2]))
    _, cleaned = collect_and_clean(path)
    assert removed(cleaned, "repeated_header_row") == 2 and len(cleaned.transactions) == 3


def test_repeated_header_rows_with_mapped_names(tmp_path):
    header = "Customer,Invoice,Date,Qty,Price"
    path = write(tmp_path, csv(GOOD[0], header, GOOD[1], header=header))
    _, cleaned = collect_and_clean(
        path,
        columns={
            "customer_id": "Customer",
            "order_id": "Invoice",
            "order_date": "Date",
            "quantity": "Qty",
            "unit_price": "Price",
        },
    )
    assert removed(cleaned, "repeated_header_row") == 1


def test_extreme_outlier_flagged_or_capped(tmp_path):
    lines = [f"c{i},o{i},2024-03-{1 + i % 28:02d},1,{20 + i % 7}" for i in range(60)] + ["c99,o99,2024-05-01,1,1000000"]
    path = write(tmp_path, csv(*lines))
    collected, cleaned = collect_and_clean(path)
    assert quality.outlier_lines(collected.transactions)["amount"].max() == 1_000_000  # flagged for review, kept
    assert cleaned.transactions["amount"].max() == 1_000_000
    capped = cleaning.clean(collected.transactions, AS_OF, {"max_line_amount": 10_000})
    assert removed(capped, "line_amount_above_limit") == 1


def test_a_single_customer(tmp_path):
    path = write(tmp_path, csv("c1,o1,2024-03-01,1,10", "c1,o2,2024-05-01,1,12", "c1,o3,2024-09-01,2,8"))
    _, cleaned = collect_and_clean(path)
    table = customers.build_customer_table(cleaned.transactions, AS_OF)
    result = segment_customers(table, cleaned.removed)
    assert len(table) == 1 and result.clusterer.k_ == 1 and "no clustering possible" in result.clusterer.message_


def test_every_customer_with_one_order(tmp_path):
    lines = [f"c{i},o{i},2024-{1 + i % 12:02d}-{1 + i % 27:02d},1,{5 + i % 40}" for i in range(80)]
    path = write(tmp_path, csv(*lines))
    _, cleaned = collect_and_clean(path)
    table = customers.build_customer_table(cleaned.transactions, AS_OF)
    assert (table["frequency"] == 0).all()
    result = segment_customers(table, cleaned.removed)
    assert all(name.startswith("One-time buyers") for name in result.segments["cluster_name"])
    with pytest.raises(InputError, match="No customer has a repeat purchase") as err:  # 05_cltv stops with this message
        valuation.fit_final("bg_nbd", table, "weeks")
    assert "what to do:" in str(err.value) and "column: frequency" in str(err.value)


def test_ids_written_as_floats_and_strings_are_one_customer(tmp_path):
    path = write(tmp_path, csv("12345.0,o1,2024-03-01,1,10", "12345,o2,2024-04-01,1,10", "678.00,o3,2024-04-02,1,10"))
    collected, _ = collect_and_clean(path)
    assert collected.transactions["customer_id"].tolist() == ["12345", "12345", "678"]


def test_whitespace_and_case_variants_of_an_id_are_merged_and_logged(tmp_path):
    path = write(
        tmp_path,
        csv(" ab1 ,o1,2024-03-01,1,10", "AB1,o2,2024-04-01,1,10", "ab1,o3,2024-05-01,1,10", "ab1,o4,2024-06-01,1,10"),
    )
    _, cleaned = collect_and_clean(path)
    assert cleaned.transactions["customer_id"].unique().tolist() == ["ab1"]
    log = cleaned.log.set_index("rule")
    assert log.at["customer_id_case", "rows_adjusted"] == 1
    kept_case = cleaning.clean(
        collect({"kind": "csv", "path": str(path)}).transactions, AS_OF, {"skip": ["customer_id_case"]}
    )
    assert kept_case.transactions["customer_id"].nunique() == 2


def test_guest_lines_duplicates_bad_prices_and_quantities_are_logged(tmp_path):
    path = write(
        tmp_path,
        csv(
            *GOOD,
            GOOD[0],
            ",o7,2024-03-09,1,10",
            "c5,o8,2024-03-10,two,10",
            "c6,o9,2024-03-11,1,0",
            "c7,o10,2024-03-12,1,-3",
            "TEST-1,o11,2024-03-12,1,3",
        ),
    )
    _, cleaned = collect_and_clean(path, preset="generic")
    assert removed(cleaned, "exact_duplicate") == 1
    assert removed(cleaned, "missing_customer_id") == 1
    assert removed(cleaned, "missing_or_zero_quantity") == 1
    assert removed(cleaned, "missing_zero_or_negative_price") == 2
    assert removed(cleaned, "test_order") == 1
    assert len(cleaned.transactions) == 3


def test_cancelled_status_lines(tmp_path):
    path = write(tmp_path, csv(GOOD[0] + ",paid", GOOD[1] + ",Refunded", header=HEADER + ",status"))
    _, cleaned = collect_and_clean(path)
    assert removed(cleaned, "cancelled_status") == 1


def test_gzip_and_tab_separated(tmp_path):
    path = tmp_path / "orders.tsv.gz"
    path.write_bytes(gzip.compress(csv(*GOOD).replace(",", "\t").encode()))
    collected, _ = collect_and_clean(path)
    assert len(collected.transactions) == 3


def test_timestamps_with_utc_offsets_keep_the_shop_clock(tmp_path):
    path = write(tmp_path, csv("c1,o1,2024-03-01T23:30:00+02:00,1,10", "c2,o2,2024-03-01 08:00:00 UTC,1,10"))
    collected, _ = collect_and_clean(path)
    assert collected.transactions["order_date"].dt.strftime("%d %H:%M").tolist() == ["01 23:30", "01 08:00"]


def test_exclusions_applied_at_collection_by_id_and_email(tmp_path):
    path = write(
        tmp_path,
        csv(
            "c1,o1,2024-03-01,1,10,a@x.org",
            "c2,o2,2024-03-02,1,10,B@X.org",
            "c3,o3,2024-03-03,1,10,c@x.org",
            header=HEADER + ",email",
        ),
    )
    optouts = write(tmp_path, "customer_id,email\nc1,\n,b@x.org\n", "optouts.csv")
    collected, cleaned = collect_and_clean(path, exclusions=str(optouts))
    assert collected.transactions["customer_id"].tolist() == ["c3"] and collected.contacts["customer_id"].tolist() == [
        "c3"
    ]
    assert (collected.excluded_customers, collected.excluded_lines) == (2, 2)


def test_a_file_too_large_for_the_memory_is_refused_before_reading(tmp_path):
    """A real address-space limit (ulimit -v) in a child process: the 30 MB file would need about
    390 MB, the child is allowed 100 MB more than it already uses."""
    import subprocess
    import sys

    path = write(tmp_path, csv(*(GOOD * 400_000)))
    code = f"""
import re, resource
from pathlib import Path
from segment_workbench.io.collect import collect
from segment_workbench.errors import ConfigError, InputError
used = int(re.search(r"VmSize:\\s+(\\d+) kB", Path("/proc/self/status").read_text()).group(1)) * 1024
resource.setrlimit(resource.RLIMIT_AS, (used + 100_000_000, resource.RLIM_INFINITY))
try:
    collect({{"kind": "csv", "path": {str(path)!r}}})
except InputError as e:
    print(e)
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("The file is too large to read here: 0.03 GB") and "what to do:" in proc.stdout


# --- customers files, surveys, customer tables and visit logs (issue 24) ------------------------


def collect_with(tmp_path: Path, orders: Path, **sections):
    """01_collect with a customers and/or survey section (each a dict with a path)."""
    from segment_workbench.config import validated

    cfg = validated({"source": {"kind": "csv", "path": str(orders)}, **sections})
    return collect(cfg.source, customers=cfg.customers, survey=cfg.survey)


def test_customers_file_with_duplicate_ids(tmp_path):
    orders = write(tmp_path, csv(*GOOD))
    people = write(tmp_path, "customer_id,gender\nc1,female\nc2,male\nc1,male\n", "customers.csv")
    with pytest.raises(InputError) as err:
        collect_with(tmp_path, orders, customers={"kind": "csv", "path": str(people)})
    assert_clear(err, people, "customer_id", "1 customer id(s) appear on more than one row", "customers.duplicates")
    # with the switch, the first row of each id is kept and the handling logged
    kept = collect_with(tmp_path, orders, customers={"kind": "csv", "path": str(people), "duplicates": "first"})
    assert kept.attributes.table.set_index("customer_id")["gender"].to_dict() == {"c1": "female", "c2": "male"}
    assert "1 duplicate row(s) of 1 id(s) left out" in " ".join(kept.attributes.info["note"])


def test_customers_file_whose_ids_match_no_order(tmp_path):
    orders = write(tmp_path, csv(*GOOD))
    people = write(tmp_path, "id,gender\n1001,female\n1002,male\n", "customers.csv")
    with pytest.raises(InputError) as err:
        collect_with(tmp_path, orders, customers={"kind": "csv", "path": str(people), "columns": {"customer_id": "id"}})
    assert_clear(err, people, "customer_id", "None of the 2 customer ids", "1001", "c1", "customers.columns")
    # some matching: the others are counted and kept out
    people = write(tmp_path, "id,gender\nc1,female\n1002,male\n", "customers.csv")
    kept = collect_with(
        tmp_path, orders, customers={"kind": "csv", "path": str(people), "columns": {"customer_id": "id"}}
    )
    assert kept.attributes.table["customer_id"].tolist() == ["c1"]
    assert "1 of 2 customers have orders; the attributes of the 1 without orders are kept out" in kept.notes[-1]


def test_customers_file_holding_emails_keeps_them_out_of_the_attributes(tmp_path):
    orders = write(tmp_path, csv(*GOOD))
    people = write(
        tmp_path,
        "customer_id,Full Name,contact,region,Accepts Marketing\n"
        "c1,Ann Lee,ann@example.com,North,yes\nc2,Bo Chan,bo@example.org,South,no\n",
        "customers.csv",
    )
    collected = collect_with(tmp_path, orders, customers={"kind": "csv", "path": str(people)})
    attributes, info = collected.attributes, collected.attributes.info
    assert list(attributes.table.columns) == ["customer_id", "region"]  # the e-mails found by their content
    assert info.set_index("column").loc[["full_name", "contact", "accepts_marketing"], "kind"].eq("personal").all()
    contacts = collected.contacts.set_index("customer_id")
    assert contacts.loc["c1", "email"] == "ann@example.com" and bool(contacts.loc["c1", "consent"])
    assert not bool(contacts.loc["c2", "consent"])


def test_survey_with_text_answers(tmp_path):
    orders = write(tmp_path, csv(*GOOD))
    answers = write(tmp_path, "customer_id,q1_price,q2_quality\nc1,4,2\nc2,5,agree\n", "survey.csv")
    with pytest.raises(InputError) as err:
        collect_with(tmp_path, orders, survey={"kind": "csv", "path": str(answers)})
    assert_clear(err, answers, "q2_quality", "text answers (agree)", "Code the answers as numbers")


def test_customer_table_with_negative_spend_is_removed_and_logged(tmp_path):
    table = write(
        tmp_path,
        "id,recency,orders,spend,region\n1,10,3,120.5,North\n2,40,1,-35,South\n3,5,2,80,North\n",
        "customers.csv",
    )
    source = {
        "kind": "csv",
        "path": str(table),
        "level": "customers",
        "columns": {
            "customer_id": "id",
            "days_since_last_order": "recency",
            "n_orders": "orders",
            "revenue_total": "spend",
        },
    }
    with pytest.raises(ConfigError, match="set as_of to the day its recency"):  # no date to infer "now" from
        collect(source)
    collected = collect(source, as_of=AS_OF)
    cleaned = cleaning.clean(collected.transactions, AS_OF, file=str(table), rules=cleaning.CUSTOMER_RULES)
    assert removed(cleaned, "negative_value") == 1
    assert cleaned.removed.loc[cleaned.removed["reason"] == "negative_value", "customer_id"].tolist() == ["2"]
    assert cleaned.transactions["customer_id"].tolist() == ["1", "3"]
    table = customers.from_customer_level(cleaned.transactions, pd.Timestamp(AS_OF))
    assert table["avg_order_value"].tolist() == [120.5 / 3, 40.0]
    assert table["last_purchase"].tolist() == [pd.Timestamp("2024-12-21"), pd.Timestamp("2024-12-26")]


def test_visit_log_whose_dates_are_all_one_day(tmp_path):
    path = write(tmp_path, "customer,day\nA,2024-05-01\nB,2024-05-01\nC,2024-05-01\n", "visits.csv")
    collected, cleaned = collect_and_clean(path, columns={"customer_id": "customer", "order_date": "day"})
    assert collected.value_unit == "visits"
    with pytest.raises(InputError) as err:
        customers.check_span(cleaned.transactions, str(path))
    assert_clear(err, path, "order_date", "dated 2024-05-01", "nobody can have come back", "Export a longer period")


# --- campaign outcome files (issue 25) -----------------------------------------------------------

OUTCOME_HEADER = "arm,visit,spend,area"


def outcome_file(tmp_path: Path, *lines: str, header: str = OUTCOME_HEADER, **settings):
    from segment_workbench.config import validated
    from segment_workbench.io.outcome_file import read_outcomes

    path = write(tmp_path, "\n".join([header, *lines]) + "\n", "test.csv")
    section = {"kind": "outcomes", "path": str(path), "arm": "arm", "control": "none", "binary": ["visit"]}
    section.update(amount="spend", segments=["area"], **settings)
    return path, lambda: read_outcomes(validated({"campaign": section}).campaign)


def test_outcome_file_whose_arms_have_no_control(tmp_path):
    path, read = outcome_file(tmp_path, "mail,1,10,north", "sms,0,0,south")
    with pytest.raises(InputError) as err:
        read()
    assert_clear(err, path, "arm", "No row has the control arm 'none'", "mail, sms", "campaign.control")


def test_outcome_column_with_values_other_than_0_and_1(tmp_path):
    path, read = outcome_file(tmp_path, "none,1,10,north", "mail,yes,0,south", "mail,2,5,north")
    with pytest.raises(InputError) as err:
        read()
    assert_clear(err, path, "visit", "must be 0 or 1; 2 row(s) hold other values (yes, 2)", "campaign.amount")


def test_outcome_file_with_spend_below_zero(tmp_path):
    path, read = outcome_file(tmp_path, "none,1,10,north", "mail,1,-4.5,south")
    with pytest.raises(InputError) as err:
        read()
    assert_clear(err, path, "spend", "1 value(s) of spend are below zero", "Net refunds out")


def test_outcome_file_without_the_arm_column(tmp_path):
    path, read = outcome_file(tmp_path, "1,10,north", header="visit,spend,area")
    with pytest.raises(InputError) as err:
        read()
    assert_clear(err, path, "arm", "The file has no column 'arm' (campaign.arm)", "visit")


def test_outcome_file_with_very_unequal_arms_is_read_with_a_warning_about_the_split(tmp_path):
    lines = ["none,0,0,north"] * 10 + ["mail,1,5,south"] * 40
    _, read = outcome_file(tmp_path, *lines)
    outcomes = read()  # not a stop
    assert outcomes.arms == ["none", "mail"] and len(outcomes.data) == 50
    assert outcomes.notes == [
        "The arms are of very unequal size (mail: 40, none: 10): check that customers were split at random. "
        "The comparisons stay valid, but the smallest arm limits what can be detected."
    ]
