"""Errors a user can act on, one hierarchy: ``WorkbenchError`` and its kinds ``ConfigError`` (the
configuration), ``InputError`` (the data: names the file, the column, example rows and what to
do) and ``NotFittedError`` (a model used before it was fitted)."""

from __future__ import annotations

import pandas as pd

MAX_EXAMPLE_ROWS = 5


class WorkbenchError(Exception):
    """Base class for every error the workbench reports to a user as a readable message."""


class ConfigError(WorkbenchError):
    """The run configuration is invalid (unknown key, bad value, missing file)."""


class NotFittedError(WorkbenchError, ValueError, AttributeError):
    """A model was used before ``fit()`` (as scikit-learn's NotFittedError: also a ValueError
    and an AttributeError)."""


class InputError(WorkbenchError, ValueError):
    """Input data that cannot be used as it is.

    Parameters
    ----------
    problem : what is wrong, in one sentence.
    file : the input file (or source description) it was found in.
    column : the column concerned, if any.
    rows : example rows; at most five are shown. A ``source_row`` column, when present,
        is the 1-based data row number in the source (the header is not counted).
    hint : what the user should do about it.
    """

    def __init__(
        self,
        problem: str,
        *,
        file: str | None = None,
        column: str | None = None,
        rows: pd.DataFrame | None = None,
        hint: str | None = None,
    ):
        self.problem = problem
        self.file = file
        self.column = column
        self.rows = None if rows is None else rows.head(MAX_EXAMPLE_ROWS)
        self.hint = hint
        super().__init__(self.message())

    def message(self) -> str:
        lines = [self.problem]
        if self.file:
            lines.append(f"  file:   {self.file}")
        if self.column:
            lines.append(f"  column: {self.column}")
        if self.rows is not None and len(self.rows):
            lines.append("  example rows:")
            table = self.rows.to_string(index=False, max_colwidth=40)
            lines.extend("    " + line for line in table.splitlines())
        if self.hint:
            lines.append(f"  what to do: {self.hint}")
        return "\n".join(lines)
