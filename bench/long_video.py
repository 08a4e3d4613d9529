"""Long multi-shot video benchmark (issue 19, "One corridor"): bounded shards and flat memory.

    nice .venv/bin/python bench/long_video.py [--executors local,ray] [--no-giant]
                                             [--baseline REF] [--quick] [--keep]

Builds two synthetic multi-shot H.264 videos (640x360, 25 fps, a hard cut every 3.4 s: 53 shots
~3 min and 106 shots ~6 min; each shot a slow pan over a zoomed, flipped, overpainted frame of
a bundled clip, so cuts are clear, nothing inside a shot looks like one, and no two shots are
near-duplicates for the curation pass), then for each:

1. `any2capins ingest` (shot detection on, `ingest.clips_per_shard` 64): checks that the shots
   spread over ceil(shots / 64) clips/ shards of at most 64 rows each (and how many shots the
   detector found against how many were built);
2. `any2capins extract` with the demo profile (`pipelines/demo.yaml`: its curation pass, depth,
   pose, refs with SAM2 cut-outs, contact sheets) on the tiny models `any2capins models tiny`
   writes (under /tmp), camera on a small count (`camera.count=4`, 160 px: pycolmap's cost per
   clip is not what is measured), as a subprocess, for each executor of --executors (the work
   is checked: a stage short of rows is printed with its first error row). Memory is measured on the
   process tree: the peak RSS of the extract process itself (`/usr/bin/time -f %M`: exact)
   and, sampled every 0.2 s from /proc, the peak of the tree's summed RSS and summed PSS (Ray:
   driver, raylet + object store, GCS and every worker; PSS counts a shared page once, RSS
   once per process that maps it).

Printed and recorded (bench/results/long_video.json): the figures per (code, shard size,
executor, video), and the ratio 6-min / 3-min of each peak (target <= 1.10 with bounded
shards). Unless --no-giant, the same videos ingested with `ingest.clips_per_shard=1000` (one
shard per video, as every long video was before bounded shards) go through the new runtime
too: memory stays flat there only if rows are streamed and clips processed clip-major. With
--baseline REF (e.g. e244c89, the code before the rebuild) the videos also go through that
code's ingest (one shard per video) and `extract` with its own demo profile (a git worktree
under /tmp, removed at the end): the growth the issue measured (1.65 GB for 53 shots, 2.42 GB
for 106). --quick: 12- and 24-shot videos, 8 clips per shard (a smoke run).
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

from baseline import PY, code_env, commit_of, worktree  # noqa: E402
from results import write_results  # noqa: E402

FPS = 25
SHOT_FRAMES = 85  # 3.4 s at 25 fps
SIZE = (640, 360)
KEEP = False  # --keep: leave the run folders and logs in place
CACHE = Path(tempfile.gettempdir()) / "a2c-bench-long"
SOURCES = ("people_his_girl_friday_pd.mp4", "vp9_bear.webm", "people_bedroom_kids_jumping.mp4",
           "vp8_flower_cc0.webm", "people_selfie_1s.mp4")


# ---------------------------------------------------------------------------- the videos

def _bases(per_source: int = 8) -> list[list[np.ndarray]]:
    """`per_source` RGB frames spread over each bundled source clip, at their own size."""
    import av

    out = []
    for name in SOURCES:
        with av.open(str(ROOT / "examples" / "clips" / name)) as c:
            frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
        pick = np.linspace(0, len(frames) - 1, per_source).round().astype(int)
        out.append([frames[i] for i in pick])
    return out


def shot_base(bases: list[list[np.ndarray]], k: int) -> np.ndarray:
    """The picture shot k pans across, at 1.25x the video size: a frame of source k % 5,
    zoomed into a random region, flipped one of four ways, under large translucent
    rectangles (all seeded by k), so that no two shots look alike to the near-duplicate
    search (perceptual hashes of low frequencies) while each keeps real image content."""
    import cv2

    rng = np.random.default_rng(1000 + k)
    src = bases[k % len(SOURCES)]
    frame = src[(k // len(SOURCES)) % len(src)]
    fh, fw = frame.shape[:2]
    cw = min(fw, fh * 16 / 9) / rng.uniform(1.0, 1.8)
    ch = cw * 9 / 16
    x0, y0 = rng.uniform(0, fw - cw), rng.uniform(0, fh - ch)
    crop = frame[int(y0) : int(y0 + ch), int(x0) : int(x0 + cw)]
    big = (SIZE[0] * 5 // 4, SIZE[1] * 5 // 4)
    img = cv2.resize(crop, big, interpolation=cv2.INTER_AREA).astype(np.float32)
    flip = (k // len(SOURCES)) % 4
    img = img[:: -1 if flip & 1 else 1, :: -1 if flip & 2 else 1]
    h, w = img.shape[:2]
    for _ in range(6):
        x0, y0 = rng.integers(0, w * 3 // 4), rng.integers(0, h * 3 // 4)
        x1, y1 = x0 + rng.integers(w // 6, w // 2), y0 + rng.integers(h // 6, h // 2)
        img[y0:y1, x0:x1] = 0.4 * img[y0:y1, x0:x1] + 0.6 * rng.integers(0, 256, 3)
    return np.ascontiguousarray(img.clip(0, 255).astype(np.uint8))


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
            for f in shot_frames(shot_base(bases, k), k):
                c.mux(s.encode(av.VideoFrame.from_ndarray(f, format="rgb24")))
        c.mux(s.encode())
    tmp.replace(path)
    return path


# ---------------------------------------------------------------------------- memory

def _children() -> dict[int, list[int]]:
    """Parent pid -> child pids, from /proc."""
    kids: dict[int, list[int]] = {}
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            stat = (d / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        kids.setdefault(ppid, []).append(int(d.name))
    return kids


def _kb(path: str, key: str) -> int:
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith(key):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def _name(pid: int) -> str:
    """A process's name for the breakdown: Ray's title (`ray::_GroupActor.run`, `ray::IDLE`)
    or the program's file name."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return "?"
    first = argv[0].decode(errors="replace")
    if first.startswith("ray::"):
        return first.split()[0][:40]
    return Path(first).name or "?"


