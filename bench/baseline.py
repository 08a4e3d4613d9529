"""Running an earlier commit of the project next to the current code, for benchmarks that
compare the two in one run (bench/extract.py --baseline, bench/long_video.py --baseline).

`worktree(ref)` checks REF out with `git worktree add --detach /tmp/a2c-baseline-<ref> REF`
(the main checkout's branch and files are never touched) and removes it afterwards with
`git worktree remove --force`; `code_env(path)` is the environment that runs the package of
that checkout with the same `.venv/bin/python` (PYTHONPATH wins over the editable install, and
the commands must run in a folder that holds no `any2capins/`, e.g. a temp folder).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PY = str(ROOT / ".venv" / "bin" / "python")


def _git(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True,
                          check=False, timeout=120)


@contextmanager
def worktree(ref: str) -> Iterator[Path]:
    """A checkout of `ref` under /tmp for the duration of the block. A worktree already at
    that path (another benchmark running) is used as it is and left in place."""
    sha = _git("rev-parse", "--verify", f"{ref}^{{commit}}")
    if sha.returncode != 0:
        raise SystemExit(f"--baseline {ref}: not a commit of this repository")
    path = Path("/tmp") / f"a2c-baseline-{ref}"
    created = False
    if not (path / "any2capins").is_dir():
        _git("worktree", "prune")
        out = _git("worktree", "add", "--detach", str(path), ref)
        if out.returncode != 0:
            raise SystemExit(f"git worktree add {path} {ref} failed: {out.stderr.strip()}")
        created = True
    try:
        yield path
    finally:
        if created:
            _git("worktree", "remove", "--force", str(path))


def commit_of(path: Path) -> str:
    """Short commit id of the checkout at `path`."""
    out = subprocess.run(["git", "-C", str(path), "rev-parse", "--short", "HEAD"],
                         capture_output=True, text=True, check=False, timeout=30)
    return out.stdout.strip() or "unknown"


def code_env(code: Path, **extra: str) -> dict[str, str]:
    """The environment running the package of checkout `code`, one OpenMP thread."""
    return {**os.environ, "PYTHONPATH": str(code), "OMP_NUM_THREADS": "1", **extra}
