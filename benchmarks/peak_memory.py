"""Run a command and print, as JSON, the peak memory of the processes it starts: the largest
single process (``ru_maxrss`` of the children, exact) and all of them together (the summed
PSS of the process tree, sampled every ``INTERVAL`` seconds, or less often when a sample
takes long: the sampler spends at most ``BUSY`` of one core; PSS shares a page between the
processes that map it, so libraries loaded by every kernel are not counted once per kernel).
GB are 10^9 bytes. Linux only (reads /proc). Used by bench_pipeline.py, which must not be the parent itself: a
child forked from a process that holds gigabytes reports that process's peak as its own.

    python benchmarks/peak_memory.py python -m segment_workbench.app.cli run configs/demo.yaml
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time

INTERVAL = 0.25
#: Reading the PSS of processes holding gigabytes walks their page tables: at 100M lines every
#: 0.25 s took a quarter of a core (of two) from the run it measured.
BUSY = 0.05


def peak_rss_gb(who: int = resource.RUSAGE_SELF) -> float:
    """Peak RSS in GB (10^9 bytes) of this process so far, or with ``resource.RUSAGE_CHILDREN``
    of its largest waited-for child (``ru_maxrss`` is in KiB on Linux)."""
    return resource.getrusage(who).ru_maxrss * 1024 / 1e9


def _children() -> dict[int, list[int]]:
    out: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    parent = int(stat.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):  # the process ended meanwhile
                continue
            out.setdefault(parent, []).append(int(entry))
    return out


def _pss_bytes(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as rollup:  # in kB, which are KiB
            return next(int(line.split()[1]) * 1024 for line in rollup if line.startswith("Pss:"))
    except (OSError, StopIteration):
        return 0


def tree_pss(root: int) -> int:
    """Bytes: summed PSS of ``root`` and its descendants now."""
    children, todo, total = _children(), [root], 0
    while todo:
        pid = todo.pop()
        total += _pss_bytes(pid)
        todo += children.get(pid, [])
    return total


def main() -> None:
    proc = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL)
    peak = 0
    while proc.poll() is None:
        start = time.perf_counter()
        peak = max(peak, tree_pss(proc.pid))
        time.sleep(max(INTERVAL, (time.perf_counter() - start) * (1 / BUSY - 1)))
    if proc.returncode:
        raise SystemExit(proc.returncode)
    print(json.dumps({"largest_process_gb": peak_rss_gb(resource.RUSAGE_CHILDREN), "all_processes_gb": peak / 1e9}))


if __name__ == "__main__":
    main()
