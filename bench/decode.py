"""Decode benchmark: our frame sampler against raw decord, the decode floor and naive OpenCV.

    .venv/bin/python bench/decode.py [--repeat 5] [--clips DIR]

For every bundled clip and three sampling plans (8 frames and 2 fps at full resolution; 8
frames scaled to 384 px), it times
  ours-decord  sample_frames(backend="decord")
  ours-pyav    sample_frames(backend="pyav")     (the default: forward pass + keyframe seeks)
  raw          decord.VideoReader(...).get_batch(same indices, same size)
  floor        OpenCV grab() of every packet up to the last sampled frame (no colour conversion)
  naive        OpenCV read() of every frame
and prints milliseconds (best of --repeat, all in one run, so ratios are comparable) and the
ratios raw/ours (>= 0.95: the wrapper adds nothing), floor/ours and naive/ours (> 1: faster).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def best_ms(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return min(times)


def contenders(path: str, meta, indices: list[int],
               max_side: int | None) -> dict[str, Callable[[], object]]:
    import cv2
    import decord

    from any2capins.io.frames import sample_frames, target_size

    size = target_size(meta.width, meta.height, max_side) or (-1, -1)

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

    return {
        "ours-decord": lambda: sample_frames(path, indices=indices, meta=meta,
                                             max_side=max_side, backend="decord"),
        "ours-pyav": lambda: sample_frames(path, indices=indices, meta=meta, max_side=max_side,
                                           backend="pyav"),
        "raw": raw, "floor": floor, "naive": naive,
    }


def keyframes(path: str) -> int:
    import av

    with av.open(path) as c:
        return sum(p.is_keyframe for p in c.demux(c.streams.video[0]) if p.pts is not None)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--clips", default=str(ROOT / "examples" / "clips"))
    args = ap.parse_args()

    from any2capins.io.frames import pick_indices
    from any2capins.io.probe import probe

    names = ["ours-decord", "ours-pyav", "raw", "floor", "naive"]
    print(f"{'clip':<34}{'plan':<7}{'n':>3}{'keys':>5} " + "".join(f"{n:>12}" for n in names)
          + "   raw/ours  floor/ours  naive/ours  (ours = ours-decord | ours-pyav)")
    ratios: dict[str, list[float]] = {"raw": [], "floor": [], "naive": []}
    for clip in sorted(Path(args.clips).iterdir()):
        if clip.suffix not in {".mp4", ".webm", ".avi", ".mkv", ".mov"}:
            continue
        meta = probe(str(clip))
        eight = pick_indices(meta.num_frames, meta.fps, count=8)
        for plan, idx, side in (("8f", eight, None),
                                ("2fps", pick_indices(meta.num_frames, meta.fps, fps=2), None),
                                ("8f@384", eight, 384)):
            if meta.rotation % 180 and side:
                continue  # decord cannot scale 90/270-degree clips in the decoder
            fns = contenders(str(clip), meta, idx, side)
            ms = {k: best_ms(fns[k], args.repeat) for k in names}
            cells = []
            for ref in ("raw", "floor", "naive"):
                d, p = ms[ref] / ms["ours-decord"], ms[ref] / ms["ours-pyav"]
                ratios[ref].append(max(d, p))
                cells.append(f"{d:5.2f}|{p:<5.2f}")
            print(f"{clip.name[:33]:<34}{plan:<7}{len(idx):>3}{keyframes(str(clip)):>5} "
                  + "".join(f"{ms[k]:>12.1f}" for k in names) + "   " + "  ".join(cells))
    print("\nbest-of-both ratio, median over clips and plans: "
          + ", ".join(f"{k}/ours {statistics.median(v):.2f}" for k, v in ratios.items()))


if __name__ == "__main__":
    main()
