"""Customer attributes, survey answers and the profiles built on them: typed by kind, odd values
logged, personal data kept out, mixes that add up."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from segment_workbench.config import CustomersFileConfig, SurveyConfig
from segment_workbench.errors import InputError
from segment_workbench.io.attributes import band_order, type_attributes
from segment_workbench.io.survey_file import prepare_answers
from segment_workbench.segmentation import profiles
from segment_workbench.segmentation.survey import needs_segments, parallel_analysis

AS_OF = pd.Timestamp("2024-12-31")


def people(n: int = 40) -> pd.DataFrame:
    """n customers with one of every kind of column (as read: text)."""
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {
            "ID": [f"{i}.0" for i in range(n)],
            "Year_Birth": [str(1980 + i % 30) for i in range(n)],
            "Income": [str(40_000 + 500 * (i % 40)) for i in range(n)],
            "Income band": rng.choice(["100-149K", "<25K", "25-49K", "50-99K", "150K+"], n),
            "Marital_Status": ["Married"] * (n // 2) + ["Single"] * (n - n // 2),
            "Kids": [str(i % 3) for i in range(n)],
            "Member": [str(i % 2) for i in range(n)],
            "Postcode": [f"sw{i % 9} 1aa" for i in range(n)],
            "Signed up": ["2023-01-15"] * n,
            "Phone": ["+44 20 7946 0000"] * n,
        }
    )


def test_each_column_gets_its_kind():
    table = type_attributes(people(), "people.csv", CustomersFileConfig(columns={"customer_id": "ID"}), AS_OF)
    kinds = table.kinds()
    assert kinds == {
        "age_band": "band",
        "income": "number",
        "income_band": "band",
        "marital_status": "category",
        "kids": "number",
        "member": "flag",
        "postcode_prefix": "geography",
        "signup_date": "date",
        "phone": "personal",
    }
    frame = table.table
    assert frame["customer_id"].tolist()[:3] == ["0", "1", "2"]  # "0.0" written by a spreadsheet
    assert list(frame["income_band"].cat.categories) == ["<25K", "25-49K", "50-99K", "100-149K", "150K+"]
    assert frame["income_band"].cat.ordered
    # born 1980 -> 44 on 2024-12-31; born 2009 -> 15
    assert frame.loc[0, "age_band"] == "35-44" and frame.loc[29, "age_band"] == "under 18"
    assert frame["postcode_prefix"].iloc[0] == "SW" and "phone" not in frame


def test_band_order_is_by_number_not_alphabet():
    assert band_order(pd.Series(["65+", "18-24", "under 18", "35-44", "25-34"])) == [
        "under 18",
        "18-24",
        "25-34",
        "35-44",
        "65+",
    ]
    assert band_order(pd.Series(["2) $100 - $200", "10) $2,000 +", "1) $0 - $100"])) == [
        "1) $0 - $100",
        "2) $100 - $200",
        "10) $2,000 +",
    ]


def test_odd_values_are_logged_and_set_missing_or_stop():
    df = people(1000)
    df.loc[0, "Year_Birth"] = "1893"
    df.loc[1, "Income"] = "666666"
    df.loc[2:3, "Marital_Status"] = "YOLO"
    settings_ = CustomersFileConfig(columns={"customer_id": "ID"})
    table = type_attributes(df, "people.csv", settings_, AS_OF)
    notes = table.info.set_index("column")["note"]
    assert pd.isna(table.table.loc[0, "age_band"]) and "1893" in notes["age_band"]
    assert pd.isna(table.table.loc[1, "income"]) and "666666" in notes["income"]
    assert table.table.loc[2, "marital_status"] == "Other" and "YOLO (2)" in notes["marital_status"]
    assert table.info.set_index("column").loc["income", "customers_with_value"] == 999
    with pytest.raises(InputError, match="implausible value"):
        type_attributes(df, "people.csv", settings_.model_copy(update={"implausible": "error"}), AS_OF)


def test_codes_get_labels_and_unknown_codes_are_logged():
    df = pd.DataFrame({"Id": ["1", "2", "3"], "Gender": ["0", "1", "7"]})
    settings_ = CustomersFileConfig(columns={"customer_id": "Id"}, labels={"Gender": {"0": "male", "1": "female"}})
    table = type_attributes(df, "cov.csv", settings_)
    assert table.table["gender"].tolist()[:2] == ["male", "female"] and pd.isna(table.table["gender"].iloc[2])
    assert "1 value(s) without a label set missing: 7" in table.info["note"].iloc[0]


def test_survey_reverse_items_scale_and_missing_answers():
    raw = pd.DataFrame(
        {
            "customer_id": ["a", "b", "c", "d"],
            "q1": ["1", "5", "3", ""],
            "q2": ["2", "", "4", ""],
            "q3": ["5", "4", "9", ""],  # 9 is off the 1-5 scale
        }
    )
    answers, notes = prepare_answers(raw, SurveyConfig(scale=(1, 5), reverse=["q1"]), "survey.csv")
    assert answers["customer_id"].tolist() == ["a", "b", "c"]  # d answered nothing
    assert answers["q1"].tolist() == [5.0, 1.0, 3.0]  # 1 + 5 - answer
    assert answers["q2"].tolist() == [2.0, 3.0, 4.0]  # b's missing answer: the item's median
    assert answers["q3"].tolist() == [5.0, 4.0, 4.5]  # off the scale, then the median
    assert any("outside the scale" in n for n in notes) and any("left out" in n for n in notes)


def planted_survey(n: int = 600, factors: int = 3, items: int = 4, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    latent = rng.standard_normal((n, factors))
    columns = {}
    for f in range(factors):
        for i in range(items):
            columns[f"q{f * items + i + 1}_need{f}_item{i}"] = latent[:, f] + 0.6 * rng.standard_normal(n)
    return pd.DataFrame({"customer_id": [f"c{i}" for i in range(n)], **columns})


def test_parallel_analysis_finds_the_planted_factors():
    survey = planted_survey()
    assert parallel_analysis(survey.drop(columns="customer_id")) == 3
    needs = needs_segments(survey)
    assert needs.n_factors == 3 and needs.chosen_by == "parallel analysis"
    # each factor is named after items of one planted need
    for name in needs.loadings.columns:
        assert len({part.split("item")[0] for part in name.split(" / ")}) == 1, name
    assert needs_segments(survey, n_factors=2).chosen_by == "the config"


def test_mix_coverage_and_what_sets_a_segment_apart():
    segment = pd.Series(["A"] * 6 + ["B"] * 4, index=[f"c{i}" for i in range(10)])
    attributes = pd.DataFrame(
        {
            "customer_id": [f"c{i}" for i in range(12)],  # c10, c11 have no orders
            "gender": ["f", "f", "f", "f", "m", None, "m", "m", "m", "f", "f", "m"],
        }
    )
    mix = profiles.attribute_mix(segment, attributes, {"gender": "category"})
    a = mix[mix["segment"] == "A"].set_index("value")
    assert a.loc["f", "share"] == pytest.approx(0.8) and a["with_value"].iloc[0] == 5 and a["customers"].iloc[0] == 6
    overall = mix[mix["segment"] == profiles.ALL].set_index("value")
    assert overall.loc["f", "share"] == pytest.approx(5 / 9)  # c10, c11 left out
    assert profiles.coverage_sentence(mix, "gender") == "9 of 10 customers have a gender."
    traits = profiles.distinctive_traits(mix, min_points=0.1, min_ratio=1.2)
    assert traits == {}  # fewer than 10 customers with a value: no claim
    big = pd.concat([attributes.assign(customer_id=attributes["customer_id"] + f"_{k}") for k in range(3)])
    big_segment = pd.concat([segment.rename(lambda c, k=k: f"{c}_{k}") for k in range(3)])
    traits = profiles.distinctive_traits(profiles.attribute_mix(big_segment, big, {"gender": "category"}))
    assert traits == {"A": ["gender f: 80% (all customers: 56%)"], "B": ["gender m: 75% (all customers: 44%)"]}


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from("ABC"), st.sampled_from(["x", "y", "z", "Other", None])), min_size=1, max_size=60
    ),
    st.integers(1, 4),
)
def test_every_segment_s_shares_add_up_to_one(rows, max_values):
    """Also when the data hold an "Other" of their own and the rarer values are pooled into it."""
    ids = [f"c{i}" for i in range(len(rows))]
    segment = pd.Series([s for s, _ in rows], index=ids)
    attributes = pd.DataFrame({"customer_id": ids, "v": [v for _, v in rows]})
    mix = profiles.attribute_mix(segment, attributes, {"v": "category"}, max_values=max_values)
    assert not mix.duplicated(["segment", "value"]).any()
    profiles.distinctive_traits(mix)
    for _, part in mix.groupby("segment"):
        assert part["share"].sum() == pytest.approx(1.0)
        assert part["with_value"].iloc[0] <= part["customers"].iloc[0]
    known = sum(v is not None for _, v in rows)
    if known:
        assert mix.loc[mix["segment"] == profiles.ALL, "with_value"].iloc[0] == known


def test_response_rates_per_segment():
    customers = pd.DataFrame({"response_spring": [1.0, 0.0, 1.0, 1.0], "response_last_campaign": [0.0, 0.0, 1.0, 0.0]})
    segment = pd.Series(["A", "A", "B", "B"])
    rates = profiles.response_rates(customers, segment).set_index("segment")
    assert rates.loc["All customers", "spring"] == 0.75 and rates.loc["A", "spring"] == 0.5
    assert rates.loc["B", "last campaign"] == 0.5 and rates.loc["B", "customers"] == 2
