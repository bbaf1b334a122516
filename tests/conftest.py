"""Shared fixtures: the real datasets beside the project, the demo shop, a demo run, PostgreSQL.
Utilities the tests import live in ``support.py``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
from support import AS_OF, SHARED_DATA, write_config

from segment_workbench.app import runner
from segment_workbench.cleaning import rules as cleaning
from segment_workbench.cleaning.rules import CleaningResult
from segment_workbench.customers.table import build_customer_table
from segment_workbench.io.collect import Collected, collect
from segment_workbench.segmentation.pipeline import Segmentation, segment_customers


@pytest.fixture
def shared_data() -> Path:
    """../shared/data with the real datasets; the test is skipped where it is absent."""
    if not (SHARED_DATA / "online_retail.csv.gz").is_file():
        pytest.skip(
            f"real datasets not found at {SHARED_DATA} (they sit beside the project's "
            "repository in the development workspace, not in a user's clone)"
        )
    return SHARED_DATA


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory):
    """The whole pipeline on a 300-customer demo shop, once per test worker."""
    tmp = tmp_path_factory.mktemp("run")
    return tmp, runner.run(write_config(tmp), reports_root=tmp / "reports")


@dataclass
class DemoShop:
    """The 3,000-customer demo shop taken through collection, cleaning, the customer table and
    segmentation (seed 42, as of 2025-12-31)."""

    collected: Collected
    cleaned: CleaningResult
    customers: pd.DataFrame
    segmentation: Segmentation


@pytest.fixture(scope="session")
def demo_shop() -> DemoShop:
    collected = collect({"kind": "synthetic", "n_customers": 3000, "seed": 42})
    cleaned = cleaning.clean(collected.transactions, AS_OF)
    table = build_customer_table(cleaned.transactions, AS_OF)
    return DemoShop(collected, cleaned, table, segment_customers(table, cleaned.removed, random_state=42))


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
        pytest.skip(
            "PostgreSQL server programs not found (Debian package 'postgresql'; `make test` installs it when run as root)"
        )
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

    def run(*args):
        return subprocess.run(as_user + [str(bindir / args[0]), *args[1:]], check=True, capture_output=True, text=True)

    run(
        "initdb",
        "-D",
        str(root / "data"),
        "-U",
        "workbench",
        "--auth=scram-sha-256",
        f"--pwfile={root / 'pw'}",
        "-E",
        "UTF8",
    )
    run(
        "pg_ctl",
        "-D",
        str(root / "data"),
        "-l",
        str(root / "log"),
        "-w",
        "-o",
        f"-p {port} -c listen_addresses=127.0.0.1 -k {root}",
        "start",
    )
    try:
        yield f"postgresql+psycopg://workbench:{password}@127.0.0.1:{port}/postgres"
    finally:
        run("pg_ctl", "-D", str(root / "data"), "-m", "immediate", "-w", "stop")
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def spark():
    """A local Spark session (2 cores) for the engine's tests. Java comes from Debian's packages
    (`make system-deps`); without it the tests are skipped, except in CI, where they must run."""
    import os
    import shutil

    if shutil.which("java") is None:
        message = "Java not found (Debian package 'default-jre-headless'; `make test` installs it when run as root)"
        if os.environ.get("CI"):
            pytest.fail(message + ": the Spark tests must run in CI")
        pytest.skip(message)
    from segment_workbench.customers import engine

    session = engine.spark_session("local[2]", **{"spark.sql.shuffle.partitions": "2"})
    yield session
    session.stop()


#: Fixtures that execute notebooks or start a database or Spark: a test using one is slow (left
#: out by ``make test-fast``), and shares a worker with the tests using the same fixture.
SLOW_FIXTURES = {"demo_run", "postgres", "spark"}


def pytest_collection_modifyitems(items):
    for item in items:
        used = SLOW_FIXTURES & set(item.fixturenames)
        if used:
            item.add_marker(pytest.mark.slow)
            item.add_marker(pytest.mark.xdist_group("spark" if "spark" in used else "runner"))