class TreeMonitor(threading.Thread):
    """Samples a process tree every `every` s: the peaks of its summed RSS and PSS (kB) and
    of its process count, the largest VmHWM seen (`hwm`), and at the PSS peak the PSS per
    process name (`breakdown`)."""

    def __init__(self, root: int, every: float = 0.2) -> None:
        super().__init__(daemon=True)
        self.root, self.every = root, every
        self.rss = self.pss = self.procs = self.hwm = 0
        self.breakdown: dict[str, tuple[int, int]] = {}  # name -> (processes, PSS kB)
        self._halt = threading.Event()

    def _tree(self) -> list[int]:
        kids, out, todo = _children(), [], [self.root]
        while todo:
            pid = todo.pop()
            out.append(pid)
            todo.extend(kids.get(pid, ()))
        return out

    def run(self) -> None:
        while not self._halt.is_set():
            pids = self._tree()
            self.rss = max(self.rss, sum(_kb(f"/proc/{p}/status", "VmRSS:") for p in pids))
            pss = {p: _kb(f"/proc/{p}/smaps_rollup", "Pss:") for p in pids}
            if sum(pss.values()) > self.pss:
                self.pss = sum(pss.values())
                by: dict[str, tuple[int, int]] = {}
                for p, kb in pss.items():
                    n, total = by.get(_name(p), (0, 0))
                    by[_name(p)] = (n + 1, total + kb)
                self.breakdown = by
            self.procs = max(self.procs, len(pids))
            self.hwm = max([self.hwm, *(_kb(f"/proc/{p}/status", "VmHWM:") for p in pids)])
            self._halt.wait(self.every)

    def stop(self) -> None:
        self._halt.set()
        self.join()


def measured(cmd: list[str], *, env: dict[str, str], log: Path) -> dict[str, Any]:
    """Run `cmd` under /usr/bin/time (peak RSS of the command's own process; without it, the
    largest VmHWM the sampling saw) with its tree sampled (TreeMonitor); output to `log`.
    Figures in MB, wall in s."""
    peak = log.with_suffix(".maxrss")
    timer = ["/usr/bin/time", "-f", "%M", "-o", str(peak)] if Path("/usr/bin/time").exists() \
        else []
    t0 = time.perf_counter()
    with log.open("w") as out:
        proc = subprocess.Popen([*timer, *cmd], stdout=out, stderr=subprocess.STDOUT, env=env,
                                cwd=log.parent)
        mon = TreeMonitor(proc.pid)
        mon.start()
        rc = proc.wait()
        mon.stop()
    wall = time.perf_counter() - t0
    text = peak.read_text().split() if peak.exists() else []
    maxrss = int(text[-1]) if text and text[-1].isdigit() else mon.hwm
    if rc != 0:
        tail = "\n".join(log.read_text().splitlines()[-25:])
        print(f"  ! exit {rc}: {' '.join(cmd[:6])} ...\n{tail}")
    parts = sorted(mon.breakdown.items(), key=lambda kv: -kv[1][1])
    return {"rc": rc, "wall_s": round(wall, 1), "peak_rss_mb": round(maxrss / 1024, 1),
            "tree_rss_mb": round(mon.rss / 1024, 1), "tree_pss_mb": round(mon.pss / 1024, 1),
            "procs": mon.procs, "at_pss_peak": ", ".join(
                f"{name} x{n} {kb / 1024:.0f} MB" for name, (n, kb) in parts)}


