"""Captions and short prompts against the local scripted OpenAI-compatible server.

Two parts:

1. Requests and tokens per clip, and a cost table per 1,000 clips. The real stages (frames
   decoded, prompts rendered, images encoded) run against the server in `estimate_usage` mode,
   answering with texts of the paper's average lengths (structured caption ~231 words over six
   sections, short prompt ~55 words). Tokens are estimates (text characters / 4; per image
   85 + 170 per 512-px tile, OpenAI's rule for detailed images), not a real tokenizer.
   Prices are per 1M tokens, configurable (`--price-in`, `--price-out`).
2. Section-writer throughput with the server answering after a fixed delay: for concurrency
   1, 8 and 32, clips/s of the captions stage (6 calls per clip) against the ideal
   `concurrency / delay` calls/s, and against a naive sequential loop over the same calls.

    .venv/bin/python bench/captions.py [--clips 6] [--price-in 0.15 --price-out 0.60]
        [--delay 0.5] [--no-throughput]
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


# The paper's averages: a structured caption of ~231 words (split here over the six sections
# roughly as its examples are), a short prompt of ~55 words.
PAPER_WORDS = {"dense": 70, "main_object": 45, "background": 35, "camera": 20, "style": 25,
               "action": 36, "shortprompt": 55}


def start_server(*extra: str) -> tuple[subprocess.Popen, str]:
    """The scripted server in its own process (as a real one would be); returns it and its URL."""
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "tests" / "llm_server.py"), *extra],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    return proc, proc.stdout.readline().strip()


def stop_server(proc: subprocess.Popen) -> None:
    proc.stdin.close()
    proc.wait(timeout=10)


def caption_cost(url: str, clip: Path, n: int) -> dict[str, float]:
    """Requests, tokens and words per clip of the captions stage (default image settings)."""
    from any2capins.models.captions import ClipSections

    cfg = load_config([], [f"captions.llm.base_url={url}", "captions.llm.api_key_env=null",
                           f"captions.resources.batch_size={n}"]).captions
    with tempfile.TemporaryDirectory() as tmp:
        store = ShardStore(tmp)
        store.write_table("clips/shard-00000.parquet", _table(make_clips(clip, n)))
        summary = run_stage(SectionsStage(cfg, tmp), [ShardTask(0, "clips")], tmp,
                            RuntimeConfig(executor="local", progress=False))
        if summary.errors:
            raise SystemExit(f"bench run had errors: {summary.line()}")
        words = sum(len((s.text or "").split()) for r in store.read_all(
            "captions/sections", ClipSections) for s in r.sections)
    u = summary.usage
    return {"requests": u.calls / n, "prompt_tokens": u.prompt_tokens / n,
            "completion_tokens": u.completion_tokens / n, "words": words / n}


def shortprompt_cost(url: str, n: int) -> dict[str, float]:
    """Requests, tokens and words per instance of the short-prompt stage, for clips with all
    four conditions (8 instances each with the default recipe) and paper-length captions."""
    from run_builders import ClipSpec, approved, build_run

    from any2capins.io.arrow import to_table
    from any2capins.models.instances import ShortPromptRecord
    from any2capins.models.review import ApprovedCaption
    from any2capins.shortprompts.stage import INPUT_DIR, ShortPromptsStage

    def long(section: str, i: int) -> str:
        words = (f"take {i} of a child in a sunny room who jumps and laughs while light "
                 "moves over the wall and bed").split()
        return " ".join((words * 10)[: PAPER_WORDS[section]])

    specs = [ClipSpec(f"{i:016d}") for i in range(n)]
    cfg = load_config([], ["shortprompts.backend=openai", f"shortprompts.llm.base_url={url}",
                           "shortprompts.llm.api_key_env=null"])
    with tempfile.TemporaryDirectory() as tmp:
        build_run(tmp, [specs])
        store = ShardStore(tmp)
        rows = [approved(s, **{k: long(k, i) for k in SECTIONS}) for i, s in enumerate(specs)]
        store.write_table(f"{INPUT_DIR}/shard-00000.parquet", to_table(rows, ApprovedCaption))
        summary = run_stage(ShortPromptsStage(cfg.shortprompts, tmp),
                            [ShardTask(0, INPUT_DIR)], tmp,
                            RuntimeConfig(executor="local", progress=False))
        prompts = store.read_all("shortprompts", ShortPromptRecord)
    if summary.errors or not prompts:
        raise SystemExit(f"bench run had errors: {summary.line()}")
    u, k = summary.usage, len(prompts)
    return {"requests": u.calls / k, "prompt_tokens": u.prompt_tokens / k,
            "completion_tokens": u.completion_tokens / k,
            "words": sum(p.words for p in prompts) / k, "instances_per_clip": k / n}


def cost_table(cap: dict[str, float], sp: dict[str, float], price_in: float,
               price_out: float) -> tuple[list[list[str]], dict[str, float]]:
    """Rows per 1,000 clips (captions, short prompts for fully conditioned clips, total)."""
    per_clip_sp = {k: v * sp["instances_per_clip"] for k, v in sp.items()}

    def row(name: str, d: dict[str, float]) -> tuple[list[str], float]:
        usd = 1000 * (d["prompt_tokens"] * price_in + d["completion_tokens"] * price_out) / 1e6
        return [name, f"{d['requests']:.2f}", f"{d['prompt_tokens']:.0f}",
                f"{d['completion_tokens']:.0f}", f"{d['words']:.0f}", f"{usd:.2f}"], usd

    total = {k: cap[k] + per_clip_sp[k] for k in ("requests", "prompt_tokens",
                                                  "completion_tokens", "words")}
    (r1, c1), (r2, c2), (r3, c3) = (row("captions (6 sections)", cap),
                                    row(f"short prompts ({sp['instances_per_clip']:.0f} "
                                        "instances)", per_clip_sp),
                                    row("total", total))
    header = ["per clip", "requests", "prompt tokens", "completion tokens", "words",
              "cost per 1,000 clips (USD)"]
    return [header, r1, r2, r3], {"cost_per_1000_clips_captions": round(c1, 2),
                                  "cost_per_1000_clips_shortprompts": round(c2, 2),
                                  "cost_per_1000_clips_total": round(c3, 2)}


def costs(args: argparse.Namespace) -> tuple[list[list[str]], dict[str, float]]:
    words = ",".join(f"{k}={v}" for k, v in PAPER_WORDS.items())
    server, url = start_server("--estimate-usage", "--words", words)
    try:
        cap = caption_cost(url, Path(args.cost_clip), args.clips)
        sp = shortprompt_cost(url, args.clips)
    finally:
        stop_server(server)
    table, figures = cost_table(cap, sp, args.price_in, args.price_out)
    print(f"per clip, estimated tokens; prices {args.price_in} / {args.price_out} USD per 1M "
          "prompt / completion tokens")
    for row in table:
        print(f"{row[0]:<26}" + "".join(f"{c:>14}" for c in row[1:5]) + f"{row[5]:>28}")
    figures |= {"caption_requests_per_clip": round(cap["requests"], 2),
                "caption_prompt_tokens_per_clip": round(cap["prompt_tokens"]),
                "caption_completion_tokens_per_clip": round(cap["completion_tokens"]),
                "caption_words_per_clip": round(cap["words"]),
                "shortprompt_requests_per_instance": round(sp["requests"], 2),
                "shortprompt_prompt_tokens_per_instance": round(sp["prompt_tokens"]),
                "shortprompt_completion_tokens_per_instance": round(sp["completion_tokens"]),
                "shortprompt_words_per_instance": round(sp["words"]),
                "price_in_per_million": args.price_in, "price_out_per_million": args.price_out}
    return table, figures


def throughput(args: argparse.Namespace) -> dict[str, float]:
    server, url = start_server("--delay", str(args.delay))
    figures: dict[str, float] = {"delay_s": args.delay}
    try:
        print(f"\nserver delay {args.delay:.3f} s, 6 calls per clip, clip "
              f"{Path(args.clip).name}, frame decode + digest "
              f"{prep_seconds(Path(args.clip)) * 1000:.0f} ms per clip")
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
            figures[f"c{conc}_ratio_of_ideal"] = round(rate / ideal, 3)
            figures[f"c{conc}_vs_naive"] = round(rate / naive, 2)
    finally:
        stop_server(server)
    return figures


def main() -> None:
    sys.path.insert(0, str(ROOT / "bench"))
    from results import write_results

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=int, default=6, help="clips of the cost measurement")
    ap.add_argument("--cost-clip", default=str(ROOT / "examples/clips/people_selfie_1s.mp4"),
                    help="clip of the cost measurement (its frames are what is sent)")
    ap.add_argument("--price-in", type=float, default=0.15,
                    help="price of 1M prompt tokens, USD (an example: pass your model's)")
    ap.add_argument("--price-out", type=float, default=0.60,
                    help="price of 1M completion tokens, USD (an example: pass your model's)")
    ap.add_argument("--delay", type=float, default=0.5, help="server answer delay, seconds")
    ap.add_argument("--clip", default=str(ROOT / "tests/data/videos/mjpeg_dandi_stub_0.3s.avi"),
                    help="clip of the throughput part (tiny, so decoding stays negligible)")
    ap.add_argument("--calls-per-worker", type=int, default=18,
                    help="clips per throughput run = max(4, concurrency * this / 6)")
    ap.add_argument("--no-throughput", action="store_true", help="only the cost part")
    args = ap.parse_args()
    table, figures = costs(args)
    if not args.no_throughput:
        figures |= throughput(args)
    write_results("captions", figures, table=table, notes=(
        "Requests and tokens per clip of the real captions and short-prompt stages against "
        "the scripted server answering with the paper's average lengths (caption ~231 words, "
        "short prompt ~55). Tokens are ESTIMATES (text chars / 4; images 85 + 170 per 512-px "
        "tile), not a tokenizer's count: a real server's usage differs by model and image "
        "settings; captions/usage.json of a real run holds the real figures. Cost at the "
        "given example prices per 1M tokens (--price-in/--price-out). Throughput: clips/s "
        "of the captions stage with a fixed answer delay, as a share of concurrency/delay and "
        "against a sequential loop over the same calls."))


if __name__ == "__main__":
    main()
