"""The runner: execute the configured notebooks with papermill into ``<project>/reports/<run>/``.

Each step is executed on its own kernel (``kernels``), rendered to self-contained HTML with the
code hidden, and timed (from the notebook's first cell: its kernel was started, and its imports
run, while the steps before it ran). A run is written to a hidden ``.<run>.partial-<pid>``
folder and moved into place only when every step succeeded, so ``reports/<run>/`` is always the
last *complete* run. A failed run is moved to ``reports/<run>.failed/`` with the executed
failing notebook, its HTML and an index page naming the cell and the error.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import nbformat
import papermill
from nbconvert import HTMLExporter
from traitlets.config import Config as TraitletsConfig

from segment_workbench import __version__
from segment_workbench.app.kernels import IPCKernelManager, register_engine
from segment_workbench.app.pages import write_batch_page, write_index
from segment_workbench.app.provenance import input_fingerprint, package_versions
from segment_workbench.app.resources import notebook_path, templates_dir
from segment_workbench.app.scheduler import default_step_jobs, execute_steps
from segment_workbench.config import Config, default_project_dir, load_config, project_dir, skipped_steps
from segment_workbench.errors import WorkbenchError
from segment_workbench.io import artifacts
from segment_workbench.io.runs import gather_summaries


class StepFailed(WorkbenchError):
    """A notebook raised an error; the message names the step, the cell and the error."""


@dataclass
class StepResult:
    step: str
    status: str  # "complete" | "failed" | "skipped" (the data cannot support it) | "not run"
    seconds: float = 0.0
    html_seconds: float = 0.0
    summary: str = ""
    error: dict[str, Any] | None = None


@dataclass
class RunResult:
    run_name: str
    status: str
    run_dir: Path
    steps: list[StepResult] = field(default_factory=list)

    @property
    def index(self) -> Path:
        return self.run_dir / "index.html"


def notebook_parameters(step: str) -> list[str]:
    """Names declared in the ``parameters`` cell of ``notebooks/<step>.ipynb``."""
    return list(papermill.inspect_notebook(str(notebook_path(step))))


#: Markdown cells tagged for one kind of data: "money" (order lines with prices) and "visits"
#: (a visit log); the HTML of a run keeps the ones for its data. JupyterLab shows both.
VALUE_TAGS = {"currency": "visits", "visits": "money"}  # value unit -> the tag removed


def _html_exporter(remove: frozenset[str] = frozenset()) -> HTMLExporter:
    c = TraitletsConfig()
    c.HTMLExporter.exclude_input = True
    c.HTMLExporter.exclude_input_prompt = True
    c.HTMLExporter.exclude_output_prompt = True
    c.HTMLExporter.embed_images = True
    c.TagRemovePreprocessor.enabled = True
    c.TagRemovePreprocessor.remove_cell_tags = {"parameters", "injected-parameters", *remove}
    return HTMLExporter(config=c, template_name="workbench", extra_template_basedirs=[str(templates_dir())])


def notebook_to_html(notebook_path: Path, html_path: Path, title: str, value_unit: str = "currency") -> None:
    """Render an executed notebook to self-contained HTML without code cells, keeping the
    markdown written for the run's ``value_unit`` (``VALUE_TAGS``)."""
    nb = nbformat.read(notebook_path, as_version=4)
    nb.metadata["title"] = title
    body, _ = _html_exporter(frozenset({VALUE_TAGS[value_unit]})).from_notebook_node(nb)
    html_path.write_text(body, encoding="utf-8")


def execute_step(
    step: str, parameters: dict[str, Any], run_dir: Path, kernel: IPCKernelManager, engine: str
) -> StepResult:
    """Execute one notebook into ``run_dir`` on ``kernel`` (from ``kernels.start_kernel``; shut
    down at the end) with papermill's ``engine`` (``kernels.register_engine()``) and render its
    HTML; failures are captured, not raised."""
    output = run_dir / f"{step}.ipynb"
    started = time.perf_counter()
    error = None
    try:
        papermill.execute_notebook(
            str(notebook_path(step)),
            str(output),
            parameters=parameters,
            engine_name=engine,
            kernel_name="python3",
            progress_bar=False,
            km=kernel,
        )
    except papermill.PapermillExecutionError as exc:
        error = {"cell": exc.cell_index, "execution_count": exc.exec_count, "error": exc.ename, "message": exc.evalue}
    seconds = time.perf_counter() - started
    started = time.perf_counter()
    if output.is_file():
        value_unit = (
            artifacts.read_meta(run_dir, artifacts.RAW).get("value_unit", "currency")
            if artifacts.exists(run_dir, artifacts.RAW)
            else "currency"
        )
        notebook_to_html(
            output,
            run_dir / f"{step}.html",
            title=f"{step} — {parameters.get('run_name', '')}".strip(" —"),
            value_unit=value_unit,
        )
    html_seconds = time.perf_counter() - started
    return StepResult(
        step=step,
        status="failed" if error else "complete",
        seconds=round(seconds, 3),
        html_seconds=round(html_seconds, 3),
        error=error,
    )


