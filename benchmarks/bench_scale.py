"""The whole ``workbench run`` on a generated typed export of ``--lines`` order lines
(``scale_data.py``: about 20 lines per customer, planted dirt): its wall time, the time of
each step (notebook, from its first cell), and its peak memory (all its processes together, and
the largest one; ``peak_memory.py``). 01_collect maps and types the file in DuckDB
(``io.scan``), 02_clean cleans it there, and no step holds the lines in pandas. The data file
is generated once into benchmarks/data/ (git-ignored) and reused.

    python benchmarks/bench_scale.py --lines 10000000 100000000
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from scale_data import generate

HERE = Path(__file__).parent


def label(lines: int) -> str:
    return f"{lines // 1_000_000}M" if lines >= 1_000_000 else f"{lines // 1000}k"


def run(lines: int) -> dict:
    data = HERE / "data" / f"scale_{label(lines)}.parquet"
    if not data.is_file():
        generate(lines, data)
    config = HERE / "data" / f"scale_{label(lines)}.yaml"
    config.write_text(
        f"run_name: scale_{label(lines)}\nas_of: '2025-12-31'\nsource: {{kind: parquet, path: {data.name}}}\n"
    )
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, str(HERE / "peak_memory.py"), sys.executable, "-m", "segment_workbench.app.cli", "run"]
        + [str(config), "--reports", str(HERE / "data" / "reports")],
        check=True,
        capture_output=True,
        text=True,
    )
    seconds = time.perf_counter() - start
    info = json.loads((HERE / "data" / "reports" / f"scale_{label(lines)}" / "run.json").read_text())
    customers = info.get("summaries", {}).get("02_clean", "")
    return {
        "seconds": seconds,
        "memory": json.loads(done.stdout.splitlines()[-1]),
        "steps": info["steps"],
        "summary": customers,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, nargs="+", default=[10_000_000, 100_000_000])
    args = parser.parse_args()
    rows, steps = [], {}
    for lines in args.lines:
        result = run(lines)
        memory = result["memory"]
        rows.append(
            f"| {label(lines)} | {result['seconds']:.0f} s ({result['seconds'] / 60:.1f} min) | "
            f"{memory['all_processes_gb']:.2f} GB ({memory['largest_process_gb']:.2f}) |"
        )
        steps[label(lines)] = {s["step"]: s.get("seconds", float("nan")) for s in result["steps"]}
        print(rows[-1], file=sys.stderr, flush=True)
    print("| generated lines | whole run | peak memory, all processes (largest) |\n|---|---:|---:|")
    print("\n".join(rows))
    names = list(next(iter(steps.values())))
    print("\n| step | " + " | ".join(steps) + " |\n|---|" + "---:|" * len(steps))
    for name in names:
        print(f"| {name} | " + " | ".join(f"{steps[k].get(name, float('nan')):.0f} s" for k in steps) + " |")


if __name__ == "__main__":
    main()
