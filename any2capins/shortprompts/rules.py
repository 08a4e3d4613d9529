"""The offline `rules` backend: a plain short prompt assembled from the approved caption.

It follows the paper's rules mechanically: reference images are named "image N" instead of
describing the subjects; the camera sentence is left out when a camera condition is given and
the background when depth is given; openings rotate deterministically by instance id.
Output is marked `backend='rules'` so nobody mistakes it for model-written text.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence

RULES_VERSION = "rules-1"
_OPENINGS = ("", "In this clip, ", "A short video where ", "Picture this: ")
_SENTENCE = re.compile(r"(?<=[.!?])\s+")


def first_sentence(text: str | None) -> str:
    if not text:
        return ""
    return _SENTENCE.split(text.strip(), maxsplit=1)[0].strip()


def _refs_phrase(n: int) -> str:
    names = [f"image {i}" for i in range(1, n + 1)]
    if n == 1:
        return "The subject from image 1 appears in the scene."
    return f"The subjects from {', '.join(names[:-1])} and {names[-1]} appear together."


_PLAIN_STARTS = {"The", "A", "An", "One", "Two", "Three", "Four", "Five", "No", "This", "These",
                 "Some", "Several", "Live-action"}


def _lower_first(s: str) -> str:
    # lower-case only a plain first word, never a name
    return s[:1].lower() + s[1:] if s.split(" ", 1)[0] in _PLAIN_STARTS else s


def rules_prompt(
    instance_id: str, sections: dict[str, str | None], conditions: Sequence[str],
    n_ref_images: int, target_words: int,
) -> str:
    """A short prompt of at most about `target_words` words (whole sentences)."""
    parts: list[str] = []
    if "identity" in conditions and n_ref_images:
        parts.append(_refs_phrase(n_ref_images))
    else:
        parts.append(first_sentence(sections.get("main_object") or sections.get("dense")))
    parts.append(first_sentence(sections.get("action")))
    if "depth" not in conditions:
        parts.append(first_sentence(sections.get("background")))
    if "camera" not in conditions:
        parts.append(first_sentence(sections.get("camera")))
    parts.append(first_sentence(sections.get("style")))
    kept: list[str] = []
    for p in (p for p in parts if p):
        if kept and len(" ".join([*kept, p]).split()) > target_words:
            continue
        kept.append(p)
    text = " ".join(kept)
    opening = _OPENINGS[int(hashlib.sha256(instance_id.encode()).hexdigest(), 16) % len(_OPENINGS)]
    return (opening + _lower_first(text)) if opening and text else text
