"""Reliability of runs: killed runs, identical artifacts across runs and parallelism, the
exclusion list, and a real PostgreSQL source whose secret never reaches an artifact."""

from __future__ import annotations

import hashlib
import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from support import N_CUSTOMERS

from segment_workbench.app import runner
from segment_workbench.datasets import synthetic

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("runner")]


def _config(folder: Path, name: str, body: str) -> Path:
    path = folder / f"{name}.yaml"
    path.write_text(f"run_name: {name}\nas_of: '2025-12-31'\n{body}")
    return path


def _hashes(run_dir: Path) -> dict[str, str]:
    """sha256 of every artifact (data/ and audiences/), by path inside the run."""
    files = [p for sub in ("data", "audiences") for p in sorted((run_dir / sub).rglob("*")) if p.is_file()]
    return {p.relative_to(run_dir).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


# --- killed runs -----------------------------------------------------------------------------


def _start_and_kill(
    config: Path, reports: Path, sig: int, inside: tuple[str, ...] = ("02_clean",), kernels: int = 1
) -> tuple[subprocess.Popen, Path, list[int]]:
    """Start ``workbench run`` in a child process, wait until it is inside the steps ``inside``
    with ``kernels`` kernels running, send ``sig``. Returns the process, its partial folder
    and the process ids of the kernels it had."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "segment_workbench.app.cli", "run", str(config), "--reports", str(reports)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    partial = reports / f".{config.stem}.partial-{proc.pid}"
    deadline = time.monotonic() + 240
    while not (all((partial / f"{step}.ipynb").is_file() for step in inside) and len(_kernels_of(proc.pid)) >= kernels):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, f"the run never reached {inside} with {kernels} kernel(s)"
        time.sleep(0.2)
    running = _kernels_of(proc.pid)
    proc.send_signal(sig)
    proc.wait(timeout=120)
    return proc, partial, running


def _kernels_of(pid: int) -> list[int]:
    """Process ids of the Jupyter kernels whose parent is ``pid`` (from /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            cmdline = (stat.parent / "cmdline").read_bytes()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == pid and b"ipykernel" in cmdline:
            found.append(int(stat.parent.name))
    return found


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_killed_runs_leave_the_last_complete_report_and_nothing_that_looks_finished(tmp_path):
    config = _config(
        tmp_path,
        "kill",
        f"source: {{kind: synthetic, n_customers: {N_CUSTOMERS}, seed: 4}}\n"
        "steps: [01_collect, 02_clean, 03_segment]\n",
    )
    reports = tmp_path / "reports"
    runner.run(config, reports_root=reports)
    complete = (reports / "kill" / "run.json").read_text()
    before = _hashes(reports / "kill")

    # SIGKILL: no chance to clean up; the half-written run stays hidden and unfinished
    proc, partial, _ = _start_and_kill(config, reports, signal.SIGKILL)
    assert proc.returncode == -signal.SIGKILL
    assert (reports / "kill" / "run.json").read_text() == complete and _hashes(reports / "kill") == before
    assert partial.is_dir() and partial.name.startswith(".")
    assert not (partial / "run.json").exists() and not (partial / "index.html").exists()
    assert sorted(p.name for p in reports.iterdir() if not p.name.startswith(".")) == ["kill"]

    # SIGTERM (a scheduler stopping the job): kernels shut down, the partial run is removed
    proc, partial, _ = _start_and_kill(config, reports, signal.SIGTERM)
    out, err = proc.communicate()
    assert proc.returncode == 130 and "interrupted" in err and "Traceback" not in err
    assert not partial.exists()
    assert (reports / "kill" / "run.json").read_text() == complete

    # the next run clears what the killed one left and completes
    runner.run(config, reports_root=reports)
    assert not list(reports.glob(".kill.*"))
    assert json.loads((reports / "kill" / "run.json").read_text())["status"] == "complete"


def test_independent_steps_run_side_by_side_and_an_interrupt_stops_all_their_kernels(tmp_path):
    config = _config(
        tmp_path,
        "side",
        f"source: {{kind: synthetic, n_customers: {N_CUSTOMERS}, seed: 4}}\n"
        "steps: [01_collect, 02_clean, 03_segment, 04_cohorts, 05_cltv]\n",
    )
    reports = tmp_path / "reports"
    proc, partial, kernels = _start_and_kill(
        config, reports, signal.SIGTERM, inside=("04_cohorts", "05_cltv"), kernels=2
    )
    out, err = proc.communicate()
    assert len(kernels) == 2, "04_cohorts and 05_cltv did not run at the same time"
    assert proc.returncode == 130 and "interrupted" in err and "Traceback" not in err
    assert not partial.exists() and not reports.joinpath("side").exists()
    deadline = time.monotonic() + 10
    while any(_alive(k) for k in kernels) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(_alive(k) for k in kernels), "a kernel outlived the interrupted run"


# --- same input + same config -> identical artifacts -------------------------------------------


def test_identical_artifacts_across_runs_and_parallel_jobs(tmp_path):
    configs = tmp_path / "configs"
    configs.mkdir()
    # the steps with random parts (clustering, bootstrap, CLV simulation) and what they feed;
    # the serial run does 04-05-07 side by side, the batch one step at a time
    body = (
        "source: {kind: synthetic, n_customers: 150, seed: 8}\n"
        "steps: [01_collect, 02_clean, 03_segment, 04_cohorts, 05_cltv, 06_campaign]\n"
    )
    paths = [_config(configs, f"shop{i}", body) for i in range(4)]
    rows, _ = runner.run_batch(paths, jobs=4, reports_root=tmp_path / "parallel")
    assert [r["status"] for r in rows] == ["complete"] * 4
    rows, _ = runner.run_batch(paths[:1], jobs=1, reports_root=tmp_path / "serial")
    assert rows[0]["status"] == "complete"
    reference = _hashes(tmp_path / "serial" / "shop0")
    assert {
        "data/customers.parquet",
        "data/segments.parquet",
        "data/clv.parquet",
        "data/clv_by_segment.csv",
        "data/segment_rules.csv",
        "data/cleaning_log.csv",
        "data/cohort_retention.csv",
        "data/segment_kpis.csv",
    } <= set(reference)
    for i in range(4):
        assert _hashes(tmp_path / "parallel" / f"shop{i}") == reference, f"shop{i} differs"
    info = json.loads((tmp_path / "serial" / "shop0" / "run.json").read_text())
    assert info["parameters"]["random_state"] == 42 and info["parameters"]["source"]["seed"] == 8
    assert info["input"] == {"kind": "synthetic", "seed": 8, "n_customers": 150}
    assert {"pandas", "numpy", "scikit-learn", "lifelines"} <= set(info["versions"])


# --- PostgreSQL source, exclusions at collection, credentials -----------------------------------


def _demo_files(folder: Path) -> tuple[pd.DataFrame, Path, Path, list[str], str]:
    demo = synthetic.generate(N_CUSTOMERS, seed=12)
    orders = folder / "orders.csv"
    demo.transactions.to_csv(orders, index=False)
    campaign = folder / "campaign.csv"
    demo.campaign.to_csv(campaign, index=False)
    ids = list(demo.ground_truth["customer_id"].iloc[[3, 50, 120, 200]])
    by_email = demo.attributes.set_index("customer_id")["email"]
    email_only = demo.ground_truth["customer_id"].iloc[7]
    (folder / "optouts.csv").write_text(
        "customer_id,email\n" + "".join(f"{i},\n" for i in ids) + f",{by_email[email_only].upper()}\n"
    )
    return demo.transactions, orders, campaign, ids + [email_only], by_email


def _absent(run_dir: Path, ids: list[str], emails: list[str]) -> None:
    pattern = re.compile(r"\b(" + "|".join(map(re.escape, ids + emails)) + r")\b")
    for path in run_dir.rglob("*"):
        if path.suffix == ".parquet":
            frame = pd.read_parquet(path)
            text = frame.astype(str).to_csv()
        elif path.suffix in (".csv", ".html", ".json", ".ipynb"):
            text = path.read_text(encoding="utf-8")
        else:
            continue
        assert not pattern.search(text), (path.name, pattern.search(text).group(0))


def test_postgres_source_equals_csv_and_keeps_the_secret_and_the_excluded_out(tmp_path, postgres, monkeypatch):
    import sqlalchemy

    lines, orders, campaign, excluded, emails = _demo_files(tmp_path)
    engine = sqlalchemy.create_engine(postgres)
    lines.assign(line_no=range(1, len(lines) + 1)).to_sql("order_lines", engine, index=False)
    engine.dispose()
    monkeypatch.setenv("SHOP_DB_URL", postgres)
    common = f"campaign: {{path: {campaign}}}\nshop_name: Test shop\n"
    csv_config = _config(
        tmp_path, "from_csv", common + f"source: {{kind: csv, path: {orders}, exclusions: optouts.csv}}\n"
    )
    sql_config = _config(
        tmp_path,
        "from_sql",
        common + "source: {kind: sql, url_env: SHOP_DB_URL, exclusions: optouts.csv, "
        "query: 'SELECT * FROM order_lines ORDER BY line_no'}\n",
    )
    reports = tmp_path / "reports"
    for config in (csv_config, sql_config):
        proc = subprocess.run(
            [sys.executable, "-m", "segment_workbench.app.cli", "run", str(config), "--reports", str(reports)],
            capture_output=True,
            text=True,
            timeout=900,
        )
        assert proc.returncode == 0, proc.stderr
        assert "s3cret" not in proc.stdout + proc.stderr
    from_csv, from_sql = _hashes(reports / "from_csv"), _hashes(reports / "from_sql")
    # the order lines stay in the database: in their place, how later steps query them there
    lines = {"data/raw.parquet", "data/transactions.parquet", "data/removed_rows.parquet"}
    days = {"data/purchase_days.parquet"}  # the lines per customer and day: kept in the database too
    assert set(from_sql) == set(from_csv) - lines - days | {n.replace(".parquet", ".in-database.json") for n in lines}
    for name in (
        set(from_csv) - lines - days
    ):  # identical bytes, or identical tables where the file format stores its origin
        if from_csv[name] != from_sql[name]:
            a, b = reports / "from_csv" / name, reports / "from_sql" / name
            assert a.suffix == ".parquet", name
            pd.testing.assert_frame_equal(pd.read_parquet(a), pd.read_parquet(b), obj=name)
    summary = json.loads((reports / "from_sql" / "run.json").read_text())
    assert summary["status"] == "complete" and summary["parameters"]["source"]["url_env"] == "SHOP_DB_URL"
    # the secret: in no notebook, HTML, log or run.json
    for path in (reports / "from_sql").rglob("*"):
        if path.is_file():
            assert b"s3cret-Pa55" not in path.read_bytes(), path.name
    # the exclusion list: those customers appear in no artifact of either run
    assert "not collected" in json.loads((reports / "from_sql" / "summaries.json").read_text())["01_collect"]
    for run in ("from_csv", "from_sql"):
        _absent(reports / run, excluded, [emails[i] for i in excluded])


def test_sql_errors_never_show_the_url(postgres, monkeypatch):
    from segment_workbench.errors import InputError
    from segment_workbench.io.collect import collect

    monkeypatch.setenv("SHOP_DB_URL", postgres)
    with pytest.raises(InputError) as err:
        collect({"kind": "sql", "url_env": "SHOP_DB_URL", "query": "SELECT * FROM no_such_table"})
    message = str(err.value)
    assert "no_such_table" in message and "$SHOP_DB_URL" in message and "s3cret" not in message
