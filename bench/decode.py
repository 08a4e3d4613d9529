"""Decode benchmark: the frame sampler (PyAV, by presentation time) against decord, the decode
floor and naive OpenCV, plus robustness on the media-class fixtures.

    nice .venv/bin/python bench/decode.py [--repeat 2] [--clips DIR]

Speed, for every bundled clip plus a synthetic 30 s clip with 2 s GOPs, and three requests (8
frames and 2 fps at full resolution; 8 frames scaled to 384 px), best of --repeat in one run
(ratios comparable within the run):
  ours         sample_frames (one open, packet index, forward pass with keyframe seeks)
  ours-noseek  the same with DecodeSettings(seek=False) (decodes every frame up to the last)
  decord       decord.VideoReader(...).get_batch(the same frame numbers, the same size)
  floor        OpenCV grab() of every packet up to the last sampled frame (no conversion)
  naive        OpenCV read() of every frame (once per clip)
Plan: the three requests served by ONE decode_plan against three sample_frames calls.
Robustness: every fixture of tests/data/videos decoded whole by ours and by decord (frames
returned against frames the file holds; decord's own frame count).
Results go to bench/results/decode.json and decode_fixtures.json (see bench/results.py).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
NAMES = ["ours", "ours-noseek", "decord", "floor", "naive"]
REQUESTS = {"8f": {"count": 8}, "2fps": {"fps": 2.0}, "8f@384": {"count": 8, "max_side": 384}}


def best_ms(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return min(times)


def contenders(path: str, meta: Any, request: dict[str, Any],
               indices: list[int]) -> dict[str, Callable[[], object]]:
    import cv2
    import decord

    from any2capins.config.sampling import DecodeSettings
    from any2capins.io.frames import sample_frames, target_size

    size = target_size(meta.width, meta.height, request.get("max_side")) or (-1, -1)

    def raw() -> object:
        vr = decord.VideoReader(path, num_threads=0, width=size[0], height=size[1])
        return vr.get_batch(indices).asnumpy()

    def floor() -> None:
        cap = cv2.VideoCapture(path)
        for _ in range(max(indices) + 1):
            cap.grab()
        cap.release()

    def naive() -> None:
        cap = cv2.VideoCapture(path)
        while cap.read()[0]:
            pass
        cap.release()

    noseek = DecodeSettings(seek=False)
    return {"ours": lambda: sample_frames(path, meta=meta, **request),
            "ours-noseek": lambda: sample_frames(path, meta=meta, settings=noseek, **request),
            "decord": raw, "floor": floor, "naive": naive}


def speed(clips: list[Path], repeat: int) -> tuple[list[list[Any]], dict[str, list[float]]]:
    from any2capins.io.frames import sample_frames
    from any2capins.io.probe import probe

    rows: list[list[Any]] = [["clip", "request", "frames", *(f"{n} ms" for n in NAMES)]]
    ratios: dict[str, list[float]] = {n: [] for n in NAMES[1:]}
    for clip in clips:
        meta = probe(str(clip))
        naive_ms = None  # the same for every request: measured once per clip
        for plan, request in REQUESTS.items():
            indices = sample_frames(str(clip), meta=meta, **request).indices
            fns = contenders(str(clip), meta, request, indices)
            if naive_ms is None:
                naive_ms = best_ms(fns["naive"], repeat)
            ms = {k: best_ms(fns[k], repeat) for k in NAMES if k != "naive"} | {"naive": naive_ms}
            for k, values in ratios.items():
                values.append(ms[k] / ms["ours"])
            rows.append([clip.name, plan, len(indices), *(f"{ms[k]:.1f}" for k in NAMES)])
            print(" ".join(str(c) for c in rows[-1]), flush=True)
    return rows, ratios


def plan_gain(clips: list[Path], repeat: int) -> float:
    """Median over clips of (three sample_frames calls) / (one decode_plan for all three)."""
    from any2capins.io.frames import FrameRequest, decode_plan, sample_frames
    from any2capins.io.probe import probe

    gains = []
    for clip in clips:
        meta = probe(str(clip))
        reqs = {k: FrameRequest(**v) for k, v in REQUESTS.items()}
        one = best_ms(lambda c=clip, m=meta, r=reqs: decode_plan(str(c), m, r), repeat)
        three = best_ms(lambda c=clip, m=meta: [sample_frames(str(c), meta=m, **v)
                                                for v in REQUESTS.values()], repeat)
        gains.append(three / one)
    return statistics.median(gains)


def robustness(fixtures: Path) -> tuple[list[list[Any]], int, int, int]:
    """Per fixture: frames ours returns for 'every frame' and what decord manages."""
    from any2capins.errors import DecodeError
    from any2capins.io.frames import sample_frames
    from any2capins.io.probe import probe

    rows: list[list[Any]] = [["fixture", "frames in file", "ours", "decord count",
                              "decord get_batch(all)"]]
    ours_ok = decord_ok = total = 0
    for clip in sorted(fixtures.iterdir()):
        if clip.suffix not in {".mp4", ".webm", ".avi", ".mkv", ".ts"} or "corrupt" in clip.name:
            continue
        total += 1
        try:
            n = probe(str(clip)).num_frames
            got = len(sample_frames(str(clip), count=10**6).frames)
        except DecodeError as exc:
            n, got = 0, f"DecodeError: {str(exc)[:40]}"
        ours_ok += got == n or (isinstance(got, int) and got >= n - 1 and "damaged" in clip.name)
        count, batch = _decord_try(clip)
        decord_ok += batch == str(n) or (batch == str(n - 1) and "damaged" in clip.name)
        rows.append([clip.name, n, got, count, batch])
    return rows, ours_ok, decord_ok, total


def _decord_try(clip: Path) -> tuple[str, str]:
    import decord

    try:
        vr = decord.VideoReader(str(clip), num_threads=1)
        count = len(vr)
    except Exception as exc:
        return "open failed", type(exc).__name__
    try:
        got = vr.get_batch(list(range(count))).asnumpy()
    except Exception as exc:
        return str(count), f"failed: {str(exc).splitlines()[0][-50:]}"
    return str(count), str(len(got))


def long_clip(seconds: int, folder: Path) -> Path:
    """A synthetic `seconds`-long 640x360 H.264 clip (25 fps, a keyframe every 2 s, B-frames):
    the case where seeking past unwanted GOPs matters (the bundled clips are 1-7 s)."""
    import av
    import numpy as np

    path = folder / f"synthetic_{seconds}s_gop2s.mp4"
    rng = np.random.default_rng(0)
    base = rng.integers(0, 255, (360, 640 + 25 * seconds, 3), dtype=np.uint8)
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=25, options={
            "preset": "ultrafast", "crf": "28", "x264-params": "keyint=50:min-keyint=50:bframes=2"})
        s.width, s.height, s.pix_fmt = 640, 360, "yuv420p"
        for i in range(25 * seconds):  # a slow pan over a random texture
            f = av.VideoFrame.from_ndarray(np.ascontiguousarray(base[:, i:i + 640]), format="rgb24")
            for p in s.encode(f):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    return path


def main() -> None:
    from results import write_results

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--clips", default=str(ROOT / "examples" / "clips"))
    ap.add_argument("--fixtures", default=str(ROOT / "tests" / "data" / "videos"))
    ap.add_argument("--long-seconds", type=int, default=30,
                    help="length of the synthetic long clip added to --clips (0: none)")
    args = ap.parse_args()
    clips = sorted(p for p in Path(args.clips).iterdir()
                   if p.suffix in {".mp4", ".webm", ".avi", ".mkv", ".mov", ".ts"})
    tmp = Path(tempfile.mkdtemp(prefix="a2c-bench-decode-"))
    if args.long_seconds:
        clips.append(long_clip(args.long_seconds, tmp))
    rows, ratios = speed(clips, args.repeat)
    gain = plan_gain(clips, args.repeat)
    robust, ours_ok, decord_ok, total = robustness(Path(args.fixtures))
    figures = {f"{k}_over_ours_median": round(statistics.median(v), 2) for k, v in ratios.items()}
    for row in rows[1:]:  # the long clip, where skipping GOPs matters, on its own
        if row[0].startswith("synthetic") and row[1] == "8f":
            ms = dict(zip(NAMES, (float(c) for c in row[3:]), strict=True))
            figures |= {f"long_clip_8f_{k}_over_ours": round(ms[k] / ms["ours"], 2)
                        for k in NAMES[1:]}
    figures |= {"three_calls_over_one_plan_median": round(gain, 2),
                "fixtures_fully_decoded_ours": ours_ok, "fixtures_fully_decoded_decord": decord_ok,
                "fixtures": total}
    print(figures)
    shutil.rmtree(tmp, ignore_errors=True)
    cmd = "nice .venv/bin/python bench/decode.py"
    write_results(
        "decode", {k: v for k, v in figures.items() if "fixtures" not in k}, table=rows,
        notes="Frame sampler (PyAV, frames chosen by presentation time, one open, packet index, "
        "forward pass with keyframe seeks) against decord get_batch on the same frames, the "
        "decode floor (OpenCV grab up to the last frame) and naive OpenCV read of every frame; "
        "ratios > 1 mean ours is faster; best of --repeat, all in one run. "
        "three_calls_over_one_plan: the three requests served by one decode_plan against "
        "three sample_frames calls.", command=cmd)
    write_results(
        "decode_fixtures", {k: v for k, v in figures.items() if "fixtures" in k}, table=robust,
        notes="Every media-class fixture of tests/data/videos (tests/data/make_media_fixtures.py)"
        " decoded whole by the sampler and by decord get_batch: frames returned against the "
        "frames the file holds (the damaged-NAL fixture counts as whole with 29 of 30).",
        command=cmd)

if __name__ == "__main__":
    main()
