"""Kernels for the steps: IPC sockets in a private folder (no TCP ports, so parallel runs never
collide), started ahead with the notebook's imports run silently, and a papermill engine that
executes on such a kernel.

This relies on jupyter_client's private ``_async_launch_kernel``, ``_async_interrupt_kernel`` and
``_async_cleanup_resources`` and on papermill's ``PapermillNotebookClient``; their versions are
pinned in pyproject.toml and tests/test_kernels.py fails loudly when an upgrade changes them.
"""

from __future__ import annotations

import ast
import os
import shutil
import sys
import tempfile
import threading
from queue import Empty
from typing import Any, ClassVar

import nbformat
from jupyter_client.manager import AsyncKernelManager
from papermill.clientwrap import PapermillNotebookClient
from papermill.engines import NBClientEngine, papermill_engines
from papermill.log import logger
from traitlets import default

from segment_workbench.app.resources import notebook_path, notebooks_dir


class IPCKernelManager(AsyncKernelManager):
    """A kernel manager whose kernel listens on IPC sockets in a private temporary folder,
    and always runs this Python (the one the runner runs in). The kernels it has running are
    known, so an interrupted run can stop those that run steps beside the main thread."""

    running: ClassVar[set[IPCKernelManager]] = set()
    stopping: ClassVar[threading.Event] = threading.Event()

    @default("transport")
    def _transport_default(self) -> str:
        return "ipc"

    @default("ip")
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


class StartedKernelEngine(NBClientEngine):
    """papermill's nbclient engine on a kernel the runner started (``km``). The client owns
    it: it shuts the kernel down at the end, as it does a kernel it starts itself."""

    name = "segment_workbench"

    @classmethod
    def execute_managed_notebook(cls, nb_man, kernel_name, *, km, start_timeout=60, **kwargs):
        kwargs.pop("input_path", None)
        client = PapermillNotebookClient(
            nb_man, km=km, kernel_name=kernel_name, startup_timeout=start_timeout, log=logger, **kwargs
        )
        client.owns_km = True
        return client.execute()


def register_engine() -> str:
    """Register ``StartedKernelEngine`` with papermill (the runner calls it; registering again is
    harmless) and return its name."""
    papermill_engines.register(StartedKernelEngine.name, StartedKernelEngine)
    return StartedKernelEngine.name


def notebook_imports(step: str) -> str:
    """The notebook's top-level import statements, in order, once each."""
    statements = []
    for cell in nbformat.read(notebook_path(step), as_version=4).cells:
        if cell.cell_type == "code":
            statements += [
                ast.unparse(node)
                for node in ast.parse(cell.source).body
                if isinstance(node, ast.Import | ast.ImportFrom) and getattr(node, "module", None) != "__future__"
            ]
    return "\n".join(dict.fromkeys(statements))


async def start_kernel(imports: str, env: dict[str, str] | None = None) -> IPCKernelManager:
    """A kernel in the notebooks' folder (as nbclient starts one), with ``env`` (default: this
    process's), that has run ``imports`` silently: nothing is recorded, so the notebook's
    outputs and execution counts are those of a fresh kernel; its own import cells then find
    the modules loaded."""
    km = IPCKernelManager(kernel_name="python3")
    await km.start_kernel(
        cwd=str(notebooks_dir()), extra_arguments=["--HistoryManager.hist_file=:memory:"], env=env or dict(os.environ)
    )
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
