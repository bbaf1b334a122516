"""The runner end to end: papermill executes the real notebooks on IPC kernels."""

import asyncio
import json
import os
import re

import pandas as pd
import pytest
from support import N_CUSTOMERS
from support import write_config as _config

from segment_workbench.app import kernels, runner
from segment_workbench.app.kernels import IPCKernelManager
from segment_workbench.app.runner import StepFailed
from segment_workbench.datasets import synthetic
from segment_workbench.io import artifacts
from segment_workbench.segmentation.targeting import SLIPPING_FILE

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("runner")]


def test_run_writes_a_complete_report(demo_run):
    tmp, result = demo_run
    run_dir = result.run_dir
    assert result.status == "complete" and run_dir == tmp / "reports" / "shop"
    for name in (
        "index.html",
        "run.json",
        "01_collect.html",
        "01_collect.ipynb",
        "02_clean.html",
        "02_clean.ipynb",
        "03_segment.html",
        "04_cohorts.html",
        "05_cltv.html",
        "06_campaign.html",
        "07_owner_report.html",
        "owner_report.html",
    ):
        assert (run_dir / name).is_file(), name
    for name in (
        "raw.parquet",
        "contacts.parquet",
        "transactions.parquet",
        "cleaning_log.csv",
        "removed_rows.parquet",
        "purchase_days.parquet",
        "customers.parquet",
        "clv.parquet",
        "clv_params.json",
        "clv_by_segment.csv",
        "segments.parquet",
        "segment_profiles.csv",
        "segment_rules.csv",
        "target_ranking.csv",
        "cohort_retention.csv",
        "cohort_revenue.csv",
        "survival_by_segment.csv",
        "churn_drivers.csv",
        "segment_model.joblib",
        "campaign.parquet",
        "segment_kpis.csv",
        "campaign_results.csv",
    ):
        assert (run_dir / "data" / name).is_file(), name
    assert not list((tmp / "reports").glob(".shop.partial-*"))
    audiences = sorted(p for p in (run_dir / "audiences").glob("*.csv") if p.name != SLIPPING_FILE)
    assert len(list((run_dir / "audiences" / "next_test").glob("*.csv"))) == 2  # 06_campaign's test/control split
    assert (run_dir / "audiences" / SLIPPING_FILE).is_file()  # 05_cltv's valuable-and-slipping audience
    segments = pd.read_parquet(run_dir / "data" / "segments.parquet")
    assert len(audiences) == segments["cluster_name"].nunique()
    assert sum(len(pd.read_csv(p)) for p in audiences) == len(segments)
    info = json.loads((run_dir / "run.json").read_text())
    assert info["status"] == "complete" and info["parameters"]["source"]["n_customers"] == N_CUSTOMERS
    assert info["input"] == {"kind": "synthetic", "seed": 11, "n_customers": N_CUSTOMERS}
    assert info["versions"]["pandas"].startswith("2.")
    assert [s["step"] for s in info["steps"]] == [
        "01_collect",
        "02_clean",
        "03_segment",
        "04_cohorts",
        "05_cltv",
        "06_campaign",
        "07_owner_report",
    ]
    assert all(s["status"] == "complete" and s["seconds"] > 0 for s in info["steps"])
    customers = pd.read_parquet(run_dir / "data" / "customers.parquet")
    assert artifacts.run_meta(run_dir).time_unit == "weeks" and customers["customer_id"].is_unique
    index = (run_dir / "index.html").read_text()
    assert 'href="01_collect.html"' in index and "lines in" in index  # the one-line summary


#: The charts each step page shows on the demo shop (every figure of a cell, not only the first).
CHARTS = {"01_collect": 2, "02_clean": 1, "03_segment": 5, "04_cohorts": 4, "05_cltv": 5, "06_campaign": 2}


def test_every_chart_and_no_python_warning_reaches_a_page(demo_run):
    _, result = demo_run
    for step, charts in CHARTS.items():
        page = (result.run_dir / f"{step}.html").read_text()
        assert page.count('src="data:image/png;base64,') >= charts, step
        assert not re.search(r"(Runtime|Future|Deprecation|User|SettingWithCopy)Warning", page), step


def test_html_has_no_code_no_cdn_and_no_personal_data(demo_run):
    tmp, result = demo_run
    emails = synthetic.generate(N_CUSTOMERS, seed=11).attributes["email"]
    for page in result.run_dir.glob("*.html"):
        text = page.read_text()
        assert not re.search(r'class="[^"]*jp-InputArea-editor', text), page.name  # no code cells
        for snippet in ("import ", "merge_config(", "run_dir =", "artifacts.write(", "Traceback"):
            assert snippet not in text, (page.name, snippet)
        assert not re.search(r'(src|href)="(https?:)?//', text), page.name  # nothing fetched from a CDN
        assert "@example.com" not in text and not any(e in text for e in emails)
    clean = (result.run_dir / "02_clean.html").read_text()
    assert 'src="data:image/png;base64,' in clean  # charts embedded


