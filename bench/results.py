"""One format for benchmark results, so every figure exists once.

Each benchmark calls `write_results(name, figures, table=..., notes=...)` at the end of a run.
That writes `bench/results/<name>.json` with the date, commit, machine and load average next to
the figures; `any2capins docs` (make docs) renders `docs/benchmarks.md` from those files. Docs
and the README link to docs/benchmarks.md instead of copying figures.

    figures: flat dict of named numbers (ratios, seconds, items/s) that the text may refer to
    table:   optional markdown table (list of rows; the first row is the header)
    notes:   one paragraph: what was measured, how, and what the target is
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import time
from pathlib import Path
from typing import Any

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def _commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                             text=True, cwd=RESULTS_DIR.parent, timeout=10, check=False)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, cwd=RESULTS_DIR.parent,
                               timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    sha = out.stdout.strip() or "unknown"
    return f"{sha}+dirty" if dirty.stdout.strip() else sha


def machine() -> dict[str, Any]:
    """Where the figures were measured: cores, memory, load average at the end of the run."""
    try:
        mem_gb = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (ValueError, OSError):
        mem_gb = None
    return {"cpus": os.cpu_count(), "memory_gb": mem_gb, "python": platform.python_version(),
            "platform": platform.platform(terse=True), "load_avg": [round(x, 2) for x in
                                                                   os.getloadavg()]}


def write_results(name: str, figures: dict[str, Any], *, table: list[list[Any]] | None = None,
                  notes: str = "", command: str | None = None) -> Path:
    """Write bench/results/<name>.json (atomically) and return its path."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    record = {
        "bench": name, "command": command or f".venv/bin/python bench/{name}.py",
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "commit": _commit(),
        "machine": machine(), "notes": notes, "figures": figures,
        "table": [[str(c) for c in row] for row in (table or [])],
    }
    path = RESULTS_DIR / f"{name}.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(record, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    tmp.replace(path)
    print(f"results -> {path.relative_to(RESULTS_DIR.parent.parent)}")
    return path
