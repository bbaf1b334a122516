"""The runner: execute the configured notebooks with papermill into ``reports/<run>/``.

Each step is executed on a kernel that talks over IPC sockets in a private temporary
folder (no TCP ports, so parallel runs never collide), rendered to self-contained HTML
with the code hidden, and timed (from the notebook's first cell: its kernel was started, and
its imports run, while the steps before it ran). A run is written to a hidden ``.<run>.partial-<pid>``
folder and moved into place only when every step succeeded, so ``reports/<run>/`` is always
the last *complete* run. A failed run is moved to ``reports/<run>.failed/`` with the
executed failing notebook, its HTML and an index page naming the cell and the error.
"""

from __future__ import annotations

import ast
import hashlib
import html
import json
import os
import shutil
import sys
import tempfile
import threading
import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from queue import Empty
from typing import Any, ClassVar

import nbformat
import papermill
from jupyter_client.manager import AsyncKernelManager
from jupyter_core.utils import run_sync
from nbconvert import HTMLExporter
from papermill.clientwrap import PapermillNotebookClient
from papermill.engines import NBClientEngine, papermill_engines
from papermill.log import logger
from traitlets.config import Config

from helpers import __version__
from helpers.config import NOTEBOOKS_DIR, PROJECT_ROOT, STEP_INPUTS, load_config
from helpers.errors import WorkbenchError
from helpers.runs import gather_summaries

TEMPLATES_DIR = Path(__file__).parent / "templates"
VERSIONED_PACKAGES = ["segment-workbench", "pandas", "numpy", "scipy", "scikit-learn", "lifelines",
                      "matplotlib", "seaborn", "pyarrow", "duckdb", "ibis-framework", "papermill", "nbconvert", "pandera",
                      "sqlalchemy"]


class StepFailed(WorkbenchError):
    """A notebook raised an error; the message names the step, the cell and the error."""


class IPCKernelManager(AsyncKernelManager):
    """A kernel manager whose kernel listens on IPC sockets in a private temporary folder,
    and always runs this Python (the one the runner runs in). The kernels it has running are
    known, so an interrupted run can stop those that run steps beside the main thread."""

    running: ClassVar[set[IPCKernelManager]] = set()
    stopping: ClassVar[threading.Event] = threading.Event()

    def _transport_default(self) -> str:
        return "ipc"

    def _ip_default(self) -> str:
        return os.path.join(tempfile.mkdtemp(prefix="wb-ipc-"), "kernel")

    def format_kernel_cmd(self, extra_arguments: list[str] | None = None) -> list[str]:
        cmd = super().format_kernel_cmd(extra_arguments)
        if cmd[1:3] == ["-m", "ipykernel_launcher"]:
            cmd[0] = sys.executable
        return cmd

    async def _async_launch_kernel(self, kernel_cmd: list[str], **kw: Any) -> None:
        await super()._async_launch_kernel(kernel_cmd, **kw)
        self.running.add(self)
        if self.stopping.is_set():  # started while the run was being stopped
            self._kill()

    async def _async_interrupt_kernel(self) -> None:
        # jupyter_client interrupts a kernel before shutting it down; ours are idle by then (an
        # interrupted run kills them), and a SIGINT landing mid-message made the kernel log
        # "KeyboardInterrupt caught in kernel" into the run's output.
        if not self.shutting_down:
            await super()._async_interrupt_kernel()

    async def _async_cleanup_resources(self, restart: bool = False) -> None:
        await super()._async_cleanup_resources(restart=restart)
        if not restart:
            self.running.discard(self)
            shutil.rmtree(os.path.dirname(self.ip), ignore_errors=True)

    def _kill(self) -> None:
        if self.provisioner is not None and self.provisioner.process is not None:
            self.provisioner.process.kill()

    @classmethod
    def stop_all(cls) -> None:
        """Kill every running kernel and any started from now on (their steps then fail)."""
        cls.stopping.set()
        for manager in list(cls.running):
            manager._kill()