def _swap_into_place(tmp: Path, final: Path) -> None:
    old = final.with_name(f".{final.name}.old-{os.getpid()}")
    if final.exists():
        final.rename(old)
    tmp.rename(final)
    shutil.rmtree(old, ignore_errors=True)


def _remove_stale_partials(reports_root: Path, run_name: str) -> None:
    """Remove what killed runs left: their partial folders, and the old complete run set aside
    during a swap (put back when the kill fell between the two renames)."""
    final = reports_root / run_name
    for path in [*reports_root.glob(f".{run_name}.partial-*"), *reports_root.glob(f".{run_name}.old-*")]:
        pid = path.name.rsplit("-", 1)[-1]
        if pid.isdigit() and not _pid_alive(int(pid)):
            if ".old-" in path.name and not final.exists():
                path.rename(final)
            else:
                shutil.rmtree(path, ignore_errors=True)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def run(
    config_path: str | Path,
    *,
    only: str | None = None,
    overrides: dict[str, Any] | None = None,
    reports_root: str | Path | None = None,
    step_jobs: int | None = None,
) -> RunResult:
    """Execute the config's steps (or ``only`` one step, reusing the last complete run's
    artifacts) and write the report into ``reports_root`` (default: ``reports/`` in the config's
    project folder); up to ``step_jobs`` independent steps at a time (default
    ``default_step_jobs()``). The whole config is validated before any step runs. Raises
    StepFailed when a notebook fails."""
    cfg = load_config(config_path, overrides)
    project = project_dir(cfg, config_path)
    cfg.project_dir = str(project)
    run_name = str(cfg.run_name)
    reports_root = Path(reports_root or project / "reports").resolve()
    reports_root.mkdir(parents=True, exist_ok=True)
    _remove_stale_partials(reports_root, run_name)
    final = reports_root / run_name
    tmp = reports_root / f".{run_name}.partial-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    skipped = skipped_steps(cfg)
    steps = [s for s in cfg.steps if s not in skipped]
    previous: dict[str, Any] = {}
    if only:
        if only not in steps:
            raise WorkbenchError(f"--only {only}: not a step of this config ({', '.join(steps)}).")
        if not (final / "run.json").is_file():
            raise WorkbenchError(f"--only {only} needs a complete earlier run in {final}; run the whole config first.")
        shutil.copytree(final, tmp)
        previous = json.loads((final / "run.json").read_text())
        steps = [only]
    tmp.mkdir(parents=True, exist_ok=True)
    try:
        return _execute(
            cfg, config_path, steps, only, previous, tmp, final, reports_root, step_jobs or default_step_jobs()
        )
    except BaseException:  # interrupted (Ctrl-C, SIGTERM) or crashed: never leave a half-written run
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _execute(
    cfg: Config,
    config_path: str | Path,
    steps: list[str],
    only: str | None,
    previous: dict[str, Any],
    tmp: Path,
    final: Path,
    reports_root: Path,
    step_jobs: int,
) -> RunResult:
    """Run the steps into ``tmp``; swap it into ``final`` when complete, or move it to ``<run>.failed``."""
    run_name = str(cfg.run_name)
    started = time.time()
    parameters = cfg.parameters()
    engine = register_engine()

    def execute(step: str, kernel: IPCKernelManager) -> StepResult:
        declared = notebook_parameters(step)
        step_parameters = {**{k: v for k, v in parameters.items() if k in declared}, "run_dir": str(tmp)}
        return execute_step(step, step_parameters, tmp, kernel, engine)

    results = execute_steps(steps, execute, step_jobs)
    summaries = gather_summaries(tmp)
    for r in results:
        r.summary = summaries.get(r.step, "")
    if only:
        kept = {s["step"]: StepResult(**s) for s in previous.get("steps", [])}
        kept.update({r.step: r for r in results})
        results = [kept[s] for s in cfg.steps if s in kept]
    ran = {r.step for r in results}
    skipped = skipped_steps(cfg)
    results += [
        StepResult(step=s, status="skipped", summary=skipped[s])
        if s in skipped
        else StepResult(step=s, status="not run")
        for s in cfg.steps
        if s not in ran
    ]
    results.sort(key=lambda r: cfg.steps.index(r.step))
    failed = next((r for r in results if r.status == "failed"), None)
    status = "failed" if failed else "complete"
    run_info = {
        "run_name": run_name,
        "status": status,
        "config_file": str(Path(config_path).resolve()),
        "parameters": parameters,
        "as_of": _resolved_as_of(tmp, cfg),
        "input": input_fingerprint(cfg.source),
        "versions": package_versions(),
        "workbench_version": __version__,
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(started)),
        "seconds": round(time.time() - started, 3),
        "steps": [asdict(r) for r in results],
    }
    (tmp / "run.json").write_text(json.dumps(run_info, indent=2, default=str))
    write_index(tmp / "index.html", run_info)
    if failed:
        failed_dir = reports_root / f"{run_name}.failed"
        shutil.rmtree(failed_dir, ignore_errors=True)
        tmp.rename(failed_dir)
        err = failed.error or {}
        raise StepFailed(
            f"Step {failed.step} failed: {err.get('error')}: {err.get('message')}\n"
            f"It failed in cell {err.get('cell')} (In [{err.get('execution_count')}]); the executed notebook is kept "
            f"for debugging: {failed_dir / (failed.step + '.ipynb')}\n"
            f"Error page: {failed_dir / 'index.html'}\n"
            + (f"The last complete report is unchanged: {final / 'index.html'}" if final.exists() else "")
        )
    _swap_into_place(tmp, final)
    return RunResult(run_name=run_name, status=status, run_dir=final, steps=results)


