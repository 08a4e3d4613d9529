"""The short-prompt stage: approved caption -> one short prompt per emitted condition set.

Input: `review/decisions/` (approved captions only; nothing unreviewed gets a prompt).
Output: `shortprompts/` rows of `ShortPromptRecord` (a fan-out stage: one row per instance).
Every prompt passes `check_prompt`; a failing one is re-generated (the LLM is re-asked with the
failed checks) up to `max_attempts` times, then becomes an error row naming the checks.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from any2capins.config.shortprompts import ShortPromptsConfig
from any2capins.io.shards import ShardStore
from any2capins.models.captions import SECTIONS, caption_text
from any2capins.models.common import TokenUsage
from any2capins.models.conditionsets import (
    AVAILABILITY_COLUMNS,
    clip_conditions,
    condition_sets,
)
from any2capins.models.instances import ShortPromptRecord, instance_id_for, set_name
from any2capins.models.review import ApprovedCaption
from any2capins.models.tables import folder
from any2capins.runtime.inputs import Inputs
from any2capins.runtime.stage import Failure, SideTable, Stage
from any2capins.shortprompts.checks import check_prompt, words
from any2capins.shortprompts.rules import RULES_VERSION, rules_prompt

INPUT_DIR = folder("review.decisions")


def caption_sections(c: ApprovedCaption) -> dict[str, str | None]:
    return {s: getattr(c, s, None) for s in SECTIONS}


def availability_tables() -> list[SideTable]:
    """The condition columns that decide a clip's condition sets (lists read as lengths)."""
    return [SideTable(table, (*cols, *lengths), lengths)
            for table, cols, lengths in AVAILABILITY_COLUMNS.values()]


def availability(inputs: Inputs, clip_id: str) -> Any:
    """The clip's `ClipConditions` from its condition rows."""
    return clip_conditions({kind: inputs.row(table, clip_id)
                            for kind, (table, _, _) in AVAILABILITY_COLUMNS.items()})


class ShortPromptsStage(Stage[ApprovedCaption, ShortPromptRecord]):
    name = "shortprompts"
    input_model = ApprovedCaption
    output_model = ShortPromptRecord
    input_dir = INPUT_DIR
    output_dir = folder("shortprompts")
    fan_out = True

    def __init__(self, config: ShortPromptsConfig, run_dir: str) -> None:
        super().__init__(config.resources)
        self.config = config
        self.run_dir = run_dir
        self.writer: Any = None
        self.prompts: dict[str, Any] = {}
        if config.backend == "openai":
            from any2capins.shortprompts.llm import load_set_prompts

            # read in the driver: a missing prompt file fails before any work, and every
            # worker uses the same texts
            self.prompts = load_set_prompts(config)
        self.cache_root = config.cache_dir or ShardStore(run_dir).root.join(
            "shortprompts", "_cache").uri()

    def fingerprint(self) -> dict[str, Any]:
        """What the prompts depend on: backend, recipe, word limits and checks, and for the LLM
        backend the model, sampling, output mode and prompt file versions (not concurrency,
        timeouts or retries)."""
        cfg = self.config
        out: dict[str, Any] = cfg.model_dump(
            mode="json", include={"backend", "recipe", "target_words", "max_words", "min_words",
                                  "camera_terms", "layout_terms", "max_attempts"})
        if cfg.backend == "openai":
            from any2capins.llm.client import request_params

            out |= {"params": request_params(cfg.llm), "mode": cfg.llm.structured_output,
                    "prompts": {k: p.tag for k, p in self.prompts.items()}}
        return out

    def side_tables(self) -> list[SideTable]:
        """The condition columns that decide the condition sets."""
        return availability_tables()

    def setup(self) -> None:
        if self.config.backend == "openai":
            from any2capins.shortprompts.llm import LLMPromptWriter

            self.writer = LLMPromptWriter(self.config, self.prompts, self.cache_root,
                                          self.finish)

    def __getstate__(self) -> dict[str, Any]:
        # the LLM writer holds a client: never pickled, rebuilt by setup() in each worker
        return {**self.__dict__, "writer": None}

    def begin_shard(self, index: int, inputs: Inputs) -> None:
        if self.writer is not None:
            self.writer.open_shard(index)

    def take_usage(self) -> TokenUsage | None:
        return self.writer.take_usage() if self.writer is not None else None

    def process_batch(self, batch: Sequence[ApprovedCaption], inputs: Inputs) -> list[Any]:
        plans = [self._plan(c, inputs) for c in batch]
        flat = [p for plan in plans for p in plan]
        if self.writer is not None:
            results = self.writer.write_all(flat)
        else:
            results = [self._rules(p) for p in flat]
        out: list[list[Any]] = []
        k = 0
        for plan in plans:
            out.append(results[k : k + len(plan)])
            k += len(plan)
        return out

    def _plan(self, c: ApprovedCaption, inputs: Inputs) -> list[dict[str, Any]]:
        cond = availability(inputs, c.clip_id)
        sections = caption_sections(c)
        plan = []
        for cset in condition_sets(cond, self.config.recipe):
            n_img = min(cond.crops or 0, self.config.recipe.identity_max_crops) \
                if "identity" in cset else 0
            plan.append({"caption": c, "conditions": list(cset), "n_images": n_img,
                         "sections": sections, "text": caption_text(sections),
                         "instance_id": instance_id_for(c.clip_id, cset)})
        return plan

    def _rules(self, p: dict[str, Any]) -> ShortPromptRecord | Failure:
        prompt = rules_prompt(p["instance_id"], p["sections"], p["conditions"], p["n_images"],
                              self.config.target_words)
        return self.finish(p, prompt, backend="rules", model=None, version=RULES_VERSION,
                           attempts=1)

    def finish(self, p: dict[str, Any], prompt: str, *, backend: str, model: str | None,
               version: str, attempts: int, structured_output: str | None = None,
               retries: list[str] | None = None) -> ShortPromptRecord | Failure:
        """The record for a generated prompt, or a Failure naming the checks it failed."""
        problems = check_prompt(prompt, p["conditions"], p["n_images"], p["text"], self.config)
        if problems:
            return Failure("ShortPromptInvalid",
                           f"{set_name(p['conditions'])}: " + "; ".join(problems),
                           detail=prompt, attempts=attempts)
        c: ApprovedCaption = p["caption"]
        return ShortPromptRecord(
            instance_id=p["instance_id"], clip_id=c.clip_id, uri=c.uri,
            conditions=p["conditions"], condition_set=set_name(p["conditions"]),
            n_ref_images=p["n_images"], prompt=prompt, words=words(prompt), backend=backend,
            model=model, prompt_version=version, attempts=attempts,
            structured_output=structured_output, retries=list(retries or []),
            caption_version=c.version,
            caption_complete=all(p["sections"].get(s) for s in SECTIONS),
        )
