"""Run every benchmark and write benchmarks/results.md: the machine, the versions, and each
benchmark's description (its docstring) and tables. ``make bench`` runs this.

    python benchmarks/run_all.py        # pipeline stages at 10k-10M lines, whole runs up to 1M
    python benchmarks/run_all.py --run-up-to 10000000 --only pipeline

Each benchmark runs in its own process (peak memory is per benchmark); its progress goes to
the terminal, its tables to the file.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import re
import subprocess
import sys
import time
from pathlib import Path

from segment_workbench.app import runner as report

HERE = Path(__file__).parent


def machine() -> str:
    """One line: CPU model, cores, memory, OS."""
    cpuinfo = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").is_file() else ""
    model = re.search(r"model name\s*:\s*(.+)", cpuinfo)
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (
        f"{model.group(1).strip() if model else platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} cores, {memory:.0f} GiB memory, {platform.system()} {platform.release()}"
    )


def versions() -> str:
    found = report.package_versions([*report.VERSIONED_PACKAGES, "lifetimes"])
    return ", ".join(f"{name} {version}" for name, version in found.items())


def description(script: Path) -> str:
    """The script's docstring up to its usage line."""
    doc = re.match(r'\s*"""(.*?)"""', script.read_text(), re.S).group(1)
    return doc.split("\n\n    python")[0].strip()


def benchmarks(lines: list[int], run_up_to: int) -> list[tuple[str, list[str]]]:
    sizes = [str(n) for n in lines]
    return [
        (
            "Side by side with lifetimes 0.11.3 and a per-customer pandas apply",
            ["bench_lifetimes.py", "--lines", "100000", "1000000", "--repeats", "7"],
        ),
        ("A file larger than the memory", ["bench_large_file.py", "--gb", "0.3", "2", "--limit-gb", "0", "8"]),
        (
            "Model fits side by side with lifetimes 0.11.3",
            ["bench_clv.py", "--customers", "23570", "1000000", "--repeats", "3"],
        ),
        ("Segmentation", ["bench_segment.py", "--customers", "3000", "100000", "--repeats", "3"]),
        ("Cohorts and churn", ["bench_cohorts.py", "--customers", "3000", "55000", "--repeats", "3"]),
        ("The pipeline at growing sizes", ["bench_pipeline.py", "--lines", *sizes, "--run-up-to", str(run_up_to)]),
        ("Scale: 10M and 100M lines end to end", ["bench_scale.py", "--lines", "10000000", "100000000"]),
    ]


def previous_sections(path: Path) -> dict[str, str]:
    """The sections of an earlier results file by title, each noting when it was measured."""
    if not path.is_file():
        return {}
    text = path.read_text(encoding="utf-8")
    when = re.search(r"on (\d{4}-\d\d-\d\d \d\d:\d\d)", text)
    out = {}
    for part in re.split(r"^## ", text, flags=re.M)[1:]:
        title = part.split("\n", 1)[0].split(" (`")[0]
        part = re.sub(r"\n(This run|All benchmarks): .*", "", part)
        dated = "(measured " in part or title.strip() == "History"  # the history carries its own dates
        measured = "" if dated else f"\n(measured {when.group(1) if when else 'earlier'})\n"
        out[title] = f"## {part.rstrip()}\n{measured}"
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lines", type=int, nargs="+", default=[10_000, 100_000, 1_000_000, 10_000_000])
    parser.add_argument("--run-up-to", type=int, default=1_000_000, help="whole workbench runs only up to this size")
    parser.add_argument("--only", nargs="*", help="run only the benchmarks whose script name contains one of these")
    parser.add_argument("--output", type=Path, default=HERE / "results.md")
    args = parser.parse_args()
    started = time.perf_counter()
    previous = previous_sections(args.output)
    kept = previous if args.only else {}
    sections = [
        f"# Benchmarks\n\nWritten by `make bench` (benchmarks/run_all.py) on "
        f"{dt.datetime.now():%Y-%m-%d %H:%M}.\n\n- Machine: {machine()}\n- Versions: {versions()}\n"
    ]
    for title, command in benchmarks(args.lines, args.run_up_to):
        if args.only and not any(part in command[0] for part in args.only):
            if title in kept:  # not run this time: the earlier result stays, marked with its date
                sections.append(kept[title])
            continue
        print(f"== {command[0]}", file=sys.stderr, flush=True)
        begun = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, str(HERE / command[0]), *command[1:]], cwd=HERE, stdout=subprocess.PIPE, text=True
        )
        body = (
            proc.stdout.strip()
            if proc.returncode == 0
            else f"**Failed (exit {proc.returncode})**; output so far:\n\n{proc.stdout}"
        )
        sections.append(
            f"## {title} (`benchmarks/{command[0]}`)\n\n{description(HERE / command[0])}\n\n"
            f"Command: `python benchmarks/{' '.join(command)}` ({time.perf_counter() - begun:.0f} s)\n\n{body}\n"
        )
    if "History" in previous:  # the record of what was changed and measured, kept by every run
        sections.append(previous["History"])
    sections.append(f"This run: {(time.perf_counter() - started) / 60:.0f} minutes.\n")
    args.output.write_text("\n".join(sections), encoding="utf-8")
    print(f"wrote {args.output}", file=sys.stderr)


if __name__ == "__main__":
    main()
