"""The ``segment-workbench`` command (alias ``segwb``): ``init`` a project folder, ``run`` a config,
``batch`` a folder of configs, or write the ``demo-data`` files."""

from __future__ import annotations

import argparse
import shutil
import signal
import sys
from pathlib import Path

from segment_workbench.app import runner
from segment_workbench.app.resources import notebooks_dir, scaffold_dir
from segment_workbench.config import as_of_argument, parse_override
from segment_workbench.datasets import synthetic
from segment_workbench.errors import WorkbenchError


def _run(args: argparse.Namespace) -> int:
    overrides = dict(parse_override(p) for p in args.param)
    if args.as_of:
        overrides["as_of"] = as_of_argument(args.as_of)
    result = runner.run(
        args.config, only=args.only, overrides=overrides, reports_root=args.reports, step_jobs=args.step_jobs
    )
    for step in result.steps:
        print(f"  {step.status:9} {step.step:12} {step.summary}")
    print(f"Report: {result.index}")
    return 0


def _batch(args: argparse.Namespace) -> int:
    folder = Path(args.folder)
    configs = sorted(folder.glob("*.yaml")) + sorted(folder.glob("*.yml")) if folder.is_dir() else [folder]
    if not configs:
        print(f"error: no .yaml configs in {folder}", file=sys.stderr)
        return 1
    rows, page = runner.run_batch(configs, jobs=args.jobs, reports_root=args.reports)
    width = max(len(Path(r["config"]).name) for r in rows)
    print(f"{'config':{width}}  status    time     error")
    for r in rows:
        print(f"{Path(r['config']).name:{width}}  {r['status']:8}  {r['seconds']:6.1f}s  {r['error']}")
    print(f"Summary: {page}")
    return 0 if all(r["status"] == "complete" for r in rows) else 1


def _init(args: argparse.Namespace) -> int:
    """A shop's project folder: configs/example.yaml (the demo, commented), data/raw/, reports/,
    notebooks/ (copies for interactive work) and a .gitignore. Existing files are never overwritten."""
    folder = Path(args.folder)
    if folder.exists() and any(folder.iterdir()) and not args.force:
        raise WorkbenchError(f"{folder} is not empty; choose a new folder (or pass --force to add the missing files).")
    for sub in ("configs", "data/raw", "reports", "notebooks"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    copies = {
        scaffold_dir() / "example.yaml": folder / "configs" / "example.yaml",
        scaffold_dir() / "gitignore": folder / ".gitignore",
    }
    copies.update({nb: folder / "notebooks" / nb.name for nb in sorted(notebooks_dir().glob("*.ipynb"))})
    for src, dest in copies.items():
        if not dest.exists():
            shutil.copyfile(src, dest)
    print(
        f"Project folder ready: {folder.resolve()}\nNext:\n  cd {folder}\n  segment-workbench run configs/example.yaml"
    )
    return 0


def _demo_data(args: argparse.Namespace) -> int:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    demo = synthetic.generate(n_customers=args.customers, seed=args.seed)
    demo.transactions.to_csv(out / "transactions.csv", index=False)
    demo.attributes.to_csv(out / "customers.csv", index=False)
    demo.survey.to_csv(out / "survey.csv", index=False)
    demo.ground_truth.to_csv(out / "ground_truth.csv", index=False)
    demo.campaign.to_csv(out / "campaign.csv", index=False)
    print(f"Demo data written to {out}/ (transactions.csv, customers.csv, survey.csv, ground_truth.csv, campaign.csv)")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="segment-workbench", description="Segment Workbench: customer analytics reports."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    init = sub.add_parser("init", help="create a project folder: an example config, data/raw/, reports/, notebooks/")
    init.add_argument("folder", help="the new project folder, e.g. my-shop")
    init.add_argument("--force", action="store_true", help="add the missing files to a folder that is not empty")
    init.set_defaults(func=_init)
    run = sub.add_parser("run", help="execute the notebooks of a config into reports/<run_name>/")
    run.add_argument("config", help="path to a YAML config, e.g. configs/demo.yaml")
    run.add_argument("--only", metavar="STEP", help="run one step (e.g. 02_clean) on the last complete run's artifacts")
    run.add_argument(
        "-p",
        "--param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config value, e.g. -p as_of=2025-06-30 -p source.path=orders.csv",
    )
    run.add_argument(
        "--as-of", metavar="DATE", help="refresh: 'today' or a date like 2026-01-31 (overrides the config's as_of)"
    )
    run.add_argument(
        "--reports", metavar="DIR", help="folder for run reports (default: reports/ in the config's project folder)"
    )
    run.add_argument(
        "--step-jobs",
        type=int,
        metavar="N",
        help="independent steps run at the same time (default: one per core, at most 3; 1 halves peak memory on large data)",
    )
    run.set_defaults(func=_run)
    batch = sub.add_parser("batch", help="run every config in a folder, several at a time")
    batch.add_argument("folder", help="folder of YAML configs, e.g. configs/")
    batch.add_argument("--jobs", type=int, default=1, help="runs at the same time (default 1)")
    batch.add_argument(
        "--reports", metavar="DIR", help="folder for run reports (default: reports/ in the config's project folder)"
    )
    batch.set_defaults(func=_batch)
    demo = sub.add_parser("demo-data", help="write the synthetic demo shop as CSV files")
    demo.add_argument("out", nargs="?", default="data/raw/demo")
    demo.add_argument("--customers", type=int, default=3000)
    demo.add_argument("--seed", type=int, default=42)
    demo.set_defaults(func=_demo_data)
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        return args.func(args)
    except WorkbenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted: the unfinished run was removed; the last complete report is unchanged.", file=sys.stderr)
        return 130


def _interrupt(signum: int, frame: object) -> None:
    """SIGTERM (a scheduler stopping the job) ends the run like Ctrl-C: kernels shut down, the
    half-written run is removed."""
    raise KeyboardInterrupt


if __name__ == "__main__":
    sys.exit(main())
