"""Long multi-shot video benchmark (issue 19, "One corridor"): bounded shards and flat memory.

    nice .venv/bin/python bench/long_video.py [--quick] [--executors local,ray] [--no-giant]
                                             [--baseline REF]

Builds two synthetic multi-shot H.264 videos (640x360, 25 fps, a hard cut every 3.4 s: 53 shots
~3 min and 106 shots ~6 min; each shot a slow pan over a frame of a bundled clip, so the cuts
are clear and nothing inside a shot looks like one), then for each:

1. `any2capins ingest` (shot detection on, `ingest.clips_per_shard` 64): checks that the shots
   spread over ceil(shots / 64) clips/ shards of at most 64 rows each (and how many shots the
   detector found against how many were built);
2. `any2capins extract` with the demo profile's tiny models (`pipelines/demo.yaml`, models
   written by the same code as `any2capins models tiny`), stages depth, pose, refs (SAM2 cut-
   outs included) and camera on a small count (`camera.count=4`, 160 px: pycolmap's cost per
   clip is not what is measured) plus the contact sheets, as a subprocess, for each executor
   of --executors. Memory is measured on the process tree: the peak RSS of the extract process
   itself (`/usr/bin/time -f %M`: exact) and, sampled every 0.2 s from /proc, the peak of the
   tree's summed RSS and summed PSS (Ray: driver, raylet + object store, GCS and every worker;
   PSS counts a shared page once, RSS once per process that maps it).

Printed and recorded (bench/results/long_video.json): the figures per (executor, shard size,
video), and the ratio 6-min / 3-min of each peak (target <= 1.10). With --giant (default on),
the same videos ingested with `ingest.clips_per_shard=1000` (one shard per video, as every
long video was before bounded shards) go through the new runtime too: memory stays flat only
if rows are streamed and clips processed clip-major. With --baseline REF (e.g. e244c89, the
code before the rebuild) the giant shards also go through that code's `extract` (a git
worktree under /tmp, removed at the end), which is what the issue measured (1.65 GB for 53
shots, 2.42 GB for 106).
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "bench")]

from results import write_results  # noqa: E402

PY = str(ROOT / ".venv" / "bin" / "python")
FPS = 25
SHOT_FRAMES = 85  # 3.4 s at 25 fps
SIZE = (640, 360)
CACHE = Path(tempfile.gettempdir()) / "a2c-bench-long"
SOURCES = ("people_his_girl_friday_pd.mp4", "vp9_bear.webm", "people_bedroom_kids_jumping.mp4",
           "vp8_flower_cc0.webm", "people_selfie_1s.mp4")
PERMS = ((0, 1, 2), (2, 1, 0), (1, 2, 0))  # colour variants: repeats of a base frame differ


# ---------------------------------------------------------------------------- the videos

def _bases(per_source: int = 8) -> list[list[np.ndarray]]:
    """`per_source` frames spread over each bundled source clip, RGB at 1.25x the video size
    (the room a shot pans across)."""
    import av
    import cv2

    big = (SIZE[0] * 5 // 4, SIZE[1] * 5 // 4)
    out = []
    for name in SOURCES:
        with av.open(str(ROOT / "examples" / "clips" / name)) as c:
            frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
        pick = np.linspace(0, len(frames) - 1, per_source).round().astype(int)
        out.append([cv2.resize(frames[i], big, interpolation=cv2.INTER_AREA) for i in pick])
    return out


def shot_frames(base: np.ndarray, k: int) -> np.ndarray:
    """Shot k: a slow pan (right or left by turns, ~2 px per frame) with a slight vertical
    drift across `base`; no cut inside."""
    w, h = SIZE
    room_x, room_y = base.shape[1] - w, base.shape[0] - h
    out = np.empty((SHOT_FRAMES, h, w, 3), np.uint8)
    for i in range(SHOT_FRAMES):
        t = i / (SHOT_FRAMES - 1)
        x = round(room_x * (t if k % 2 == 0 else 1 - t))
        y = round(room_y * (0.25 + 0.5 * t))
        out[i] = base[y : y + h, x : x + w]
    return out


def build_video(path: Path, shots: int) -> Path:
    """A CFR H.264 video of `shots` shots of SHOT_FRAMES frames, consecutive shots from
    different sources (hard cuts); encoded shot by shot. Cached under /tmp."""
    import av

    if path.exists():
        return path
    bases = _bases()
    tmp = path.with_suffix(".part.mp4")
    with av.open(str(tmp), "w") as c:
        s = c.add_stream("libx264", rate=FPS)
        s.width, s.height, s.pix_fmt = SIZE[0], SIZE[1], "yuv420p"
        s.options = {"preset": "veryfast", "g": "50", "crf": "28"}
        for k in range(shots):
            src = bases[k % len(SOURCES)]
            base = src[(k // len(SOURCES)) % len(src)]
            base = base[..., PERMS[(k // (len(SOURCES) * len(src))) % len(PERMS)]]
            for f in shot_frames(np.ascontiguousarray(base), k):
                c.mux(s.encode(av.VideoFrame.from_ndarray(f, format="rgb24")))
        c.mux(s.encode())
    tmp.replace(path)
    return path


# ---------------------------------------------------------------------------- memory

def _children() -> dict[int, list[int]]:
    """Parent pid -> child pids, from /proc."""
    kids: dict[int, list[int]] = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            stat = Path(f"/proc/{d}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        kids.setdefault(ppid, []).append(int(d))
    return kids


def _kb(path: str, key: str) -> int:
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith(key):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


class TreeMonitor(threading.Thread):
    """Samples a process tree every `every` s: the peaks of its summed RSS and PSS (kB) and
    of its process count."""

    def __init__(self, root: int, every: float = 0.2) -> None:
        super().__init__(daemon=True)
        self.root, self.every = root, every
        self.rss = self.pss = self.procs = 0
        self._stop = threading.Event()

    def _tree(self) -> list[int]:
        kids, out, todo = _children(), [], [self.root]
        while todo:
            pid = todo.pop()
            out.append(pid)
            todo.extend(kids.get(pid, ()))
        return out

    def run(self) -> None:
        while not self._stop.is_set():
            pids = self._tree()
            self.rss = max(self.rss, sum(_kb(f"/proc/{p}/status", "VmRSS:") for p in pids))
            self.pss = max(self.pss, sum(_kb(f"/proc/{p}/smaps_rollup", "Pss:") for p in pids))
            self.procs = max(self.procs, len(pids))
            self._stop.wait(self.every)

    def stop(self) -> None:
        self._stop.set()
        self.join()


def measured(cmd: list[str], *, env: dict[str, str], log: Path) -> dict[str, Any]:
    """Run `cmd` under /usr/bin/time (peak RSS of the command's own process) with its tree
    sampled (TreeMonitor); output to `log`. Figures in MB, wall in s."""
    peak = log.with_suffix(".maxrss")
    t0 = time.perf_counter()
    with log.open("w") as out:
        proc = subprocess.Popen(["/usr/bin/time", "-f", "%M", "-o", str(peak), *cmd],
                                stdout=out, stderr=subprocess.STDOUT, env=env, cwd=log.parent)
        mon = TreeMonitor(proc.pid)
        mon.start()
        rc = proc.wait()
        mon.stop()
    wall = time.perf_counter() - t0
    text = peak.read_text().split() if peak.exists() else []
    maxrss = int(text[-1]) if text and text[-1].isdigit() else 0
    if rc != 0:
        tail = "\n".join(log.read_text().splitlines()[-25:])
        print(f"  ! exit {rc}: {' '.join(cmd[:6])} ...\n{tail}")
    return {"rc": rc, "wall_s": round(wall, 1), "peak_rss_mb": round(maxrss / 1024, 1),
            "tree_rss_mb": round(mon.rss / 1024, 1), "tree_pss_mb": round(mon.pss / 1024, 1),
            "procs": mon.procs}


# ---------------------------------------------------------------------------- the commands

def code_env(code: Path) -> dict[str, str]:
    """The environment running the package of checkout `code` (PYTHONPATH wins over the
    editable install; the commands run in a folder that holds no package)."""
    return {**os.environ, "PYTHONPATH": str(code), "OMP_NUM_THREADS": "1"}


def ingest(code: Path, video: Path, run: Path, per_shard: int, log: Path) -> None:
    src = run.parent / f"src-{video.stem}"
    src.mkdir(parents=True, exist_ok=True)
    if not (src / video.name).exists():
        os.symlink(video, src / video.name)
    cmd = [PY, "-m", "any2capins.cli", "ingest", str(src), "--out", str(run),
           "--set", f"ingest.clips_per_shard={per_shard}", "--set", "runtime.executor=local",
           "--set", "runtime.progress=false"]
    with log.open("w") as out:
        rc = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, env=code_env(code),
                            cwd=log.parent, check=False).returncode
    if rc != 0:
        raise SystemExit(f"ingest failed ({rc}): see {log}")


def shard_rows(run: Path, table: str) -> list[int]:
    """Rows per shard of `table` (from the Parquet footers)."""
    import pyarrow.parquet as pq

    from any2capins.io.shards import ShardStore
    from any2capins.models.tables import folder

    store = ShardStore(str(run))
    rows = []
    for i in store.shard_indices(folder(table)):
        loc = store.data_loc(folder(table), i)
        rows.append(pq.read_metadata(loc.path).num_rows)
    return rows


def extract_cmd(code: Path, run: Path, models: dict[str, str], executor: str) -> list[str]:
    """`extract` with the demo profile of checkout `code`, its model paths pointed at
    `models`, camera on 4 frames at 160 px."""
    sets = [f"depth.model={models['depth']}", f"pose.detector.model={models['detector']}",
            f"pose.vitpose.model={models['vitpose']}", f"refs.detector.model={models['detector']}",
            "camera.count=4", "camera.max_side=160", f"runtime.executor={executor}",
            "runtime.progress=false"]
    profile = (code / "pipelines" / "demo.yaml").read_text()
    if "dwpose:" in profile:
        sets.append(f"pose.dwpose.model={models['dwpose']}")
    if "sam2:" in profile:
        sets.append(f"refs.sam2.model={models['sam2']}")
    return [PY, "-m", "any2capins.cli", "extract", "--run", str(run), "--config",
            str(code / "pipelines" / "demo.yaml"), *(x for s in sets for x in ("--set", s))]
