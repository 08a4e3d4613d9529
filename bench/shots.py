"""Shot-detection benchmark: detection throughput next to a plain decode at the same resolution.

    nice .venv/bin/python bench/shots.py [--seconds 12] [--repeat 3]

Builds multi-shot H.264 videos (hard cuts every 1-3 s between the bundled clips, upscaled) at
360p and 720p, then times, best of --repeat, all in one run so the ratios compare:
  plain     PyAV decode of every frame (frame threads) + swscale to the detection size, nothing
            else: the floor any detector fed by one decode pays
  content   detect_shots(detector="content")   (what ingest runs by default)
  adaptive  detect_shots(detector="adaptive")
Throughput is video seconds per wall second; the target is content/plain wall time <= 1.3.
Memory: peak RSS (VmHWM) of a child process that runs detection on the 720p video and on one 4x as
long (the same shots looped): flat in video length means about the same figure.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "bench")]

from results import write_results  # noqa: E402
from shots_media import SHOT_SOURCES, source_frames  # noqa: E402

FPS = 25


def build(path: Path, size: tuple[int, int], seconds: float, loops: int = 1) -> list[int]:
    """A multi-shot H.264 video of `seconds` (x `loops`), encoded shot by shot (never all
    frames in memory); returns its cut frames."""
    import av

    lengths, k, total = [], 0, 0
    while total < seconds * FPS:
        lengths.append([50, 30, 70, 40, 25][k % 5])
        total, k = total + lengths[-1], k + 1
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=FPS)
        s.width, s.height, s.pix_fmt = size[0], size[1], "yuv420p"
        s.options = {"preset": "veryfast", "g": "50"}
        for _ in range(loops):
            for i, n in enumerate(lengths):
                for f in source_frames(SHOT_SOURCES[i % len(SHOT_SOURCES)], n, size):
                    c.mux(s.encode(av.VideoFrame.from_ndarray(f, format="rgb24")))
        c.mux(s.encode())
    return np.cumsum(lengths * loops)[:-1].tolist()


def plain_decode(path: str) -> int:
    import av

    from any2capins.ingest.shots import _scaled_size

    n = 0
    with av.open(path) as c:
        s = c.streams.video[0]
        s.thread_type = "AUTO"
        for frame in c.decode(s):
            w, h = _scaled_size(frame.width, frame.height)
            frame.to_ndarray(format="bgr24", width=w, height=h)
            n += 1
    return n


def best_s(fns: dict[str, Callable[[], object]], repeat: int) -> dict[str, float]:
    """Best wall time of each contender; rounds alternate between them, so load drifts on a
    shared machine hit all alike."""
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(repeat):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    return {k: min(v) for k, v in times.items()}


PEAK = """
import sys
from any2capins.config.ingest import ShotsConfig
from any2capins.ingest.shots import detect_shots
scan = detect_shots(sys.argv[1], ShotsConfig())
hwm = [ln for ln in open("/proc/self/status") if ln.startswith("VmHWM:")][0].split()[1]
print(len(scan.shots), hwm)
"""


def peak_rss_mb(path: Path) -> tuple[int, float]:
    out = subprocess.run([sys.executable, "-c", PEAK, str(path)], capture_output=True,
                         text=True, check=True, cwd=ROOT).stdout.split()
    return int(out[0]), round(int(out[1]) / 1024, 1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=12.0, help="length of each test video")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    from any2capins.config.ingest import ShotsConfig
    from any2capins.ingest.shots import detect_shots

    figures: dict[str, float] = {}
    table = [["video", "frames", "cuts found/true", "plain s", "content s", "adaptive s",
              "content video-s/s", "content/plain", "adaptive/plain"]]
    with tempfile.TemporaryDirectory() as tmp:
        for label, size in (("360p", (640, 360)), ("720p", (1280, 720))):
            path = Path(tmp) / f"{label}.mp4"
            cuts = build(path, size, args.seconds)
            n = plain_decode(str(path))
            found = detect_shots(str(path), ShotsConfig())
            configs = {det: ShotsConfig(detector=det) for det in ("content", "adaptive")}
            t = best_s({"plain": lambda p=path: plain_decode(str(p)),
                        **{det: lambda p=path, c=cfg: detect_shots(str(p), c)
                           for det, cfg in configs.items()}}, args.repeat)
            video_s = n / FPS
            figures[f"{label}_plain_video_s_per_s"] = round(video_s / t["plain"], 1)
            figures[f"{label}_content_video_s_per_s"] = round(video_s / t["content"], 1)
            figures[f"{label}_content_over_plain"] = round(t["content"] / t["plain"], 2)
            figures[f"{label}_adaptive_over_plain"] = round(t["adaptive"] / t["plain"], 2)
            table.append([label, n, f"{found.cuts}/{len(cuts)}", f"{t['plain']:.2f}",
                          f"{t['content']:.2f}", f"{t['adaptive']:.2f}",
                          figures[f"{label}_content_video_s_per_s"],
                          figures[f"{label}_content_over_plain"],
                          figures[f"{label}_adaptive_over_plain"]])
        long = Path(tmp) / "720p_x4.mp4"
        build(long, (1280, 720), args.seconds, loops=4)
        _, short_mb = peak_rss_mb(Path(tmp) / "720p.mp4")
        _, long_mb = peak_rss_mb(long)
        figures["peak_rss_mb_720p"] = short_mb
        figures["peak_rss_mb_720p_x4_length"] = long_mb
    for row in table:
        print("  ".join(f"{c!s:>12}" for c in row))
    print(f"peak RSS: {short_mb} MB ({args.seconds:.0f} s 720p), {long_mb} MB (4x as long)")
    write_results("shots", figures, table=table, notes=(
        f"Shot detection (PySceneDetect via detect_shots: one PyAV decode per video, frames "
        f"scaled to 256 px wide) against a plain PyAV decode + scale of the same {args.seconds:.0f}"
        f" s multi-shot H.264 videos at the same size, best of {args.repeat}, one run. Target: "
        "content/plain <= 1.3. Peak RSS of a child process running detection on the 720p video "
        "and on one 4x as long: memory is flat in video length when the two are close."),
        command=f"nice .venv/bin/python bench/shots.py --seconds {args.seconds:g} "
                f"--repeat {args.repeat}")


if __name__ == "__main__":
    main()
