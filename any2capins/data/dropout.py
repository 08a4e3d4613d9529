"""Condition and short-prompt dropout for training, as the Any2Caption paper trains its
condition interpreter: conditions are dropped at random (the paper: p = 0.4-0.6) and so are
short-prompt sentences (p = 0.6), so the model learns to caption from any subset.

Our reading of the paper, documented in docs/loader.md: each condition of an item is dropped
independently with `p_condition`, keeping at least `min_conditions`; each sentence of the
short prompt is dropped independently with `p_sentence`, keeping at least `min_sentences`.
Draws depend only on (seed, epoch, index), so a rerun or another worker layout sees the same
dropout, and `set_epoch` gives a fresh draw per epoch.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from any2capins.data.options import CONDITION_FIELDS

_SENTENCE = re.compile(r"(?<=[.!?])\s+")


def split_sentences(text: str) -> list[str]:
    return [s for s in _SENTENCE.split(text.strip()) if s]


class ConditionDropout:
    """Item transform: drop conditions and short-prompt sentences at random, reproducibly.

    The item gains `dropped_conditions` (list) and `full_short_prompt` (the prompt before
    dropout); dropped conditions' fields become None and leave `conditions`."""

    def __init__(self, p_condition: float = 0.5, p_sentence: float = 0.6, *, seed: int = 0,
                 min_conditions: int = 1, min_sentences: int = 1) -> None:
        for name, p in (("p_condition", p_condition), ("p_sentence", p_sentence)):
            if not 0.0 <= p <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {p}")
        self.p_condition, self.p_sentence = p_condition, p_sentence
        self.seed, self.epoch = seed, 0
        self.min_conditions, self.min_sentences = min_conditions, min_sentences

    def set_epoch(self, epoch: int) -> None:
        """Call at the start of each epoch (in the main process, before workers start)."""
        self.epoch = epoch

    def _keep(self, rng: np.random.Generator, n: int, p: float, minimum: int) -> np.ndarray:
        """Boolean keep-mask of n things, each dropped with p, at least `minimum` kept (the
        kept ones are then chosen at random among the dropped)."""
        keep = rng.random(n) >= p
        short = min(minimum, n) - int(keep.sum())
        if short > 0:
            dropped = np.flatnonzero(~keep)
            keep[rng.choice(dropped, size=short, replace=False)] = True
        return keep

    def __call__(self, item: dict[str, Any]) -> dict[str, Any]:
        if "index" not in item:
            raise KeyError("ConditionDropout needs the item's 'index' (InstanceDataset sets it)")
        rng = np.random.default_rng([self.seed, self.epoch, int(item["index"])])
        conds = list(item["conditions"])
        keep = self._keep(rng, len(conds), self.p_condition, self.min_conditions)
        item["conditions"] = [c for c, k in zip(conds, keep, strict=True) if k]
        item["dropped_conditions"] = [c for c, k in zip(conds, keep, strict=True) if not k]
        for cond in item["dropped_conditions"]:
            for key in CONDITION_FIELDS.get(cond, ()):
                if key in item:
                    item[key] = None
        sentences = split_sentences(item.get("short_prompt") or "")
        skeep = self._keep(rng, len(sentences), self.p_sentence, self.min_sentences)
        item["full_short_prompt"] = item.get("short_prompt")
        item["short_prompt"] = " ".join(s for s, k in zip(sentences, skeep, strict=True) if k)
        return item
