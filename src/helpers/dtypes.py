"""Column dtypes shared by every step."""

import pandas as pd

#: Every text column (ids, names, categories): Arrow-backed strings, so string operations run
#: vectorized in Arrow and ``helpers.engine`` hands them to DuckDB without re-encoding.
TEXT = pd.StringDtype("pyarrow")
