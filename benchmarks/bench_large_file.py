"""A file far larger than a usual export: generate a CSV of the demo shop's cleaned lines
repeated with fresh customer and order ids (default 2 GB); in a child process, (a) collect it
as 01_collect does (read by DuckDB into a frame, or refused with a clear message when it cannot
fit), (b) build the customer table straight from the file with DuckDB (segment_workbench.customers.engine), under
the same limit given to DuckDB as its memory limit. Records the outcome, the time and the peak
memory (RSS).

    python benchmarks/bench_large_file.py --gb 0.1 0.5 2

Generated files go to benchmarks/data/ (git-ignored) and are removed afterwards unless --keep.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from segment_workbench.cleaning import rules as cleaning
from segment_workbench.io import sources

HERE = Path(__file__).parent


def generate(path: Path, gigabytes: float) -> int:
    """Write ``gigabytes`` of the demo shop's cleaned order lines (so DuckDB can aggregate the
    file as it is); returns the number of lines."""
    raw = sources.collect({"kind": "synthetic", "n_customers": 3000, "seed": 1}).transactions
    block = cleaning.clean(raw, "2025-12-31").transactions
    block = block[block["customer_id"].str.match(r"^C\d+$") & block["order_id"].str.match(r"^C?\d+$")]
    block = block[
        [
            "order_id",
            "customer_id",
            "order_date",
            "product_id",
            "product_name",
            "category",
            "quantity",
            "unit_price",
            "discount",
            "channel",
            "country",
        ]
    ].reset_index(drop=True)
    customer = block["customer_id"].str[1:].astype(int).to_numpy()
    order = block["order_id"].str.lstrip("C").astype(int).to_numpy()
    target, lines, copy = gigabytes * 1e9, 0, 0
    with path.open("w", encoding="utf-8") as out:
        out.write(",".join(block.columns) + "\n")
        while out.tell() < target:
            part = block.copy()
            part["customer_id"] = [f"C{v}" for v in customer + copy * 1_000_000]
            part["order_id"] = np.char.add(
                np.where(block["order_id"].str.startswith("C"), "C", ""), (order + copy * 10_000_000).astype(str)
            )
            part.to_csv(out, header=False, index=False)
            lines, copy = lines + len(part), copy + 1
    return lines


def collect_in_child(path: Path, limit_gb: float | None) -> dict:
    code = f"""
import json, resource, time
if {limit_gb!r}:
    resource.setrlimit(resource.RLIMIT_AS, (int({limit_gb!r} * 1e9), resource.RLIM_INFINITY))
from segment_workbench.io import sources
from segment_workbench.errors import InputError
t = time.perf_counter()
try:
    c = sources.collect({{"kind": "csv", "path": {str(path)!r}}})
    outcome, message = "collected", f"{{len(c.transactions):,}} lines"
except InputError as e:
    outcome, message = "refused", str(e).splitlines()[0]
"""
    return _child(code)


def aggregate_in_child(path: Path, limit_gb: float | None) -> dict:
    """The customer table straight from the file by DuckDB, capped at 3/4 of the limit (DuckDB
    honours its own memory limit; under an address-space limit it crashes instead)."""
    code = f"""
import json, resource, time
from pathlib import Path
import ibis
from segment_workbench.customers import table as customers
if {limit_gb!r}:
    ibis.get_backend().raw_sql("SET memory_limit='{(limit_gb or 0) * 0.75:g}GB'; SET temp_directory='{path.parent / "spill"}'")
t = time.perf_counter()
table = customers.build_customer_table(Path({str(path)!r}), "2025-12-31")
outcome, message = "customer table by DuckDB", f"{{len(table):,}} customers"
"""
    return _child(code)


def _child(code: str) -> dict:
    code += f"""
import sys
sys.path.insert(0, {str(HERE)!r})
from peak_memory import peak_rss_gb
print(json.dumps({{"outcome": outcome, "message": message, "seconds": time.perf_counter() - t,
                  "peak_rss_gb": peak_rss_gb()}}))
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if proc.returncode != 0:
        return {
            "outcome": f"crashed (exit {proc.returncode})",
            "message": " ".join(proc.stderr.strip().splitlines()[-1:]),
            "seconds": float("nan"),
            "peak_rss_gb": float("nan"),
        }
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--gb", type=float, nargs="+", default=[2.0])
    parser.add_argument("--keep", action="store_true")
    parser.add_argument(
        "--limit-gb", type=float, nargs="*", default=[0], help="address-space limits (ulimit -v) to run under; 0 = none"
    )
    args = parser.parse_args()
    (HERE / "data").mkdir(exist_ok=True)
    rows = []
    for gb in args.gb:
        path = HERE / "data" / f"large_{gb:g}gb.csv"
        started = time.perf_counter()
        lines = generate(path, gb)
        print(f"generated {path.name} in {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
        for limit in args.limit_gb:
            for how in (collect_in_child, aggregate_in_child):
                result = how(path, limit or None)
                size = path.stat().st_size / 1e9
                rows.append(
                    f"| {size:.2f} GB | {lines:,} | {f'{limit:g} GB' if limit else 'none'} | {result['outcome']} | "
                    f"{result['seconds']:.1f} s | {result['peak_rss_gb']:.2f} GB | {result['message']} |"
                )
                print(rows[-1], file=sys.stderr, flush=True)
        if not args.keep:
            path.unlink()
    print("| file | lines | memory limit | outcome | time | peak RSS | message |\n|---|---:|---|---|---:|---:|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