def _resolved_as_of(run_dir: Path, cfg: Config) -> str | None:
    """The run's "now": as 02_clean resolved it (the last order day when the config leaves it
    out), else as configured."""
    if artifacts.exists(run_dir, artifacts.CUSTOMERS):
        return f"{artifacts.run_meta(run_dir).as_of:%Y-%m-%d}"
    return cfg.as_of


def _run_one(config: str, reports_root: str | None, step_jobs: int | None) -> dict[str, Any]:
    """One config of a batch, in its own process: never raises, returns a summary row whose
    error is the reason in one line."""
    started = time.perf_counter()
    try:
        result = run(config, reports_root=reports_root, step_jobs=step_jobs)
        status, error, index = "complete", "", str(result.index)
    except WorkbenchError as exc:
        status, error, index = "failed", str(exc).splitlines()[0] if str(exc) else type(exc).__name__, ""
    except Exception as exc:  # a batch reports every failure and goes on
        status, error, index = "failed", f"{type(exc).__name__}: {exc}", ""
    return {
        "config": config,
        "status": status,
        "seconds": round(time.perf_counter() - started, 1),
        "error": error,
        "report": index,
    }


def run_batch(
    configs: list[str | Path], jobs: int = 1, reports_root: str | Path | None = None
) -> tuple[list[dict[str, Any]], Path]:
    """Run many configs, ``jobs`` at a time in separate processes (kernels over IPC, so they
    never collide); a failing config never stops the others. With several jobs each run does
    one step at a time (the cores are already busy). Each run lands in its own project's
    ``reports/`` unless ``reports_root`` is given. Returns the summary rows and the path of the
    summary page ``batch-<timestamp>.html`` (in ``reports_root``, or the first config's project
    ``reports/``)."""
    from concurrent.futures import ProcessPoolExecutor

    names = [str(Path(c).resolve()) for c in configs]
    root = Path(reports_root).resolve() if reports_root else default_project_dir(names[0]) / "reports"
    root.mkdir(parents=True, exist_ok=True)
    given = str(root) if reports_root else None
    with ProcessPoolExecutor(max_workers=max(1, jobs)) as pool:
        rows = list(pool.map(_run_one, names, [given] * len(names), [1 if jobs > 1 else None] * len(names)))
    path = root / f"batch-{time.strftime('%Y%m%d-%H%M%S')}.html"
    write_batch_page(path, rows, jobs)
    return rows, path
