"""The section writers stage: clips/ shard N -> captions/sections/ shard N.

Per clip: the frames the stage declares (`captions.images`, decoded by the runtime in one pass),
the digest built from the clip's condition rows (side tables of the same shard), the images
encoded (separate frames or one grid), then the six section calls concurrently. All the calls
of a batch share one asyncio loop and one client; a semaphore bounds the requests in flight
(`llm.max_concurrency`). Every call goes through the cache first.

A clip whose frames cannot be decoded, or with any section that still failed after its retries,
becomes an error row (the detail holds, per section, the error, the raw completion, attempts and
tokens); its good sections stay cached, so the rerun only pays for the failed ones.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from any2capins.captions.digest import CONDITION_COLUMNS, build_digest
from any2capins.captions.rules import rules_sections
from any2capins.captions.schemas import SECTION_MODELS
from any2capins.config.captions import CaptionsConfig, ImagesConfig
from any2capins.errors import DecodeError
from any2capins.io.frames import FrameRequest
from any2capins.io.shards import ShardStore
from any2capins.llm.breaker import UNAVAILABLE
from any2capins.llm.cache import ShardCache, cache_key
from any2capins.llm.client import (
    NO_KEY,
    CallOutcome,
    LLMSession,
    call_structured,
    make_client,
    read_api_key,
    request_params,
)
from any2capins.llm.prompts import Image, Prompt, load_prompts, render, to_api
from any2capins.models.captions import SECTIONS, CaptionDigest, ClipSections, SectionResult
from any2capins.models.clips import ClipRecord
from any2capins.models.common import TokenUsage
from any2capins.models.tables import folder
from any2capins.runtime.frames import frames_failure
from any2capins.runtime.inputs import Inputs
from any2capins.runtime.stage import Failure, SideTable, Stage

log = logging.getLogger(__name__)
def encode_images(frames: np.ndarray, cfg: ImagesConfig) -> list[Image]:
    """JPEGs of the frames: one per frame, or one grid (time order: rows, left to right)."""
    from PIL import Image as PILImage

    def jpeg(arr: np.ndarray) -> Image:
        buf = io.BytesIO()
        PILImage.fromarray(arr).save(buf, format="JPEG", quality=cfg.jpeg_quality)
        return Image.of(buf.getvalue())

    if len(frames) == 0:
        return []
    if cfg.mode == "separate":
        return [jpeg(f) for f in frames]
    cols = min(cfg.grid_columns, len(frames))
    rows = -(-len(frames) // cols)
    _, h, w, c = frames.shape
    grid = np.zeros((rows * h, cols * w, c), np.uint8)
    for i, f in enumerate(frames):
        grid[(i // cols) * h:(i // cols + 1) * h, (i % cols) * w:(i % cols + 1) * w] = f
    return [jpeg(grid)]


@dataclass(frozen=True)
class Prepared:
    """Everything the section calls of one clip need."""

    digest: CaptionDigest
    frames: list[Image]
    crops: list[Image]
    values: dict[str, Any]

    def images_for(self, section: str) -> list[Image]:
        return self.frames + (self.crops if section == "main_object" else [])


def prompt_values(clip: ClipRecord, d: CaptionDigest, n_frames: int, n_crops: int,
                  grid: bool) -> dict[str, Any]:
    """The placeholders the prompt templates may use."""
    note = (f"Attached: one grid image of {n_frames} frames sampled evenly over the clip (time "
            "order: left to right, top to bottom)." if grid else
            f"Attached: {n_frames} frames sampled evenly over the clip, in time order.")
    camera = (f"{d.camera_sentence or 'no description'} (solve status: {d.camera_status})"
              if d.camera_status else "not measured")
    movement = ("no pose data" if d.people_tracks is None else
                f"{d.people_tracks} track(s), at most {d.people_max_visible} at once"
                + "".join(f"; {t.sentence}" for t in d.tracks))
    refs = ("none" if not n_crops else
            f"{n_crops} crop(s) attached after the frames: {', '.join(d.ref_labels[:n_crops])}")
    style = (f"brightness {d.brightness:.2f}, contrast {d.contrast:.2f}, saturation "
             f"{d.saturation:.2f}, warmth {d.warmth:+.2f} ({', '.join(d.style_words)})")
    return {"duration": clip.duration_s, "image_note": note, "camera": camera,
            "movement": movement, "refs": refs, "style": style, "width": clip.width,
            "height": clip.height}


class SectionsStage(Stage[ClipRecord, ClipSections]):
    """Writes the six sections of every clip (backend 'openai' or 'rules')."""

    name = "captions"
    input_model = ClipRecord
    output_model = ClipSections
    input_dir = folder("clips")
    output_dir = folder("captions.sections")

    def __init__(self, config: CaptionsConfig, run_dir: str) -> None:
        super().__init__(config.resources)
        self.config = config
        self.run_dir = run_dir
        self.decode_concurrency = config.images.decode_threads
        # prompts are read here, in the driver, so that every worker uses the same texts
        self.prompts: dict[str, Prompt] = (
            load_prompts(config.prompts_dir, config.sections) if config.backend == "openai" else {})
        root = ShardStore(run_dir).root
        self.cache_root = config.cache_dir or root.join("captions", "_cache").uri()
        self._usage = TokenUsage()
        self._api_key: str | None = None
        self.session: LLMSession | None = None  # per worker, made by setup()

    def fingerprint(self) -> dict[str, Any]:
        """What the section texts depend on (not concurrency, timeouts or retries). A done
        shard written under other settings is redone by the runner; unchanged calls hit the
        cache, so only what changed is paid for."""
        cfg = self.config
        out: dict[str, Any] = {"backend": cfg.backend, "sections": cfg.sections,
                               "images": cfg.images.model_dump(exclude={"decode_threads"})}
        if cfg.backend == "openai":
            out |= {"prompts": {s: p.tag for s, p in self.prompts.items()},
                    "params": request_params(cfg.llm), "mode": cfg.llm.structured_output,
                    "min_answer_words": cfg.min_answer_words}
        return out

    def frames(self) -> FrameRequest:
        img = self.config.images
        return FrameRequest(count=img.count, max_side=img.max_side)

    def side_tables(self) -> list[SideTable]:
        """The condition rows the digest reads (prompts and checks), only their columns."""
        return [SideTable(f"conditions.{kind}", tuple(cols))
                for kind, cols in CONDITION_COLUMNS.items()]

    def setup(self) -> None:
        self.cache = ShardCache(self.cache_root)
        if self.config.backend == "openai":
            self._api_key = read_api_key(self.config.llm.api_key_env)
            # one per worker: a json_schema fallback and a circuit breaker that opened hold
            # for the worker's life, not for one batch
            self.session = LLMSession(None, self.config.llm, "captions")
            for name in ("httpx2", "httpx", "openai"):  # one INFO line per request otherwise
                logging.getLogger(name).setLevel(logging.WARNING)

    def __getstate__(self) -> dict[str, Any]:
        """Pickled state: config and prompts only. The key is never pickled (Ray ships stages
        between processes); the reader, cache and LLM session (locks, handles, per-worker state)
        are rebuilt by setup()."""
        state = {k: v for k, v in self.__dict__.items() if k not in ("cache", "session")}
        state["_api_key"] = None
        return state

    def take_usage(self) -> TokenUsage | None:
        """What this worker sent since the last call (requests and tokens of every attempt;
        cache hits only as `cached_calls`)."""
        usage, self._usage = self._usage, TokenUsage()
        return usage

    def begin_shard(self, index: int, inputs: Inputs) -> None:
        if self.config.backend == "openai":
            n = self.cache.open(index)
            log.info("captions: shard %d: %d cached answer(s)", index, n)

    def process_batch(self, batch: Sequence[ClipRecord],
                      inputs: Inputs) -> list[ClipSections | Failure]:
        try:
            return asyncio.run(self._batch(batch, inputs))
        finally:
            if self.config.backend == "openai":
                self.cache.flush()  # this batch's answers survive a crash of the next one

    async def _batch(self, batch: Sequence[ClipRecord],
                     inputs: Inputs) -> list[ClipSections | Failure]:
        session = None
        if self.config.backend == "openai":
            client = make_client(self.config.llm, self._api_key or NO_KEY, "captions.llm")
            session = self.session.use(client)
        calls = asyncio.Semaphore(self.config.llm.max_concurrency)
        try:
            return list(await asyncio.gather(
                *(self._clip(c, inputs, session, calls) for c in batch)))
        finally:
            if session is not None:
                await session.close()

    def _prepare(self, clip: ClipRecord, inputs: Inputs) -> Prepared:
        img = self.config.images
        sampled = inputs.frames(clip.clip_id)
        stitched = img.refs_mode == "stitched"
        rows = {kind: inputs.row(f"conditions.{kind}", clip.clip_id)
                for kind in CONDITION_COLUMNS}
        digest, crop_bytes = build_digest(rows, sampled.frames, stitched)
        frames = encode_images(sampled.frames, img) if self.config.backend == "openai" else []
        crops = [Image.of(b) for b in crop_bytes[: img.max_ref_crops]]
        values = prompt_values(clip, digest, len(sampled.frames), len(crops), img.mode == "grid")
        if stitched and crops and digest.ref_crops and digest.ref_crops > 1:
            values["refs"] = ("one image after the frames with the reference subjects side "
                              "by side, left to right (best first)")
        return Prepared(digest, frames, crops, values)

    async def _clip(self, clip: ClipRecord, inputs: Inputs, session: LLMSession | None,
                    calls: asyncio.Semaphore) -> ClipSections | Failure:
        try:
            prep = await asyncio.to_thread(self._prepare, clip, inputs)
        except DecodeError as exc:
            return frames_failure(exc)
        except Exception as exc:  # noqa: BLE001 - one clip's bad inputs must not fail the batch
            return Failure.from_exception(exc)
        wanted = [s for s in SECTIONS if s in self.config.sections]
        if session is None:
            results: dict[str, SectionResult | CallOutcome] = dict(
                rules_sections(prep.digest, wanted))
        else:
            done = await asyncio.gather(*(self._section(s, prep, session, calls) for s in wanted))
            results = dict(zip(wanted, done, strict=True))
        return self._assemble(clip, prep.digest, results)

    def _assemble(self, clip: ClipRecord, digest: CaptionDigest,
                  results: dict[str, SectionResult | CallOutcome]) -> ClipSections | Failure:
        usage = TokenUsage()
        for r in results.values():
            usage = usage + r.usage
        if self.config.backend != "openai":
            self._usage = self._usage + usage  # (LLM sections count their own, in _section)
        failed = {s: r for s, r in results.items() if isinstance(r, CallOutcome)}
        if failed:
            return _failure(failed, results)
        sections = [results.get(s) or SectionResult(
            section=s, status="not_generated", source=self.config.backend) for s in SECTIONS]
        return ClipSections(clip_id=clip.clip_id, uri=clip.uri, backend=self.config.backend,
                            model=self.config.llm.model if self.config.backend == "openai"
                            else None, sections=sections, digest=digest, usage=usage)

    def _useless(self, data: Any) -> str | None:
        """Why a validated answer is still useless (too few words), or None."""
        n = len(str(getattr(data, "caption", "") or "").split())
        need = self.config.min_answer_words
        return (f"the caption has {n} word(s); write at least {need} words of description"
                if n < need else None)

    async def _section(self, section: str, prep: Prepared, session: LLMSession,
                       calls: asyncio.Semaphore) -> SectionResult | CallOutcome:
        cfg, prompt = self.config.llm, self.prompts[section]
        model = SECTION_MODELS[section]
        images = prep.images_for(section)
        messages = render(prompt, prep.values, images)
        key = cache_key({"model": cfg.model, "section": section, "prompt": prompt.tag,
                         "messages": messages, "params": request_params(cfg),
                         "mode": cfg.structured_output})
        hit = self.cache.get(key)
        if hit is not None and len(str(hit.get("text", "")).split()) >= \
                self.config.min_answer_words:
            self._usage = self._usage + TokenUsage(cached_calls=1)
            return SectionResult(section=section, status="ok", text=hit["text"],
                                 data_json=hit["data_json"], source="openai",
                                 prompt_version=prompt.tag, cache_key=key, cached=True,
                                 usage=TokenUsage(**hit.get("usage", {})),
                                 structured_output=hit.get("mode"))
        api_messages = to_api(messages, {i.sha: i for i in images})
        async with calls:
            out = await call_structured(session, api_messages, model, section, self._useless)
        self._usage = self._usage + out.usage
        if out.data is None:
            return out
        text = " ".join(str(out.data.caption).split())
        data_json = out.data.model_dump_json()
        self.cache.put(key, {"text": text, "data_json": data_json, "prompt_version": prompt.tag,
                             "model": cfg.model, "mode": out.mode,
                             "usage": out.usage.model_dump()})
        return SectionResult(section=section, status="ok", text=text, data_json=data_json,
                             source="openai", prompt_version=prompt.tag, cache_key=key,
                             attempts=out.attempts, usage=out.usage,
                             structured_output=out.mode, retries=out.retries)


def _failure(failed: dict[str, CallOutcome],
             results: dict[str, SectionResult | CallOutcome]) -> Failure:
    """The error row of a clip with failed sections; detail = per-section JSON record."""
    detail = {s: ({"status": "failed", "error_class": r.error_class, "message": r.message,
                   "raw_completion": r.raw, "attempts": r.attempts, "usage": r.usage.model_dump(),
                   "retries": r.retries, "structured_output": r.mode}
                  if isinstance(r, CallOutcome) else
                  {"status": r.status, "cached": r.cached, "attempts": r.attempts,
                   "usage": r.usage.model_dump(), "retries": r.retries})
              for s, r in results.items()}
    # a clip refused by a dead breaker is named so, whatever its first section says: the
    # command looks for this class to say that the server stopped answering
    first = next((r for r in failed.values() if r.error_class == UNAVAILABLE),
                 next(iter(failed.values())))
    message = "; ".join(f"{s}: {r.error_class} after {r.attempts} attempt(s): {r.message}"
                        for s, r in failed.items())
    return Failure(first.error_class or "SectionFailed", f"section(s) failed: {message}",
                   retriable=any(r.retriable for r in failed.values()),
                   detail=json.dumps({"sections": detail}),
                   attempts=max(r.attempts for r in failed.values()))
