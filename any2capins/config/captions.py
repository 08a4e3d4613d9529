"""Settings of the captions stage (`any2capins captions`): backend, LLM client, images, cache,
word bounds of the checks and an optional price table."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from any2capins.config.base import StageResources, StrictModel
from any2capins.models.captions import SECTIONS as SECTION_NAMES


class LLMConfig(StrictModel):
    """How section writers reach an OpenAI-compatible chat-completions server."""

    base_url: str | None = Field(
        None, description="Server URL, e.g. http://127.0.0.1:8080/v1 (vLLM, SGLang, Ollama, "
        "llama.cpp). Required by the openai backend: there is no default endpoint, data only "
        "goes where this points (for OpenAI itself: https://api.openai.com/v1).")
    model: str = Field("gpt-4o-mini", description="Model name sent with every request.")
    api_key_env: str | None = Field(
        "OPENAI_API_KEY", description="Name of the environment variable holding the API key. "
        "The key itself is never put in config, files or logs. None: send no real key "
        "(local servers that need none).")
    temperature: float = Field(0.2, ge=0, le=2, description="Sampling temperature.")
    top_p: float = Field(1.0, gt=0, le=1, description="Nucleus sampling mass.")
    max_tokens: int = Field(600, ge=16, description="Completion token limit per call.")
    seed: int | None = Field(None, description="Sampling seed, for servers that honour it.")
    structured_output: Literal["json_schema", "json_text"] = Field(
        "json_schema", description="'json_schema': response_format with the strict JSON schema of "
        "the section's model; 'json_text': the schema goes into the prompt and the answer is "
        "parsed and validated here (servers without response_format support).")
    max_concurrency: int = Field(
        16, ge=1, description="Requests in flight at once per worker (asyncio semaphore).")
    timeout_s: float = Field(60.0, gt=0, description="Timeout of one HTTP request, seconds.")
    max_retries: int = Field(
        4, ge=0, description="Retries of one call after 429, 5xx, timeouts and connection errors "
        "(exponential backoff; a 429's retry-after header is honoured).")
    max_reasks: int = Field(
        2, ge=0, description="Re-asks of one call after a truncated answer (finish_reason "
        "'length'), a refusal, invalid JSON or a schema mismatch; the validation error is sent "
        "back with the re-ask.")
    backoff_s: float = Field(0.5, ge=0, description="First backoff delay; doubles per retry.")
    backoff_max_s: float = Field(20.0, ge=0, description="Cap of one backoff / retry-after wait.")
    preflight: bool = Field(
        True, description="Before a run, one cheap request (models list, else a 1-token "
        "completion) checks server, key and model; a failure stops the command (exit 2).")
    preflight_images: bool = Field(
        True, description="With preflight on, captions (which send video frames) also send one "
        "1-token request holding a tiny image: a server that cannot read images (llama.cpp "
        "without --mmproj, a text-only model) stops the command at once (exit 2) instead of "
        "failing every clip. A timeout of this request only warns. Short prompts send no "
        "images and skip it.")
    preflight_timeout_s: float = Field(
        5.0, gt=0, description="Timeout of each preflight request (and of the circuit "
        "breaker's probe), seconds.")
    breaker_after: int = Field(
        3, ge=1, description="Circuit breaker: after this many calls in a row ended (after "
        "their retries) in connection errors, timeouts or 5xx, stop sending. Later calls of the "
        "worker fail at once as retriable LLMUnavailable error rows and the command exits 1; "
        "rerun it when the server is back.")
    breaker_probe_s: float = Field(
        15.0, ge=0, description="Pause before the one probe (a 1-token completion) an opened "
        "circuit breaker makes; an answer closes it again, a failure stops the worker's calls. "
        "0: no probe, stop at once.")


class ImagesConfig(StrictModel):
    """Which frames go into each request and how they are encoded."""

    mode: Literal["separate", "grid"] = Field(
        "grid", description="'separate': one image per frame; 'grid': all frames tiled into one "
        "image (fewer image tokens).")
    count: int = Field(6, ge=1, le=32, description="Frames sampled evenly over the clip.")
    max_side: int = Field(384, ge=32, description="Longest side of one frame, pixels.")
    grid_columns: int = Field(3, ge=1, description="Columns of the grid image.")
    jpeg_quality: int = Field(85, ge=30, le=100, description="JPEG quality of sent images.")
    max_ref_crops: int = Field(3, ge=0, description="Reference crops sent to main_object.")
    refs_mode: Literal["separate", "stitched"] = Field(
        "separate", description="Reference crops as separate images, or the refs stage's one "
        "horizontally stitched image (as the paper feeds them; falls back to separate).")
    decode_threads: int = Field(
        2, ge=1, description="Clips decoded at once per worker (threads beside the requests).")


class WordBounds(StrictModel):
    """Accepted length of one section, in words (a check flag outside them)."""

    min: int = Field(ge=0, description="Fewest words.")
    max: int = Field(ge=1, description="Most words.")


def _default_bounds() -> dict[str, WordBounds]:
    table = {"dense": (25, 160), "main_object": (10, 120), "background": (10, 100),
             "camera": (4, 60), "style": (4, 60), "action": (5, 120)}
    return {k: WordBounds(min=lo, max=hi) for k, (lo, hi) in table.items()}


class PriceTable(StrictModel):
    """Prices for the cost estimate of the usage summary."""

    prompt_per_million: float = Field(ge=0, description="Price of 1M prompt tokens.")
    completion_per_million: float = Field(ge=0, description="Price of 1M completion tokens.")
    currency: str = Field("USD", description="Currency of the prices.")


class CaptionsConfig(StrictModel):
    """The captions stage: six section writers, merge and checks."""

    backend: Literal["openai", "rules"] = Field(
        "openai", description="'openai': section writers call the LLM server; 'rules': only "
        "what the conditions give (camera sentence, movement summary, style words), the other "
        "sections are marked not generated (offline runs, `make demo` without a server).")
    sections: list[str] = Field(
        default_factory=lambda: list(SECTION_NAMES),
        description="Sections to write (others are marked not generated).")
    prompts_dir: str = Field("prompts", description="Folder of the versioned section prompts.")
    llm: LLMConfig = Field(default_factory=LLMConfig)
    images: ImagesConfig = Field(default_factory=ImagesConfig)
    cache_dir: str | None = Field(
        None, description="Call cache folder (local or s3://; a few JSON-lines segment files per "
        "shard); None: RUN_DIR/captions/_cache.")
    min_answer_words: int = Field(
        3, ge=1, description="A section answer with fewer words is useless: re-asked with the "
        "reason (llm.max_reasks), then an error row with the raw completion; never cached.")
    word_bounds: dict[str, WordBounds] = Field(
        default_factory=_default_bounds, description="Word bounds per section for the checks.")
    price: PriceTable | None = Field(None, description="Optional prices for a cost estimate.")
    resources: StageResources = Field(
        default_factory=lambda: StageResources(batch_size=32),
        description="Workers and batch size of the section writers (a batch's calls run "
        "concurrently, so batch_size x 6 should exceed llm.max_concurrency).")

    @model_validator(mode="after")
    def _known_sections(self) -> CaptionsConfig:
        bad = [s for s in [*self.sections, *self.word_bounds] if s not in SECTION_NAMES]
        if bad:
            raise ValueError(f"unknown section(s) {bad}; valid: {', '.join(SECTION_NAMES)}")
        return self
