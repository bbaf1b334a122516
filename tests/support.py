"""Test utilities shared by the test modules: paths, tiny hand-made frames, small configs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from segment_workbench.io import schema

REPO = Path(__file__).resolve().parents[1]
TEST_DATA = Path(__file__).parent / "data"
SHARED_DATA = REPO.parent / "shared" / "data"
N_CUSTOMERS = 300
AS_OF = pd.Timestamp("2025-12-31")


def make_tx(rows: list[dict]) -> pd.DataFrame:
    """Typed transactions (as 01_collect writes them) from a few hand-written lines.

    Each row needs customer_id, order_id, order_date (text), quantity, unit_price; other
    contract columns are optional. ``source_row`` is the 1-based position.
    """
    df = pd.DataFrame(rows)
    df.insert(0, "source_row", range(1, len(df) + 1))
    for col in ("customer_id", "order_id", *schema.LABELS):
        if col in df:
            df[col] = df[col].astype("string")
            if col in schema.LABELS:
                df[col] = df[col].astype("category")
    df["order_date"] = pd.to_datetime(df["order_date"], format="mixed")
    df["quantity"] = df["quantity"].astype(float)
    df["unit_price"] = df["unit_price"].astype(float)
    df["amount"] = df["quantity"] * df["unit_price"]
    return df


def write_config(tmp_path: Path, name: str = "shop", **source) -> Path:
    """A config for a small demo run (or the given source) named ``name``."""
    source = source or {"kind": "synthetic", "n_customers": N_CUSTOMERS, "seed": 11}
    path = tmp_path / f"{name}.yaml"
    lines = [f"run_name: {name}", 'as_of: "2025-12-31"', 'currency: "£"', "source:"]
    lines += [f"  {k}: {json.dumps(v)}" for k, v in source.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def assert_gradient_matches(model, params, data, rtol: float = 1e-6, atol_share: float = 1e-9) -> None:
    """A likelihood model's per-row analytic gradient at ``params`` against 4th-order central
    differences of its log-likelihood (steps of 1e-4 relative)."""
    params = np.asarray(params, float)
    gradients = model._gradients(params, *data)
    for i in range(len(params)):
        step = np.eye(len(params))[i] * 1e-4 * params[i]
        ll = [model._log_likelihoods(params + k * step, *data) for k in (-2, -1, 1, 2)]
        numeric = (ll[0] - 8 * ll[1] + 8 * ll[2] - ll[3]) / (12 * step[i])
        np.testing.assert_allclose(gradients[:, i], numeric, rtol=rtol, atol=atol_share * np.abs(numeric).max())