def test_only_reruns_one_step_on_the_last_complete_run(demo_run, tmp_path):
    tmp, _ = demo_run
    result = runner.run(
        tmp / "shop.yaml", only="02_clean", overrides={"time_unit": "days"}, reports_root=tmp / "reports"
    )
    assert [s.status for s in result.steps] == ["complete"] * 7
    assert artifacts.run_meta(result.run_dir).time_unit == "days"
    assert (result.run_dir / "01_collect.html").is_file()  # kept from the earlier run


SEGMENT_ARTIFACTS = [
    "segments.parquet",
    "segment_rules.csv",
    "segment_profiles.csv",
    "target_ranking.csv",
    "segment_migration.csv",
]


def test_only_03_segment_writes_what_the_full_run_wrote(tmp_path):
    """03_segment reads only what 01 and 02 wrote in the same run, never an earlier run's later
    steps (05_cltv's CLV): re-running it alone gives the same segment artifacts."""
    config = _config(tmp_path, "again")
    full = runner.run(config, reports_root=tmp_path / "reports").run_dir
    before = {name: (full / "data" / name).read_bytes() for name in SEGMENT_ARTIFACTS}
    audiences = {p.name: p.read_bytes() for p in (full / "audiences").glob("*.csv")}
    runner.run(config, only="03_segment", reports_root=tmp_path / "reports")
    assert {name: (full / "data" / name).read_bytes() for name in SEGMENT_ARTIFACTS} == before
    assert {p.name: p.read_bytes() for p in (full / "audiences").glob("*.csv")} == audiences


def test_failure_names_step_cell_and_error_and_keeps_the_last_complete_run(demo_run):
    tmp, _ = demo_run
    good = json.loads((tmp / "reports" / "shop" / "run.json").read_text())
    bad_csv = tmp / "bad.csv"
    bad_csv.write_text("custmer,order_id,order_date,quantity,unit_price\n1,a,2024-01-01,1,2.0\n")
    bad = _config(tmp, "shop", kind="csv", path=str(bad_csv))
    with pytest.raises(StepFailed) as err:
        runner.run(bad, reports_root=tmp / "reports")
    message = str(err.value)
    assert (
        message.startswith("Step 01_collect failed: InputError: Required column(s) missing")
        and "It failed in cell" in message
    )
    assert "Required column(s) missing: customer_id" in message and str(bad_csv) in message
    failed = tmp / "reports" / "shop.failed"
    assert (failed / "01_collect.ipynb").is_file() and (failed / "01_collect.html").is_file()
    index = (failed / "index.html").read_text()
    assert "This run failed" in index and "Required column(s) missing" in index
    assert json.loads((failed / "run.json").read_text())["status"] == "failed"
    # the previous complete report is untouched
    assert json.loads((tmp / "reports" / "shop" / "run.json").read_text()) == good


def test_kernels_use_ipc_sockets_in_a_private_folder():
    async def start_and_stop():
        km = IPCKernelManager(kernel_name="python3")
        await km.start_kernel()
        info = km.get_connection_info()
        folder = os.path.dirname(km.ip)
        alive = os.path.isdir(folder)
        await km.shutdown_kernel(now=True)
        return info, folder, alive

    info, folder, alive = asyncio.run(start_and_stop())
    assert info["transport"] == "ipc" and alive
    assert not os.path.exists(folder)  # cleaned up with the kernel


def test_notebook_imports_are_its_import_statements_only():
    imports = kernels.notebook_imports("05_cltv").splitlines()
    assert (
        "from segment_workbench.clv import frequency_spend_correlation, per_period_rate, valuation" in imports
        and "from IPython.display import Markdown, display" in imports
    )
    assert all(line.startswith(("import ", "from ")) for line in imports) and len(imports) == len(set(imports))


@pytest.mark.parametrize(
    "imports, loaded", [("from segment_workbench.viz import plots\nprint('warming up')", True), ("", False)]
)
def test_a_kernel_started_ahead_has_its_imports_loaded_and_leaves_no_trace(tmp_path, imports, loaded):
    import nbformat
    import papermill
    from jupyter_core.utils import run_sync
    from nbformat.v4 import new_code_cell, new_notebook

    source, output = tmp_path / "nb.ipynb", tmp_path / "out.ipynb"
    nbformat.write(
        new_notebook(
            cells=[
                new_code_cell(
                    "import os, sys\nprint('segment_workbench.viz.plots' in sys.modules, os.environ['SEGMENT_WORKBENCH_DUCKDB_MEMORY'])"
                )
            ]
        ),
        source,
    )
    kernel = run_sync(kernels.start_kernel)(imports, {**os.environ, "SEGMENT_WORKBENCH_DUCKDB_MEMORY": "1234MB"})
    assert kernel in IPCKernelManager.running
    papermill.execute_notebook(
        str(source),
        str(output),
        engine_name=kernels.register_engine(),
        kernel_name="python3",
        progress_bar=False,
        km=kernel,
    )
    cell = nbformat.read(output, as_version=4).cells[0]
    assert cell.execution_count == 1  # the warm-up was silent: not counted, nothing printed
    assert [o.get("text") for o in cell.outputs] == [f"{loaded} 1234MB\n"]  # and it has the environment given
    assert kernel not in IPCKernelManager.running and not kernel.has_kernel  # shut down with the notebook


