"""The one timing loop the benchmarks share."""

from __future__ import annotations

import statistics
import time


def timed(fn, repeats: int, *args) -> tuple[float, object]:
    """Median wall time in seconds of ``repeats`` calls of ``fn(*args)``, and the last result."""
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn(*args)
        times.append(time.perf_counter() - start)
    return statistics.median(times), result
