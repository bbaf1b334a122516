"""Column dtypes shared by every step."""

import pandas as pd

#: Text columns (ids, names): Arrow-backed strings, so string operations run vectorized in
#: Arrow and ``segment_workbench.customers.engine`` hands them to DuckDB without re-encoding. Order-line columns
#: with few distinct values (``schema.LABELS``: product, category, country, ...) are pandas
#: categoricals whose categories are ``TEXT``.
TEXT = pd.StringDtype("pyarrow")