# ---------------------------------------------------------------------------- the commands

def ingest(code: Path, video: Path, run: Path, per_shard: int, log: Path) -> None:
    """`any2capins ingest` of checkout `code` on a folder holding only `video` (defaults: shot
    detection on), with `ingest.clips_per_shard=per_shard`, into `run`."""
    src = run.parent / f"src-{video.stem}"
    src.mkdir(parents=True, exist_ok=True)
    if not (src / video.name).exists():
        (src / video.name).symlink_to(video)
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
    if "\nfilter:" in profile:  # the curation pass extract runs first (tiny CLIP embeddings)
        sets.append(f"filter.embedding.model={models['clip']}")
    return [PY, "-m", "any2capins.cli", "extract", "--run", str(run), "--config",
            str(code / "pipelines" / "demo.yaml"), *(x for s in sets for x in ("--set", s))]


# ---------------------------------------------------------------------------- the benchmark

def tiny_models(folder: Path, cwd: Path) -> dict[str, str]:
    """The tiny models of every stage, written by `any2capins models tiny` (as the demo's
    .tiny-models/, here under /tmp); {name: folder}."""
    out = subprocess.run([PY, "-m", "any2capins.cli", "models", "tiny", str(folder)],
                         capture_output=True, text=True, env=code_env(ROOT), cwd=cwd,
                         check=False)
    if out.returncode != 0:
        raise SystemExit(f"models tiny failed:\n{out.stderr[-2000:]}")
    return dict(line.split(maxsplit=1) for line in out.stdout.splitlines() if line.strip())


def check_shards(run: Path, built: int, per_shard: int) -> dict[str, Any]:
    """Shots found, clips/ shards, the largest shard, and whether the layout is as promised:
    ceil(clips / per_shard) shards of at most per_shard rows."""
    rows = shard_rows(run, "clips")
    clips = sum(rows)
    want = math.ceil(clips / per_shard)
    ok = len(rows) == want and max(rows, default=0) <= per_shard
    return {"built": built, "clips": clips, "shards": len(rows), "expected_shards": want,
            "max_rows": max(rows, default=0), "layout_ok": ok}


def missing_rows(run: Path, clips: int) -> tuple[int, dict[str, str]]:
    """(clips the curation pass left out, {stage: 'rows, error rows: first error'} of the
    stages -- conditions, and the sheet's PNGs -- short of rows); ({}: the run did all the
    work)."""
    from any2capins.io import fs
    from any2capins.io.shards import ShardStore
    from any2capins.models.tables import folder

    store = ShardStore(str(run))
    left_out = 0  # clips the curation pass left out of the condition stages (not the sheet)
    for i in store.shard_indices(folder("quality")):
        kept = fs.read_table(store.data_loc(folder("quality"), i), columns=["kept"])
        left_out += kept.column("kept").to_pylist().count(False)
    out = {}
    for stage, table in (("depth", "conditions.depth"), ("pose", "conditions.pose"),
                         ("refs", "conditions.refs"), ("camera", "conditions.camera"),
                         ("sheet", "sheets")):
        if stage == "sheet":  # the PNGs (code before the sheets/ table wrote only those)
            rows = len(list((run / folder(table)).glob("*.png")))
        else:
            rows = sum(shard_rows(run, table))
        if rows != clips - (left_out if stage != "sheet" else 0):
            errors = [e for i in store.shard_indices(folder(table))
                      for e in store.shard_errors(stage, i)]
            first = f": {errors[0].error_class}: {errors[0].message[:200]}" if errors else ""
            out[stage] = f"{rows} rows, {len(errors)} error rows{first}"
    return left_out, out


