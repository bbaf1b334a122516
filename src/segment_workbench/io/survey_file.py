"""A survey file: one row per respondent (``customer_id``) and one column per Likert item.

Answers must be numbers on one scale (1-5, 0-10, ...): ``survey.scale`` or, when unset, the
lowest and highest answer given. Items worded the other way round (``survey.reverse``) are
recoded ``low + high - x`` so that a high answer means the same on every item. Answers off the
scale count as missing. Respondents missing more than ``survey.max_missing`` of the items are
left out; a remaining missing answer is replaced by the item's median (a simple, documented
imputation that keeps every respondent with most answers; it pulls factor scores slightly to
the middle). Every such handling is returned as a sentence.
"""

from __future__ import annotations

import pandas as pd

from segment_workbench.config import SurveyConfig
from segment_workbench.errors import InputError
from segment_workbench.io import schema
from segment_workbench.io.mapping import find_column


def prepare_answers(df: pd.DataFrame, settings: SurveyConfig, file: str) -> tuple[pd.DataFrame, list[str]]:
    """customer_id and the items as floats on one scale, reverse items recoded, missing answers
    handled (module docstring); and the sentences saying what was done. Raises InputError for a
    missing id column, repeated ids, text answers or an unknown reverse item."""
    id_column = find_column(
        df,
        settings.columns.get("customer_id", "customer_id"),
        file,
        "the respondent's customer id",
        "Map it in the config: survey.columns: {customer_id: YourColumn}.",
    )
    ids = schema.normalize_ids(df[id_column])
    repeated = ids.duplicated(keep=False) & ids.notna()
    if repeated.any():
        raise InputError(
            f"{int(ids[repeated].nunique())} respondent id(s) appear on more than one row of the survey file.",
            file=file,
            column=str(id_column),
            rows=df[repeated.to_numpy()].head(6),
            hint="Keep one row per respondent (for example their latest answers).",
        )
    items = [c for c in df.columns if c != id_column and c != "source_row"]
    answers = pd.DataFrame({str(c): schema.parse_numbers(df[c]).to_numpy() for c in items}, index=df.index)
    for column in items:
        text = schema._as_text(df[column])
        unread = text.notna() & answers[str(column)].isna()
        if unread.any():
            raise InputError(
                f"The survey item {column} holds text answers ({', '.join(text[unread].drop_duplicates().head(3))}); "
                "items must be numbers on one scale.",
                file=file,
                column=str(column),
                rows=df.loc[unread, [id_column, column]].head(5),
                hint="Code the answers as numbers (for example 1 = strongly disagree ... 5 = strongly agree), "
                "or remove the column from the file.",
            )
    unknown = [c for c in settings.reverse if c not in answers]
    if unknown:
        raise InputError(
            f"survey.reverse names item(s) the survey file does not have: {', '.join(unknown)}.",
            file=file,
            column=", ".join(unknown),
            hint=f"The items are {list(answers.columns)}.",
        )
    notes = []
    low, high = settings.scale or (float(answers.min().min()), float(answers.max().max()))
    off = answers.notna() & ((answers < low) | (answers > high))
    if off.any().any():
        notes.append(f"{int(off.sum().sum())} answer(s) outside the scale {low:g}-{high:g} counted as missing.")
        answers = answers.mask(off)
    for column in settings.reverse:
        answers[column] = low + high - answers[column]
    if settings.reverse:
        notes.append(f"Reverse-worded item(s) recoded ({low:g} + {high:g} - answer): {', '.join(settings.reverse)}.")
    answers.insert(0, "customer_id", ids.to_numpy())
    answers = answers[answers["customer_id"].notna()]
    share_missing = answers[answers.columns[1:]].isna().mean(axis=1)
    too_few = share_missing > settings.max_missing
    if too_few.any():
        notes.append(
            f"{int(too_few.sum())} respondent(s) left out: more than {settings.max_missing:.0%} of the items unanswered."
        )
        answers = answers[~too_few]
    gaps = int(answers[answers.columns[1:]].isna().sum().sum())
    if gaps:
        answers = answers.fillna(answers[answers.columns[1:]].median())
        notes.append(f"{gaps} missing answer(s) replaced by the item's median answer.")
    return answers.reset_index(drop=True), notes