class _StartedKernelEngine(NBClientEngine):
    """papermill's nbclient engine on a kernel the runner started (``km``). The client owns
    it: it shuts the kernel down at the end, as it does a kernel it starts itself."""

    @classmethod
    def execute_managed_notebook(cls, nb_man, kernel_name, *, km, start_timeout=60, **kwargs):
        kwargs.pop("input_path", None)
        client = PapermillNotebookClient(nb_man, km=km, kernel_name=kernel_name, startup_timeout=start_timeout,
                                         log=logger, **kwargs)
        client.owns_km = True
        return client.execute()


papermill_engines.register("workbench", _StartedKernelEngine)


def notebook_imports(step: str) -> str:
    """The notebook's top-level import statements, in order, once each."""
    statements = []
    for cell in nbformat.read(NOTEBOOKS_DIR / f"{step}.ipynb", as_version=4).cells:
        if cell.cell_type == "code":
            statements += [ast.unparse(node) for node in ast.parse(cell.source).body
                           if isinstance(node, ast.Import | ast.ImportFrom) and getattr(node, "module", None) != "__future__"]
    return "\n".join(dict.fromkeys(statements))


async def _start_kernel(imports: str) -> IPCKernelManager:
    """A kernel in the notebooks' folder (as nbclient starts one) that has run ``imports``
    silently: nothing is recorded, so the notebook's outputs and execution counts are those of
    a fresh kernel; its own import cells then find the modules loaded."""
    km = IPCKernelManager(kernel_name="python3")
    await km.start_kernel(cwd=str(NOTEBOOKS_DIR), extra_arguments=["--HistoryManager.hist_file=:memory:"])
    kc = km.client()
    kc.start_channels()
    try:
        await kc.wait_for_ready(timeout=60)
        msg_id = kc.execute(imports, silent=True, store_history=False)
        while not IPCKernelManager.stopping.is_set():  # polled: a stopped run must not wait here
            try:
                if (await kc.get_shell_msg(timeout=1))["parent_header"].get("msg_id") == msg_id:
                    break
            except Empty:
                continue
    finally:
        kc.stop_channels()
    return km


@dataclass
class StepResult:
    step: str
    status: str  # "complete" | "failed" | "not run"
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
    return list(papermill.inspect_notebook(str(NOTEBOOKS_DIR / f"{step}.ipynb")))