def one_extract(code: Path, tpl: Path, work: Path, name: str, models: dict[str, str],
                executor: str, clips: int) -> dict[str, Any]:
    """`extract` on a fresh copy of the ingested run `tpl`, measured."""
    run = work / name
    shutil.rmtree(run, ignore_errors=True)
    shutil.copytree(tpl, run)
    fig = measured(extract_cmd(code, run, models, executor), env=code_env(code),
                   log=work / f"{name}.log")
    fig["left_out"], missing = missing_rows(run, clips)
    fig["outputs_ok"] = fig["rc"] == 0 and not missing
    if not KEEP:
        shutil.rmtree(run, ignore_errors=True)
    print(f"  {name:<28} {fig['wall_s']:7.1f} s  peak RSS {fig['peak_rss_mb']:7.1f} MB  tree "
          f"RSS {fig['tree_rss_mb']:7.1f} MB  tree PSS {fig['tree_pss_mb']:7.1f} MB  "
          f"({fig['procs']} processes)"
          f"{f', {left} clips left out by the curation pass' if (left := fig['left_out']) else ''}"
          f"{f'  ROWS MISSING of {clips} clips: {missing}' if missing else ''}")
    if fig["procs"] > 2:  # Ray: where the memory is
        print(f"    PSS at its peak: {fig['at_pss_peak']}")
    return fig


def series(code: Path, label: str, layout: tuple[str, int], videos: dict[int, Path],
           work: Path, models: dict[str, str], executors: list[str]) -> dict[str, Any]:
    """Ingest each video with `layout` (name, clips_per_shard) by checkout `code`, check its
    shards, then extract it with each executor. Returns {(label, layout, executor, shots):
    figures} plus the shard checks under (label, layout, 'ingest', shots)."""
    out: dict[Any, Any] = {}
    name, per_shard = layout
    for shots, video in videos.items():
        tpl = work / f"{label}-{name}-{shots}-ingested"
        ingest(code, video, tpl, per_shard, work / f"{label}-{name}-{shots}-ingest.log")
        check = check_shards(tpl, shots, per_shard)
        note = ("  (one shard per video: shards were not bounded then)" if label == "baseline"
                else "  LAYOUT NOT AS PROMISED")
        out[(label, name, "ingest", shots)] = check
        print(f"{label} ingest, clips_per_shard {per_shard}, {shots}-shot video: "
              f"{check['clips']} clips found, {check['shards']} clips/ shard(s) (expected "
              f"{check['expected_shards']}), largest {check['max_rows']} rows"
              f"{'' if check['layout_ok'] else note}")
        for ex in executors:
            out[(label, name, ex, shots)] = one_extract(
                code, tpl, work, f"{label}-{name}-{ex}-{shots}", models, ex, check["clips"])
    return out


