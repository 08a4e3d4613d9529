"""Section-writer throughput against the local scripted server answering after a fixed delay.

For concurrency 1, 8 and 32: clips/s of the captions stage (6 calls per clip, frames decoded,
cache written) against the ideal `concurrency / delay` calls/s, and against a naive sequential
loop over the same calls (sync client, one call after another). Every run uses a fresh cache,
and clips differ in their prompt text, so no call is a cache hit.

    .venv/bin/python bench/captions.py [--delay 0.5] [--clip examples/clips/people_selfie_1s.mp4]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from any2capins.captions.schemas import response_format  # noqa: E402
from any2capins.captions.writers import NO_KEY, SectionsStage  # noqa: E402
from any2capins.config import load_config  # noqa: E402
from any2capins.config.base import RuntimeConfig  # noqa: E402
from any2capins.io.probe import probe  # noqa: E402
from any2capins.io.shards import ShardStore  # noqa: E402
from any2capins.llm.client import request_params  # noqa: E402
from any2capins.llm.prompts import render, to_api  # noqa: E402
from any2capins.models.captions import SECTIONS  # noqa: E402
from any2capins.models.clips import ClipRecord  # noqa: E402
from any2capins.runtime import ShardTask, run_stage  # noqa: E402


def make_clips(clip: Path, n: int) -> list[ClipRecord]:
    """n records of one file; distinct ids and durations, so every prompt (and key) differs."""
    p = probe(str(clip))
    return [ClipRecord(clip_id=f"bench{i:08d}", uri=str(clip), size_bytes=1,
                       content_sha256="0" * 64, container=p.container, codec=p.codec,
                       duration_s=p.duration_s + i * 0.1, fps=p.fps, num_frames=p.num_frames,
                       width=p.width, height=p.height, has_audio=False, probe_backend=p.backend)
            for i in range(n)]


def config(url: str, concurrency: int, n: int):
    return load_config([], [
        f"captions.llm.base_url={url}", "captions.llm.api_key_env=null",
        f"captions.llm.max_concurrency={concurrency}", f"captions.resources.batch_size={n}",
        "captions.images.max_side=128", "captions.images.count=4"]).captions


def stage_run(url: str, clips: list[ClipRecord], concurrency: int) -> float:
    """Seconds the captions stage takes for `clips` (one shard, one batch)."""
    with tempfile.TemporaryDirectory() as tmp:
        store = ShardStore(tmp)
        store.write_table("clips/shard-00000.parquet", _table(clips))
        stage = SectionsStage(config(url, concurrency, len(clips)), tmp)
        t0 = time.perf_counter()
        summary = run_stage(stage, [ShardTask(0, "clips")], tmp,
                            RuntimeConfig(executor="local", progress=False))
        seconds = time.perf_counter() - t0
        if summary.errors:
            raise SystemExit(f"bench run had errors: {summary.line()}")
        extra = summary.usage.calls - 6 * len(clips)
        if extra:
            print(f"  (c={concurrency}: {extra} retried request(s))")
    return seconds


def naive_run(url: str, clips: list[ClipRecord]) -> float:
    """The same calls, one after another with the sync client (frames decoded per clip)."""
    from openai import OpenAI

    from any2capins.captions.schemas import SECTION_MODELS

    cfg = config(url, 1, len(clips))
    client = OpenAI(api_key=NO_KEY, base_url=url, max_retries=0, timeout=cfg.llm.timeout_s)
    with tempfile.TemporaryDirectory() as tmp:
        stage = SectionsStage(cfg, tmp)
        stage.setup()
        t0 = time.perf_counter()
        for clip in clips:
            prep = stage._prepare(clip)
            for section in SECTIONS:
                images = prep.images_for(section)
                msgs = to_api(render(stage.prompts[section], prep.values, images, None),
                              {i.sha: i for i in images})
                resp = client.chat.completions.create(
                    messages=msgs, response_format=response_format(section),
                    **request_params(cfg.llm))
                SECTION_MODELS[section].model_validate_json(resp.choices[0].message.content)
        return time.perf_counter() - t0


def prep_seconds(clip: Path) -> float:
    """Seconds to decode and digest one clip (the CPU part of a clip)."""
    with tempfile.TemporaryDirectory() as tmp:
        stage = SectionsStage(config("http://127.0.0.1:9", 1, 1), tmp)
        stage.setup()
        clips = make_clips(clip, 5)
        t0 = time.perf_counter()
        for c in clips:
            stage._prepare(c)
        return (time.perf_counter() - t0) / len(clips)


def _table(clips: list[ClipRecord]):
    from any2capins.io.arrow import to_table

    return to_table(clips, ClipRecord)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--delay", type=float, default=0.5, help="server answer delay, seconds")
    ap.add_argument("--clip", default=str(ROOT / "tests/data/videos/mjpeg_dandi_stub_0.3s.avi"),
                    help="clip to caption (default: a tiny one, so decoding stays negligible)")
    ap.add_argument("--calls-per-worker", type=int, default=18,
                    help="clips per run = max(4, concurrency * this / 6)")
    args = ap.parse_args()
    # the server runs in its own process, as a real one would (no GIL shared with the client)
    server = subprocess.Popen(
        [sys.executable, str(ROOT / "tests" / "llm_server.py"), "--delay", str(args.delay)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    url = server.stdout.readline().strip()
    try:
        print(f"server delay {args.delay:.3f} s, 6 calls per clip, clip {Path(args.clip).name}, "
              f"frame decode + digest {prep_seconds(Path(args.clip)) * 1000:.0f} ms per clip")
        print(f"{'mode':<16}{'clips':>6}{'seconds':>9}{'clips/s':>9}{'ideal':>8}{'ratio':>7}"
              f"{'vs naive':>9}")
        naive_clips = make_clips(Path(args.clip), 4)
        naive = len(naive_clips) / naive_run(url, naive_clips)
        ideal1 = 1 / (6 * args.delay)
        print(f"{'naive loop':<16}{4:>6}{4 / naive:>9.2f}{naive:>9.2f}{ideal1:>8.2f}"
              f"{naive / ideal1:>7.2f}{1.0:>9.2f}")
        for conc in (1, 8, 32):
            n = max(4, conc * args.calls_per_worker // 6)
            seconds = stage_run(url, make_clips(Path(args.clip), n), conc)
            rate, ideal = n / seconds, conc / (6 * args.delay)
            print(f"{f'stage c={conc}':<16}{n:>6}{seconds:>9.2f}{rate:>9.2f}{ideal:>8.2f}"
                  f"{rate / ideal:>7.2f}{rate / naive:>9.2f}")
    finally:
        server.stdin.close()
        server.wait(timeout=10)


if __name__ == "__main__":
    main()