def test_a_step_that_runs_alone_gets_more_of_duckdbs_memory_than_steps_side_by_side(monkeypatch):
    from segment_workbench.app import scheduler
    from segment_workbench.config import STEP_INPUTS

    monkeypatch.delenv(scheduler.MEMORY_VARIABLE, raising=False)
    steps = list(STEP_INPUTS)
    assert [s for s in steps if scheduler.runs_alone(s, steps)] == [
        "01_collect",
        "02_clean",
        "03_segment",
        "07_owner_report",
    ]
    assert scheduler.runs_alone("05_cltv", ["01_collect", "02_clean", "03_segment", "05_cltv"])
    machine_mb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1e6

    def limit_mb(step, jobs, selected=steps):
        return int(scheduler.kernel_env(step, selected, jobs)[scheduler.MEMORY_VARIABLE].removesuffix("MB"))

    assert limit_mb("02_clean", 2) == int(scheduler.ALONE_MEMORY_SHARE * machine_mb)
    assert limit_mb("05_cltv", 2) == int(scheduler.SIDE_BY_SIDE_MEMORY_SHARE / 2 * machine_mb)
    assert limit_mb("05_cltv", 3) == int(scheduler.SIDE_BY_SIDE_MEMORY_SHARE / 3 * machine_mb)
    assert limit_mb("05_cltv", 3, [*steps[:3], "04_cohorts", "05_cltv"]) == limit_mb("05_cltv", 2)  # two can overlap
    assert limit_mb("05_cltv", 1) == int(scheduler.SIDE_BY_SIDE_MEMORY_SHARE * machine_mb)
    monkeypatch.setenv(scheduler.MEMORY_VARIABLE, "3GB")
    assert scheduler.kernel_env("02_clean", steps, 2)[scheduler.MEMORY_VARIABLE] == "3GB"  # the user's setting wins


def test_refresh_with_as_of_shows_migration_since_the_last_report(tmp_path):
    from segment_workbench.app import cli

    config = tmp_path / "refresh.yaml"
    config.write_text(
        f"run_name: refresh\nas_of: '2025-09-30'\nsource: {{kind: synthetic, n_customers: {N_CUSTOMERS}, seed: 3}}\n"
        "steps: [01_collect, 02_clean, 03_segment, 07_owner_report]\n"
    )
    reports = tmp_path / "reports"
    assert cli.main(["run", str(config), "--reports", str(reports)]) == 0
    assert "in the last months" in (reports / "refresh" / "owner_report.html").read_text()
    assert cli.main(["run", str(config), "--as-of", "2025-12-31", "--reports", str(reports)]) == 0
    run_dir = reports / "refresh"
    assert json.loads((run_dir / "run.json").read_text())["parameters"]["as_of"] == "2025-12-31"
    assert "RFM segment on 2025-09-30 (the last report, rows)" in (run_dir / "03_segment.html").read_text()
    assert "The biggest move since the last report" in (run_dir / "owner_report.html").read_text()
    migration = pd.read_csv(run_dir / "data" / "segment_migration.csv").set_index("segment_before")
    assert migration.to_numpy().sum() == len(pd.read_parquet(run_dir / "data" / "customers.parquet"))


def test_without_as_of_the_run_is_as_of_the_last_order_day(tmp_path):
    """CDNOW ends on 1998-06-30: a config that leaves as_of out runs as of that day (not a
    default date 27 years later), and the run page says which day was used."""
    from support import TEST_DATA

    config = tmp_path / "cdnow.yaml"
    config.write_text(
        f"source: {{kind: csv, path: {TEST_DATA / 'cdnow_sample.txt'}, preset: cdnow}}\nsteps: [01_collect, 02_clean]\n"
    )
    result = runner.run(config, reports_root=tmp_path / "reports")
    assert artifacts.run_meta(result.run_dir).as_of == pd.Timestamp("1998-06-30")
    assert json.loads((result.run_dir / "run.json").read_text())["as_of"] == "1998-06-30"
    assert "as of 1998-06-30 (the last order day in the data)" in (result.run_dir / "index.html").read_text()
    stale = tmp_path / "stale.yaml"
    stale.write_text(config.read_text() + 'as_of: "2025-12-31"\n')
    with pytest.raises(
        StepFailed, match=r"as_of 2025-12-31 is 10,046 days after the last order in the data \(1998-06-30\)"
    ):
        runner.run(stale, reports_root=tmp_path / "reports")