def summarise(res: dict[Any, Any], shots: list[int]) -> tuple[dict[str, Any],
                                                             list[list[Any]]]:
    """Flat figures and the table of every run; the ratio of each peak of every longer video
    to the shortest's (`*_ratio_*`: the second video; `*_ratio_<n>v<short>_*`: the others)."""
    figures: dict[str, Any] = {}
    table = [["code", "clips/shard", "executor", "shots", "clips/ shards", "wall s",
              "peak RSS MB", "tree RSS MB", "tree PSS MB"]]
    short = shots[0]
    for (label, layout, ex, n), fig in res.items():
        key = f"{label}_{layout}"
        if ex == "ingest":
            figures |= {f"{key}_{n}shots_clips": fig["clips"],
                        f"{key}_{n}shots_shards": fig["shards"],
                        f"{key}_{n}shots_expected_shards": fig["expected_shards"],
                        f"{key}_{n}shots_max_rows": fig["max_rows"]}
            continue
        shards = res[(label, layout, "ingest", n)]["shards"]
        for k in ("wall_s", "peak_rss_mb", "tree_rss_mb", "tree_pss_mb"):
            figures[f"{key}_{ex}_{n}shots_{k}"] = fig[k]
        figures[f"{key}_{ex}_{n}shots_ok"] = fig["outputs_ok"]
        if fig.get("left_out"):
            figures[f"{key}_{ex}_{n}shots_left_out"] = fig["left_out"]
        table.append([label, layout, ex, n, shards, fig["wall_s"], fig["peak_rss_mb"],
                      fig["tree_rss_mb"], fig["tree_pss_mb"]])
        if n != short and (label, layout, ex, short) in res:
            base = res[(label, layout, ex, short)]
            which = "" if n == shots[1] else f"{n}v{short}_"
            for k in ("peak_rss_mb", "tree_rss_mb", "tree_pss_mb"):
                if base[k]:
                    figures[f"{key}_{ex}_ratio_{which}{k}"] = round(fig[k] / base[k], 3)
    return figures, table


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true",
                    help="a smoke run: 12- and 24-shot videos, 8 clips per shard")
    ap.add_argument("--executors", default="local", help="comma list: local, ray")
    ap.add_argument("--no-giant", action="store_true",
                    help="leave out the one-shard-per-video runs (clips_per_shard=1000)")
    ap.add_argument("--keep", action="store_true",
                    help="keep the run folders and logs (the temp folder is printed)")
    ap.add_argument("--baseline", metavar="REF", default=None,
                    help="also run that commit's ingest + extract (e.g. e244c89)")
    ap.add_argument("--shots", default=None, metavar="N,N[,N]",
                    help="shots of each video (default 53,106; 12,24 with --quick); other "
                    "than the default, results go to long_video_<shots>.json")
    args = ap.parse_args()
    global KEEP  # noqa: PLW0603 - one switch read by one_extract
    KEEP = args.keep
    shots, per_shard = ([12, 24], 8) if args.quick else ([53, 106], 64)
    name = "long_video"
    if args.shots:
        given = sorted(int(x) for x in args.shots.split(","))
        name = name if given == shots else f"long_video_{'_'.join(map(str, given))}"
        shots = given
    executors = [e.strip() for e in args.executors.split(",") if e.strip()]
    CACHE.mkdir(parents=True, exist_ok=True)
    models = tiny_models(CACHE / "tiny", CACHE)
    work = Path(tempfile.mkdtemp(prefix="a2c-bench-long-"))
    t0, load0 = time.perf_counter(), os.getloadavg()[0]
    videos = {n: build_video(CACHE / f"long_{n}shots_{SIZE[0]}x{SIZE[1]}.mp4", n) for n in shots}
    print(f"videos: {', '.join(f'{n} shots ({n * SHOT_FRAMES / FPS:.0f} s)' for n in shots)}; "
          f"executors {executors}; load average {load0:.1f} on {os.cpu_count()} CPUs")
    layouts = [("bounded", per_shard)] + ([] if args.no_giant else [("giant", 1000)])
    res: dict[Any, Any] = {}
    for layout in layouts:
        res |= series(ROOT, "current", layout, videos, work, models, executors)
    if args.baseline:
        with worktree(args.baseline) as base:
            print(f"baseline {args.baseline} ({commit_of(base)}): one shard per video, "
                  "whatever clips_per_shard")
            res |= series(base, "baseline", ("giant", per_shard), videos, work, models,
                          executors)
    if KEEP:
        print(f"run folders and logs kept in {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)
    figures, table = summarise(res, shots)
    figures |= {"video_seconds_short": round(shots[0] * SHOT_FRAMES / FPS, 1),
                "video_seconds_long": round(shots[1] * SHOT_FRAMES / FPS, 1),
                "clips_per_shard": per_shard, "load_avg_start": round(load0, 2),
                "bench_wall_s": round(time.perf_counter() - t0)}
    for row in table:
        print("  ".join(f"{c!s:>12}" for c in row))
    for k, v in figures.items():
        if "_ratio_" in k:
            tail = k.split("_ratio_")[1]  # "peak_rss_mb" or "159v53_peak_rss_mb"
            longer = tail.split("v")[0] if tail[0].isdigit() else shots[1]
            print(f"{k:<52} {v:.3f}  ({longer}-shot / {shots[0]}-shot video; target <= 1.10 "
                  "with bounded shards)")
    write_results(name, figures, table=table, command=(
        f"nice .venv/bin/python bench/long_video.py --executors {','.join(executors)}"
        f"{' --no-giant' if args.no_giant else ''}"
        f"{f' --baseline {args.baseline}' if args.baseline else ''}"
        f"{f' --shots {args.shots}' if args.shots else ''}"
        f"{' --quick' if args.quick else ''}"), notes=(
        f"Synthetic multi-shot videos (640x360, 25 fps, a hard cut every 3.4 s: "
        f"{', '.join(map(str, shots))} shots) ingested with shot detection and "
        f"ingest.clips_per_shard={per_shard} ('bounded'; 'giant': 1000, one shard per video), "
        "then `extract` with the demo profile's tiny models (depth, pose, refs with SAM2, "
        "camera on 4 frames at 160 px, contact sheets) as a subprocess per executor. Peak RSS: "
        "the extract process itself (/usr/bin/time %M); tree RSS/PSS: peak of the summed "
        "RSS/PSS of its process tree sampled every 0.2 s from /proc (Ray: driver, raylet + "
        "object store, GCS, workers). Targets: clips/ shards = ceil(clips / clips_per_shard), "
        f"each <= clips_per_shard rows; bounded peaks {shots[1]}-shot/{shots[0]}-shot video "
        "<= 1.10. 'baseline': the "
        "code before the rebuild (one shard per video), as the issue measured it."))


if __name__ == "__main__":
    main()
