"""The pipeline at growing sizes: the synthetic shop scaled to about ``--lines`` order lines,
written as a Parquet export (text columns, like a CSV), then (a) each stage on its own in this
process, with its wall time and the process's peak RSS after it, and (b) the whole
``workbench run`` on that file in a child process, with its peak memory (all its processes
together, and the largest one) and the time per step split into the notebook's execution
(papermill, from its first cell: each step's kernel starts, and runs its imports, while the
steps before it run) and its HTML rendering. 04_cohorts, 05_cltv and 06_campaign run side by
side (one per core), so their times overlap.

    python benchmarks/bench_pipeline.py --lines 10000 100000 1000000

Peak RSS is the high-water mark of the process so far (it never goes down), so a stage's
number includes what earlier stages held. GB are 10^9 bytes. Files go to benchmarks/data/ (git-ignored).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from functools import partial
from pathlib import Path

import pandas as pd
from peak_memory import peak_rss_gb
from timing import timed

from segment_workbench import clv
from segment_workbench.campaigns.campaign import segment_kpis
from segment_workbench.cleaning import rules as cleaning
from segment_workbench.clv import valuation
from segment_workbench.customers import table as customers
from segment_workbench.datasets import synthetic
from segment_workbench.io.collect import collect
from segment_workbench.lifecycle import survival
from segment_workbench.lifecycle.cohorts import cohort_tables
from segment_workbench.segmentation import rfm
from segment_workbench.segmentation.pipeline import segment_customers

HERE = Path(__file__).parent
AS_OF = pd.Timestamp("2025-12-31")
LINES_PER_CUSTOMER = 19.5


def export(lines: int) -> Path:
    path = HERE / "data" / f"orders_{lines}.parquet"
    if not path.is_file():
        path.parent.mkdir(exist_ok=True)
        demo = synthetic.generate(round(lines / LINES_PER_CUSTOMER), seed=2)
        demo.transactions.to_parquet(path, index=False)
    return path


def stage_row(name: str, seconds: float, rss: float) -> str:
    return f"| {name} | {seconds:.2f} | {rss:.2f} |"


def stages(path: Path) -> list[tuple[str, float, float]]:
    """(stage, seconds, peak RSS in GB so far) for each stage, in pipeline order."""
    out, state = [], {}

    def stage(name, fn):
        start = time.perf_counter()
        state[name] = fn()
        out.append((name, time.perf_counter() - start, peak_rss_gb()))
        print(stage_row(*out[-1]), file=sys.stderr, flush=True)

    stage("load (read + map + type)", lambda: collect({"kind": "parquet", "path": str(path)}).transactions)
    stage("clean", lambda: cleaning.clean(state["load (read + map + type)"], AS_OF))
    tx, removed = state["clean"].transactions, state["clean"].removed
    stage("customer table", lambda: customers.build_customer_table(tx, AS_OF, "weeks"))
    table = state["customer table"]
    stage("RFM", lambda: rfm.assign_segments(rfm.rfm_scores(table)))
    stage("clustering (k chosen, bootstrap, rules)", lambda: segment_customers(table, removed, random_state=42))
    stage("cohort matrices", lambda: cohort_tables(tx, AS_OF))
    data = survival.survival_data(table, survival.suggest_threshold(tx))
    segments = state["clustering (k chosen, bootstrap, rules)"]
    stage(
        "survival (Kaplan-Meier + Cox)",
        lambda: (
            survival.kaplan_meier(data, segments.segments["cluster_name"]),
            survival.cox_drivers(data, survival.early_covariates(tx, None)),
        ),
    )
    stage(
        "BG/NBD + Gamma-Gamma fit",
        lambda: (
            clv.BetaGeoModel().fit(table["frequency"], table["recency"], table["T"]),
            valuation.fit_spend(table)[0],
        ),
    )
    if not state["BG/NBD + Gamma-Gamma fit"][0].converged_:  # as 05_cltv falls back
        stage(
            "Pareto/NBD fit (BG/NBD did not converge)",
            lambda: clv.ParetoNBDModel().fit(table["frequency"], table["recency"], table["T"]),
        )
        state["BG/NBD + Gamma-Gamma fit"] = (
            state["Pareto/NBD fit (BG/NBD did not converge)"],
            state["BG/NBD + Gamma-Gamma fit"][1],
        )
    fitted, spend = state["BG/NBD + Gamma-Gamma fit"]
    stage(
        "CLV prediction (300 simulations)",
        lambda: valuation.customer_values(
            fitted,
            spend,
            table,
            horizon=52,
            discount_rate=clv.per_period_rate(0.10, "weeks"),
            margin=1.0,
            n_simulations=300,
            interval=0.9,
            random_state=42,
        ),
    )
    stage(
        "KPIs per frozen segment and month",
        lambda: segment_kpis(tx, lambda d: segments.model.segments_at(tx, d, removed), AS_OF),
    )
    return out


def whole_run(path: Path, lines: int) -> tuple[float, dict[str, float], list[dict]]:
    """Seconds, peak memory (GB: all the run's processes together, and the largest one; see
    peak_memory.py) and steps of ``workbench run`` on the export."""
    config = HERE / "data" / f"bench_{lines}.yaml"
    config.write_text(f"run_name: bench_{lines}\nas_of: '2025-12-31'\nsource: {{kind: parquet, path: {path.name}}}\n")
    start = time.perf_counter()
    done = subprocess.run(
        [
            sys.executable,
            str(HERE / "peak_memory.py"),
            sys.executable,
            "-m",
            "segment_workbench.app.cli",
            "run",
            str(config),
            "--reports",
            str(HERE / "data" / "reports"),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    seconds = time.perf_counter() - start
    info = json.loads((HERE / "data" / "reports" / f"bench_{lines}" / "run.json").read_text())
    return seconds, json.loads(done.stdout.splitlines()[-1]), info["steps"]


def notebook_overhead(repeats: int = 3) -> list[tuple[str, float]]:
    """Median seconds of what every step pays before and after its own work: papermill running
    an empty notebook (kernel start and shutdown), the same with the imports every step makes,
    and nbconvert rendering a small notebook to HTML."""
    import tempfile

    import nbformat
    import papermill
    from nbformat.v4 import new_code_cell, new_notebook

    from segment_workbench.app import runner as report

    folder = Path(tempfile.mkdtemp())
    cells = {
        "papermill, empty notebook (kernel start + stop)": "",
        "papermill, the steps' common imports": "import pandas\nfrom segment_workbench.io import artifacts, runs\nfrom segment_workbench.viz import plots, tables",
    }
    out = []
    for name, code in cells.items():
        source = folder / "nb.ipynb"
        nbformat.write(new_notebook(cells=[new_code_cell(code)]), source)
        run = partial(
            papermill.execute_notebook,
            str(source),
            str(folder / "out.ipynb"),
            kernel_name="python3",
            progress_bar=False,
            kernel_manager_class=report.IPCKernelManager,
        )
        seconds, _ = timed(run, repeats)
        out.append((name, seconds))
    seconds, _ = timed(report.notebook_to_html, repeats, folder / "out.ipynb", folder / "out.html", "overhead")
    out.append(("nbconvert, HTML of a small notebook", seconds))
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lines", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--run-up-to", type=int, default=1_000_000, help="whole workbench runs only up to this size")
    args = parser.parse_args()
    print("### Fixed cost of a notebook step (median of 3)\n\n| what | seconds |\n|---|---:|")
    for name, seconds in notebook_overhead():
        print(f"| {name} | {seconds:.2f} |", flush=True)
    print()
    for lines in args.lines:
        path = export(lines)
        n = len(pd.read_parquet(path, columns=["order_id"]))
        print(f"### {n:,} order lines\n\n| stage | seconds | peak RSS so far, GB |\n|---|---:|---:|")
        for name, seconds, rss in stages(path):
            print(stage_row(name, seconds, rss), flush=True)
        if lines <= args.run_up_to:
            seconds, memory, steps = whole_run(path, lines)
            print(
                f"\nWhole `workbench run`: **{seconds:.0f} s**; peak memory of all its processes together "
                f"**{memory['all_processes_gb']:.2f} GB** (largest process {memory['largest_process_gb']:.2f} GB).\n\n"
                "| step | notebook (papermill) s | HTML (nbconvert) s |\n|---|---:|---:|"
            )
            for s in steps:
                print(f"| {s['step']} | {s['seconds']:.1f} | {s['html_seconds']:.1f} |", flush=True)
        else:
            print(f"\nWhole `workbench run` not measured at this size (--run-up-to {args.run_up_to:,}).")
        print()


if __name__ == "__main__":
    main()
