"""Sales month by month against the year before, and the valuable-and-slipping audience, by hand."""

import numpy as np
import pandas as pd

from segment_workbench.customers import engine
from segment_workbench.lifecycle.trend import monthly_sales
from segment_workbench.segmentation import targeting


def test_monthly_sales_with_the_same_month_a_year_earlier():
    dates = pd.to_datetime(["2024-01-15", "2024-02-10", "2025-01-20", "2025-02-05", "2025-02-20"])
    lines = pd.DataFrame({"customer_id": "a", "order_date": dates, "amount": [10.0, 20.0, 30.0, 5.0, 5.0]})
    totals = engine.monthly_amounts(engine.lines_table(lines))
    assert totals.to_dict() == {
        pd.Period(m): v for m, v in [("2024-01", 10), ("2024-02", 20), ("2025-01", 30), ("2025-02", 10)]
    }
    table = monthly_sales(totals, dates.min(), pd.Timestamp("2025-02-20"))
    assert [m.strftime("%Y-%m") for m in table["month"]] == [
        f"{y}-{m:02d}" for y, m in [(2024, 3), *[(2024, m) for m in range(4, 13)], (2025, 1), (2025, 2)]
    ]
    rows = table.set_index(table["month"].astype(str))
    assert rows.loc["2025-02", "sales"] == 10 and rows.loc["2025-02", "sales_year_before"] == 20
    assert rows.loc["2025-02", "partial"]  # the report date is the 20th
    # January 2024 is not a whole month of data (it starts on the 15th): no comparison
    assert rows.loc["2025-01", "sales"] == 30 and np.isnan(rows.loc["2025-01", "sales_year_before"])
    assert rows.loc["2024-06", "sales"] == 0 and np.isnan(rows.loc["2024-06", "sales_year_before"])
    assert not rows.loc["2025-01", "partial"]


def test_valuable_and_slipping_audience(tmp_path):
    customers = pd.DataFrame({"customer_id": [f"c{i}" for i in range(10)], "revenue_total": [100, 90, *range(8)]})
    values = pd.DataFrame(
        {
            "customer_id": customers["customer_id"],
            "p_purchase_90d": [0.3, 0.9, *[0.1] * 8],
            "p_alive": 0.5,
            "clv": 1.0,
        }
    )
    contacts = pd.DataFrame({"customer_id": ["c0", "c1"], "email": ["a@x.org", "b@x.org"], "consent": [False, True]})
    out = targeting.write_slipping_audience(customers, values, contacts, tmp_path)
    # the top 20% by revenue are c0 and c1; only c0's chance is below one in two; no consent, no e-mail
    assert out["customer_id"].tolist() == ["c0"] and out["email"].isna().all()
    written = pd.read_csv(tmp_path / targeting.SLIPPING_FILE)
    assert written["customer_id"].tolist() == ["c0"] and "p_purchase_90d" in written
