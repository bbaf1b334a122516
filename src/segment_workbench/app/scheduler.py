"""Which steps run when: each as soon as the steps it reads from have completed, a few at a time."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from typing import Any

from jupyter_core.utils import run_sync

from segment_workbench.app.kernels import IPCKernelManager, notebook_imports, start_kernel
from segment_workbench.config import STEP_INPUTS


def default_step_jobs() -> int:
    """Steps run side by side in one run: one per core, at most 3 (no more are independent)."""
    return max(1, min(3, os.cpu_count() or 1))


#: The embedded DuckDB's memory limit in a step's kernel, as a share of the machine: a step
#: that runs alone gets ``ALONE_MEMORY_SHARE`` (the cleaning of 100M lines spills less), steps
#: that can run side by side split ``SIDE_BY_SIDE_MEMORY_SHARE`` (a quarter each on two cores; at
#: 100M lines, 06 ran out of memory with 15%). Each kernel's frames come on top.
#: ``SEGMENT_WORKBENCH_DUCKDB_MEMORY`` overrides both.
ALONE_MEMORY_SHARE = 0.35
SIDE_BY_SIDE_MEMORY_SHARE = 0.5
MEMORY_VARIABLE = "SEGMENT_WORKBENCH_DUCKDB_MEMORY"


def _upstream(step: str) -> set[str]:
    """The steps ``step`` reads from, directly or through others."""
    direct = set(STEP_INPUTS[step])
    return direct.union(*(_upstream(d) for d in direct))


def runs_alone(step: str, steps: list[str]) -> bool:
    """Whether no other of ``steps`` can run at the same time as ``step``: each is upstream or
    downstream of it."""
    return all(o == step or o in _upstream(step) or step in _upstream(o) for o in steps)


def kernel_env(step: str, steps: list[str], jobs: int) -> dict[str, str]:
    """The environment of ``step``'s kernel: this one, with its DuckDB memory limit (unless the
    user set ``SEGMENT_WORKBENCH_DUCKDB_MEMORY``)."""
    env = dict(os.environ)
    if MEMORY_VARIABLE not in env:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        side_by_side = min(jobs, sum(not runs_alone(s, steps) for s in steps)) or 1
        share = ALONE_MEMORY_SHARE if runs_alone(step, steps) else SIDE_BY_SIDE_MEMORY_SHARE / side_by_side
        env[MEMORY_VARIABLE] = f"{int(share * memory / 1e6)}MB"
    return env


def execute_steps(steps: list[str], execute: Callable[[str, IPCKernelManager], Any], jobs: int) -> list[Any]:
    """Run the steps, each as soon as the steps it reads from (``STEP_INPUTS``) have completed,
    up to ``jobs`` at a time; after a failure no further step starts. The kernels of the next
    ``jobs`` steps start, and run their notebooks' imports, while earlier steps run (≈4 s a
    step off the run). Results in ``steps`` order. Interrupted, every kernel is killed before
    it re-raises. ``execute(step, kernel)`` runs one step and returns its result (an object
    with a ``status``), shutting the kernel down."""
    jobs = max(1, jobs)
    # Parsed here, in this thread: CPython 3.11's ast.parse is not thread-safe ("AST constructor
    # recursion depth mismatch" when two job threads parse at once).
    imports = {step: notebook_imports(step) for step in steps}
    results: dict[str, Any] = {}
    go = {step: threading.Event() for step in steps}
    cancelled = threading.Event()

    def job(step: str) -> Any:
        kernel = run_sync(start_kernel)(imports[step], kernel_env(step, steps, jobs))
        go[step].wait()
        if cancelled.is_set():
            run_sync(kernel.shutdown_kernel)(now=True)
            return None
        return execute(step, kernel)

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
