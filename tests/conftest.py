"""Shared fixtures: paths, the real datasets beside the project, tiny hand-made frames."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from helpers import report, schema
from helpers.config import PROJECT_ROOT

TEST_DATA = Path(__file__).parent / "data"
SHARED_DATA = PROJECT_ROOT.parent / "shared" / "data"


@pytest.fixture
def shared_data() -> Path:
    """../shared/data with the real datasets; the test is skipped where it is absent."""
    if not (SHARED_DATA / "online_retail.csv.gz").is_file():
        pytest.skip(f"real datasets not found at {SHARED_DATA} (they sit beside the project's "
                    "repository in the development workspace, not in a user's clone)")
    return SHARED_DATA


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


N_CUSTOMERS = 300


def write_config(tmp_path: Path, name: str = "shop", **source) -> Path:
    """A config for a small demo run (or the given source) named ``name``."""
    source = source or {"kind": "synthetic", "n_customers": N_CUSTOMERS, "seed": 11}
    path = tmp_path / f"{name}.yaml"
    lines = [f"run_name: {name}", 'as_of: "2025-12-31"', 'currency: "£"', "source:"]
    lines += [f"  {k}: {json.dumps(v)}" for k, v in source.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory):
    """The whole pipeline on a 300-customer demo shop, once per test worker."""
    tmp = tmp_path_factory.mktemp("run")
    return tmp, report.run(write_config(tmp), reports_root=tmp / "reports")


def _postgres_bin() -> Path | None:
    """Directory of initdb/pg_ctl: Debian's /usr/lib/postgresql/<version>/bin, else the PATH."""
    import shutil

    debian = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parent.parent.name))
    found = debian[-1] if debian else (Path(shutil.which("initdb")) if shutil.which("initdb") else None)
    return found.parent if found else None


@pytest.fixture(scope="session")
def postgres():
    """A throwaway PostgreSQL server on loopback (initdb + pg_ctl in a temp dir, a free port,
    password authentication); yields its SQLAlchemy URL and removes everything afterwards.
    As root the server runs as the ``postgres`` user (PostgreSQL refuses to run as root)."""
    import os
    import shutil
    import socket
    import subprocess
    import tempfile

    bindir = _postgres_bin()
    if bindir is None:
        pytest.skip("PostgreSQL server programs not found (Debian package 'postgresql'; `make test` installs it when run as root)")
    as_user: list[str] = []
    root = Path(tempfile.mkdtemp(prefix="workbench-pg-"))
    if os.geteuid() == 0:
        as_user = ["runuser", "-u", "postgres", "--"]
        shutil.chown(root, "postgres", "postgres")
    password = "s3cret-Pa55-for-tests"
    (root / "pw").write_text(password)
    if as_user:
        shutil.chown(root / "pw", "postgres", "postgres")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    run = lambda *args: subprocess.run(as_user + [str(bindir / args[0]), *args[1:]], check=True, capture_output=True, text=True)  # noqa: E731
    run("initdb", "-D", str(root / "data"), "-U", "workbench", "--auth=scram-sha-256", f"--pwfile={root / 'pw'}", "-E", "UTF8")
    run("pg_ctl", "-D", str(root / "data"), "-l", str(root / "log"), "-w", "-o",
        f"-p {port} -c listen_addresses=127.0.0.1 -k {root}", "start")
    try:
        yield f"postgresql+psycopg://workbench:{password}@127.0.0.1:{port}/postgres"
    finally:
        run("pg_ctl", "-D", str(root / "data"), "-m", "immediate", "-w", "stop")
        shutil.rmtree(root, ignore_errors=True)