def sha256_file(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def input_fingerprint(cfg: dict[str, Any]) -> dict[str, Any]:
    """What identifies the input: a file's sha256 and size, or the synthetic seed, or the query."""
    source = cfg["source"]
    if source["kind"] == "synthetic":
        return {"kind": "synthetic", "seed": source["seed"], "n_customers": source["n_customers"]}
    if source["kind"] == "sql":
        return {"kind": "sql", "url_env": source["url_env"],
                "query_sha256": hashlib.sha256(str(source["query"]).encode()).hexdigest()}
    path = Path(source["path"])
    if not path.is_file():
        return {"kind": source["kind"], "path": str(path), "missing": True}
    return {"kind": source["kind"], "path": str(path), "sha256": sha256_file(path), "bytes": path.stat().st_size}


def package_versions(names: list[str] = VERSIONED_PACKAGES) -> dict[str, str]:
    """Python's version and each installed package's ("not installed" when missing)."""
    versions = {"python": sys.version.split()[0]}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def _html_exporter() -> HTMLExporter:
    c = Config()
    c.HTMLExporter.exclude_input = True
    c.HTMLExporter.exclude_input_prompt = True
    c.HTMLExporter.exclude_output_prompt = True
    c.HTMLExporter.embed_images = True
    c.TagRemovePreprocessor.enabled = True
    c.TagRemovePreprocessor.remove_cell_tags = {"parameters", "injected-parameters"}
    return HTMLExporter(config=c, template_name="workbench", extra_template_basedirs=[str(TEMPLATES_DIR)])


def notebook_to_html(notebook_path: Path, html_path: Path, title: str) -> None:
    """Render an executed notebook to self-contained HTML without code cells."""
    nb = nbformat.read(notebook_path, as_version=4)
    nb.metadata["title"] = title
    body, _ = _html_exporter().from_notebook_node(nb)
    html_path.write_text(body, encoding="utf-8")


def execute_step(step: str, parameters: dict[str, Any], run_dir: Path, kernel: IPCKernelManager) -> StepResult:
    """Execute one notebook into ``run_dir`` on ``kernel`` (from ``_start_kernel``; shut down
    at the end) and render its HTML; failures are captured, not raised."""
    output = run_dir / f"{step}.ipynb"
    started = time.perf_counter()
    error = None
    try:
        papermill.execute_notebook(
            str(NOTEBOOKS_DIR / f"{step}.ipynb"),
            str(output),
            parameters=parameters,
            engine_name="workbench",
            kernel_name="python3",
            progress_bar=False,
            km=kernel,
        )
    except papermill.PapermillExecutionError as exc:
        error = {"cell": exc.cell_index, "execution_count": exc.exec_count, "error": exc.ename, "message": exc.evalue}
    seconds = time.perf_counter() - started
    started = time.perf_counter()
    if output.is_file():
        notebook_to_html(output, run_dir / f"{step}.html", title=f"{step} — {parameters.get('run_name', '')}".strip(" —"))
    html_seconds = time.perf_counter() - started
    return StepResult(step=step, status="failed" if error else "complete", seconds=round(seconds, 3),
                      html_seconds=round(html_seconds, 3), error=error)


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


def run(config_path: str | Path, *, only: str | None = None, overrides: dict[str, Any] | None = None,
        reports_root: str | Path | None = None, step_jobs: int | None = None) -> RunResult:
    """Execute the config's steps (or ``only`` one step, reusing the last complete run's
    artifacts) and write the report; up to ``step_jobs`` independent steps at a time (default
    ``default_step_jobs()``). Raises StepFailed when a notebook fails."""
    cfg = load_config(config_path, overrides)
    run_name = cfg["run_name"]
    reports_root = Path(reports_root or PROJECT_ROOT / "reports").resolve()
    reports_root.mkdir(parents=True, exist_ok=True)
    _remove_stale_partials(reports_root, run_name)
    final = reports_root / run_name
    tmp = reports_root / f".{run_name}.partial-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    steps = list(cfg["steps"])
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
        return _execute(cfg, config_path, steps, only, previous, tmp, final, reports_root,
                        step_jobs or default_step_jobs())
    except BaseException:  # interrupted (Ctrl-C, SIGTERM) or crashed: never leave a half-written run
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _execute(cfg: dict[str, Any], config_path: str | Path, steps: list[str], only: str | None, previous: dict[str, Any],
             tmp: Path, final: Path, reports_root: Path, step_jobs: int) -> RunResult:
    """Run the steps into ``tmp``; swap it into ``final`` when complete, or move it to ``<run>.failed``."""
    run_name = cfg["run_name"]
    started = time.time()

    def params(step: str) -> dict[str, Any]:
        declared = notebook_parameters(step)
        return {**{k: v for k, v in cfg.items() if k in declared}, "run_dir": str(tmp)}

    results = _execute_steps(steps, params, tmp, step_jobs)
    summaries = gather_summaries(tmp)
    for r in results:
        r.summary = summaries.get(r.step, "")
    if only:
        kept = {s["step"]: StepResult(**s) for s in previous.get("steps", [])}
        kept.update({r.step: r for r in results})
        results = [kept[s] for s in cfg["steps"] if s in kept]
    ran = {r.step for r in results}
    results += [StepResult(step=s, status="not run") for s in cfg["steps"] if s not in ran]
    failed = next((r for r in results if r.status == "failed"), None)
    status = "failed" if failed else "complete"
    run_info = {
        "run_name": run_name,
        "status": status,
        "config_file": str(Path(config_path).resolve()),
        "parameters": cfg,
        "input": input_fingerprint(cfg),
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
            f"Step {failed.step} failed in cell {err.get('cell')} (In [{err.get('execution_count')}]):\n"
            f"{err.get('error')}: {err.get('message')}\n"
            f"The executed notebook is kept for debugging: {failed_dir / (failed.step + '.ipynb')}\n"
            f"Error page: {failed_dir / 'index.html'}\n"
            + (f"The last complete report is unchanged: {final / 'index.html'}" if final.exists() else "")
        )
    _swap_into_place(tmp, final)
    return RunResult(run_name=run_name, status=status, run_dir=final, steps=results)


def default_step_jobs() -> int:
    """Steps run side by side in one run: one per core, at most 3 (no more are independent)."""
    return max(1, min(3, os.cpu_count() or 1))


def _execute_steps(steps: list[str], params, run_dir: Path, jobs: int) -> list[StepResult]:
    """Run the steps, each as soon as the steps it reads from (``STEP_INPUTS``) have completed,
    up to ``jobs`` at a time; after a failure no further step starts. The kernels of the next
    ``jobs`` steps start, and run their notebooks' imports, while earlier steps run (≈4 s a
    step off the run). Results in ``steps`` order. Interrupted, every kernel is killed before
    it re-raises."""
    jobs = max(1, jobs)
    results: dict[str, StepResult] = {}
    go = {step: threading.Event() for step in steps}
    cancelled = threading.Event()

    def job(step: str) -> StepResult | None:
        kernel = run_sync(_start_kernel)(notebook_imports(step))
        go[step].wait()
        if cancelled.is_set():
            run_sync(kernel.shutdown_kernel)(now=True)
            return None
        return execute_step(step, params(step), run_dir, kernel)

    pending, ahead, running = list(steps), [], {}  # running: every submitted job, ahead or executing
    IPCKernelManager.stopping.clear()
    with ThreadPoolExecutor(2 * jobs) as pool:
        try:
            while True:
                if any(r.status == "failed" for r in results.values()):
                    cancelled.set()
                    pending.clear()
                    for step in ahead:
                        go[step].set()
                    ahead.clear()
                while pending and len(ahead) < jobs:
                    ahead.append(pending.pop(0))
                    running[pool.submit(job, ahead[-1])] = ahead[-1]
                for step in list(ahead):
                    if len(running) - len(ahead) < jobs and all(d in results for d in STEP_INPUTS[step] if d in steps):
                        ahead.remove(step)
                        go[step].set()
                if not running:
                    break
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in done:
                    step = running.pop(future)
                    if (result := future.result()) is not None:
                        results[step] = result
        except BaseException:
            cancelled.set()
            for event in go.values():
                event.set()
            IPCKernelManager.stop_all()
            raise
    return [results[s] for s in steps if s in results]


def _run_one(config: str, reports_root: str | None, step_jobs: int | None) -> dict[str, Any]:
    """One config of a batch, in its own process: never raises, returns a summary row."""
    started = time.perf_counter()
    try:
        result = run(config, reports_root=reports_root, step_jobs=step_jobs)
        status, error, index = "complete", "", str(result.index)
    except WorkbenchError as exc:
        status, error, index = "failed", str(exc).splitlines()[0] if str(exc) else type(exc).__name__, ""
    except Exception as exc:  # noqa: BLE001 - a batch reports every failure and goes on
        status, error, index = "failed", f"{type(exc).__name__}: {exc}", ""
    return {"config": config, "status": status, "seconds": round(time.perf_counter() - started, 1), "error": error, "report": index}


def run_batch(configs: list[str | Path], jobs: int = 1, reports_root: str | Path | None = None) -> tuple[list[dict[str, Any]], Path]:
    """Run many configs, ``jobs`` at a time in separate processes (kernels over IPC, so they
    never collide); a failing config never stops the others. With several jobs each run does
    one step at a time (the cores are already busy). Returns the summary rows and the path of
    ``reports/batch-<timestamp>.html``."""
    from concurrent.futures import ProcessPoolExecutor

    root = Path(reports_root or PROJECT_ROOT / "reports").resolve()
    root.mkdir(parents=True, exist_ok=True)
    names = [str(Path(c).resolve()) for c in configs]
    with ProcessPoolExecutor(max_workers=max(1, jobs)) as pool:
        rows = list(pool.map(_run_one, names, [str(root)] * len(names), [1 if jobs > 1 else None] * len(names)))
    esc = html.escape
    cells = []
    for r in rows:
        link = f'<a href="{esc(Path(r["report"]).relative_to(root).as_posix())}">report</a>' if r["report"] else ""
        cells.append(f'<tr><td>{esc(Path(r["config"]).name)}</td><td style="color:{_STATUS_STYLE[r["status"]][1]}">'
                     f'{esc(r["status"])}</td><td class="num">{r["seconds"]:.1f} s</td><td>{esc(r["error"])}</td><td>{link}</td></tr>')
    body = "".join(cells)
    page = (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Batch run</title><style>'
            "body{font:15px/1.5 system-ui,sans-serif;max-width:980px;margin:2rem auto;padding:0 1rem}"
            "table{border-collapse:collapse;width:100%}td,th{padding:.4rem .6rem;border-bottom:1px solid #d0d7de;text-align:left}"
            f"td.num{{text-align:right}}</style></head><body><h1>Batch of {len(rows)} runs</h1>"
            f"<p>{sum(r['status'] == 'complete' for r in rows)} complete, {sum(r['status'] == 'failed' for r in rows)} failed; {jobs} at a time.</p>"
            f"<table><thead><tr><th>Config</th><th>Status</th><th>Time</th><th>Error</th><th></th></tr></thead><tbody>{body}</tbody></table></body></html>")
    path = root / f"batch-{time.strftime('%Y%m%d-%H%M%S')}.html"
    path.write_text(page, encoding="utf-8")
    return rows, path


_STATUS_STYLE = {"complete": ("✔", "#1a7f37"), "failed": ("✘", "#cf222e"), "not run": ("–", "#6e7781")}


def write_index(path: Path, run_info: dict[str, Any]) -> None:
    """The run's front page: each step with a link, its status, a one-line summary and time."""
    esc = html.escape
    rows = []
    for s in run_info["steps"]:
        mark, color = _STATUS_STYLE[s["status"]]
        link = f'<a href="{esc(s["step"])}.html">{esc(s["step"])}</a>' if s["status"] != "not run" else esc(s["step"])
        detail = s["summary"]
        if s.get("error"):
            e = s["error"]
            detail = f'{e.get("error")} in cell {e.get("cell")}: {e.get("message")}'
        seconds = f'{s["seconds"] + s["html_seconds"]:.1f} s' if s["status"] != "not run" else ""
        rows.append(
            f'<tr><td style="color:{color}">{mark} {esc(s["status"])}</td><td>{link}</td>'
            f'<td class="detail">{esc(detail)}</td><td class="num">{seconds}</td></tr>'
        )
    params = run_info["parameters"]
    failed = run_info["status"] == "failed"
    banner = (
        '<p class="banner">This run failed. The step marked ✘ names the cell and the error; '
        "its executed notebook is in this folder. The last complete report (if any) was not replaced.</p>"
        if failed else ""
    )
    owner = '<p><a href="owner_report.html">The owner\'s report</a></p>' if (path.parent / "owner_report.html").is_file() else ""
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Run {esc(run_info["run_name"])} — Segment Workbench</title>
<style>
body {{ font: 15px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif; max-width: 980px; margin: 2rem auto; padding: 0 1rem; color: #1f2328; }}
table {{ border-collapse: collapse; width: 100%; }} td, th {{ padding: .45rem .6rem; border-bottom: 1px solid #d0d7de; text-align: left; vertical-align: top; }}
td.num {{ text-align: right; white-space: nowrap; }} td.detail {{ white-space: pre-wrap; }}
.banner {{ background: #ffebe9; border: 1px solid #cf222e; padding: .6rem .8rem; border-radius: 6px; }}
.meta {{ color: #57606a; }}
</style></head><body>
<h1>Run “{esc(run_info["run_name"])}”</h1>
<p class="meta">Status: <strong>{esc(run_info["status"])}</strong> · as of {esc(str(params.get("as_of")))} ·
time unit {esc(str(params.get("time_unit")))} · started {esc(run_info["started_at"])} · {run_info["seconds"]:.0f} s</p>
{banner}{owner}
<table><thead><tr><th>Status</th><th>Step</th><th>Result</th><th>Time</th></tr></thead>
<tbody>{"".join(rows)}</tbody></table>
<p class="meta">Parameters, input fingerprint and package versions: <a href="run.json">run.json</a>.</p>
</body></html>
"""
    path.write_text(page, encoding="utf-8")
