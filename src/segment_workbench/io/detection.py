"""What a file is before it is read: compression, text encoding, delimiter, and whether it fits in memory."""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import os
import re
import resource
from pathlib import Path

from segment_workbench.errors import InputError

CSV_DELIMITERS = [",", ";", "\t", "|"]


_SAMPLE_BYTES = 64 * 1024


def existing_file(path: str | Path, what: str, key: str) -> Path:
    """``path`` when it is a file; else an InputError naming ``what`` it is and the config ``key``
    that names it."""
    path = Path(path)
    if not path.is_file():
        raise InputError(
            f"The {what} does not exist.",
            file=str(path),
            hint=f"Check {key}; relative paths are read from the config file's folder.",
        )
    return path


def _is_gzip(path: Path) -> bool:
    with open(path, "rb") as f:
        return f.read(2) == b"\x1f\x8b"


def _open_binary(path: Path) -> io.BufferedIOBase:
    return gzip.open(path, "rb") if _is_gzip(path) else open(path, "rb")


def detect_encoding(path: Path) -> str:
    """``utf-8-sig`` (BOM), ``utf-16`` (BOM), ``utf-8`` if the whole file decodes as UTF-8,
    else ``cp1252`` (Windows exports) if it decodes as that, else ``latin-1``."""
    with _open_binary(path) as f:
        head = f.read(4)
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    for encoding in ("utf-8", "cp1252"):
        decoder = codecs.getincrementaldecoder(encoding)()
        try:
            with _open_binary(path) as f:
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    decoder.decode(chunk)
                decoder.decode(b"", final=True)
            return encoding
        except UnicodeDecodeError:
            continue
    return "latin-1"


def detect_delimiter(sample: str) -> str:
    """The candidate delimiter that splits the first lines into the most consistent number
    (> 1) of fields, quotes respected. Falls back to ``,``."""
    lines = sample.splitlines()[:50]
    if len(lines) > 1 and not sample.endswith(("\n", "\r")):
        lines = lines[:-1]  # the last line of the sample may be cut
    best, best_score = ",", (0.0, 0)
    for delim in CSV_DELIMITERS:
        counts = [len(r) for r in csv.reader(lines, delimiter=delim) if r]
        if not counts or counts[0] <= 1:
            continue
        score = (sum(c == counts[0] for c in counts) / len(counts), counts[0])
        if score > best_score:
            best, best_score = delim, score
    return best


def _read_sample(path: Path, encoding: str) -> str:
    with _open_binary(path) as f:
        raw = f.read(_SAMPLE_BYTES)
    return raw.decode(encoding, errors="replace")


#: Peak memory of 01_collect per byte of CSV read as text and typed, by pandas (12.2
#: measured on a 0.3 GB file in benchmarks/bench_large_file.py, rounded up) and by DuckDB (8.8);
#: gzip files are assumed to expand 5 times.
TEXT_MEMORY_FACTOR = 13


DUCKDB_MEMORY_FACTOR = 9


GZIP_EXPANSION = 5


def available_memory() -> int:
    """Bytes this process can still allocate: the machine's available memory (Linux
    MemAvailable), or less when an address-space limit (``ulimit -v``) is set."""
    available = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES")
    meminfo = Path("/proc/meminfo")
    if meminfo.is_file():
        found = re.search(r"MemAvailable:\s+(\d+) kB", meminfo.read_text())
        available = int(found.group(1)) * 1024 if found else available
    limit = resource.getrlimit(resource.RLIMIT_AS)[0]
    status = Path("/proc/self/status")
    if limit != resource.RLIM_INFINITY and status.is_file():
        used = int(re.search(r"VmSize:\s+(\d+) kB", status.read_text()).group(1)) * 1024
        available = min(available, limit - used)
    return max(available, 0)


TOO_LARGE_HINT = (
    "Load the orders into a database and use a sql source whose query selects the period and columns "
    "you need, export a shorter period, or run on a machine with more memory. The customer table and "
    "cohorts can be computed from the file without loading it (README: 'Data larger than memory')."
)


def check_memory(path: Path, factor: float = TEXT_MEMORY_FACTOR) -> None:
    """Refuse, with a clear message, a file too large to read in the memory available (never an
    out-of-memory crash halfway); ``factor``: peak memory per byte of text."""
    size = path.stat().st_size * (GZIP_EXPANSION if _is_gzip(path) else 1)
    need, free = size * factor, available_memory()
    if need > free:
        raise InputError(
            f"The file is too large to read here: {size / 1e9:.2f} GB of text needs about {need / 1e9:.1f} GB of memory "
            f"and {free / 1e9:.1f} GB are available.",
            file=str(path),
            hint=TOO_LARGE_HINT,
        )
