"""The runner's reliance on jupyter_client's and papermill's internals, checked so an upgrade
that breaks it fails here, loudly, instead of hanging a run (the versions are pinned)."""

import inspect
import subprocess
import sys

from jupyter_client.manager import AsyncKernelManager
from papermill.clientwrap import PapermillNotebookClient
from papermill.engines import NBClientEngine

from segment_workbench.app import kernels


def test_the_private_kernel_manager_hooks_we_override_exist():
    for name in (
        "_async_launch_kernel",
        "_async_interrupt_kernel",
        "_async_cleanup_resources",
        "format_kernel_cmd",
        "shutting_down",
    ):
        assert hasattr(AsyncKernelManager, name), f"jupyter_client no longer has AsyncKernelManager.{name}"
    assert list(inspect.signature(AsyncKernelManager._async_launch_kernel).parameters)[:2] == ["self", "kernel_cmd"]
    assert "restart" in inspect.signature(AsyncKernelManager._async_cleanup_resources).parameters


def test_papermill_takes_a_started_kernel_through_our_engine():
    assert "km" in inspect.signature(PapermillNotebookClient.__init__).parameters
    assert issubclass(kernels.StartedKernelEngine, NBClientEngine)
    assert "owns_km" in inspect.getsource(PapermillNotebookClient.__mro__[1]), (
        "nbclient no longer has NotebookClient.owns_km"
    )
    assert kernels.register_engine() == "segment_workbench"


def test_importing_the_kernels_module_registers_nothing():
    code = (
        "from papermill.engines import papermill_engines; import segment_workbench.app.runner; "
        "print('segment_workbench' in papermill_engines._engines)"
    )
    done = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    assert done.stdout.strip() == "False"  # the runner registers its engine when it runs, not on import
    assert kernels.StartedKernelEngine.name == "segment_workbench"
