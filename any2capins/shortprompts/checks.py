"""Rule checks of a short prompt. Each returns a named violation (or nothing):

- `too_long`: more than `max_words` words; `empty`.
- `image_ref`: "image N" with N outside 1..n_ref_images (or any "image N" without identity).
- `camera_terms`: a camera word when the camera condition is given (it already shows that).
- `layout_terms`: a layout/geometry word when the depth condition is given.
- `unknown_entity`: a capitalised name that the structured caption never mentions.
- `list_format`: bullets, numbering or line breaks instead of continuous sentences.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from any2capins.config.shortprompts import ShortPromptsConfig

_IMAGE_REF = re.compile(r"\bimage\s+(\d+)\b", re.IGNORECASE)
_LIST = re.compile(r"(^|\n)\s*([-*\u2022]|\d+[.)])\s+")
_WORD = re.compile(r"[A-Za-z][A-Za-z'\-]*")
# Capitalised words that are not names: sentence starts are skipped separately.
_COMMON = {"I", "Image", "The", "A", "An", "In", "On", "At", "As", "With", "While", "Two", "Three"}


def words(text: str) -> int:
    return len(text.split())


def _term_hits(text: str, terms: Sequence[str]) -> list[str]:
    low = text.lower()
    return [t for t in terms if re.search(rf"\b{re.escape(t.lower())}\b", low)]


def _entities(text: str) -> set[str]:
    """Capitalised words not at a sentence start (a cheap, dependency-free name finder)."""
    found = set()
    for sentence in re.split(r"(?<=[.!?])\s+", text.strip()):
        tokens = _WORD.findall(sentence)
        found.update(t for t in tokens[1:] if t[0].isupper() and t not in _COMMON)
    return found


def check_prompt(
    prompt: str, conditions: Sequence[str], n_ref_images: int, caption_text: str,
    cfg: ShortPromptsConfig,
) -> list[str]:
    """Named violations of the paper's short-prompt rules; [] when the prompt is valid."""
    problems: list[str] = []
    n = words(prompt)
    if n == 0:
        return ["empty: the prompt has no words"]
    if n > cfg.max_words:
        problems.append(f"too_long: {n} words > {cfg.max_words}")
    limit = n_ref_images if "identity" in conditions else 0
    bad = sorted({int(m) for m in _IMAGE_REF.findall(prompt) if not 1 <= int(m) <= limit})
    if bad:
        problems.append(f"image_ref: image {bad} but only {limit} reference image(s) exist")
    if "camera" in conditions and (hits := _term_hits(prompt, cfg.camera_terms)):
        problems.append(f"camera_terms: {hits} while a camera condition is given")
    if "depth" in conditions and (hits := _term_hits(prompt, cfg.layout_terms)):
        problems.append(f"layout_terms: {hits} while a depth condition is given")
    caption_low = caption_text.lower()
    unknown = sorted(e for e in _entities(prompt) if e.lower() not in caption_low)
    if unknown:
        problems.append(f"unknown_entity: {unknown} are not in the structured caption")
    if _LIST.search(prompt) or "\n" in prompt.strip():
        problems.append("list_format: use continuous sentences, not a list")
    return problems
