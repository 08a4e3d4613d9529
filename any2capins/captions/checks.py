"""Checks after merge. Each returns flag names (strings) that go on the merged row and feed the
review queue:

- `missing:<section>`                 the section was not generated (or failed);
- `too_short:<section>` / `too_long:<section>`   outside `captions.word_bounds`;
- `camera_contradicts_motion`         the camera text moves for a static camera, or calls a
                                      measured moving camera static;
- `people_count_mismatch`             a people count in the text (or the action writer's
                                      `people_count`) outside what the pose tracks allow;
- `main_object_without_refs`          main-object subjects named while the refs condition found
                                      no crop for the clip.

Conditions that are absent are not judged (no flag): a check needs its evidence.
"""

from __future__ import annotations

import json
import re

from any2capins.config.captions import WordBounds
from any2capins.models.captions import SECTIONS, CaptionDigest

MOVE_WORDS = re.compile(
    r"\b(pan(s|ning|ned)?|tilt(s|ing|ed)?|dolly|dollies|dollying|zoom(s|ing|ed)?|truck(s|ing)?|"
    r"track(s|ing)? (shot|forward|backward|alongside)|orbit(s|ing)?|pedestal(s|ing)?|"
    r"rotat(es|ing)|sweep(s|ing)?|handheld|shak(y|es|ing)|follow(s|ing)? (the|him|her|them))\b",
    re.IGNORECASE)
STATIC_WORDS = re.compile(
    r"\b(static|stationary|fixed|locked[- ]off|still camera|remains still|does not move|"
    r"doesn't move|no camera movement|motionless)\b", re.IGNORECASE)
_NUM = {"one": 1, "a single": 1, "single": 1, "two": 2, "three": 3, "four": 4, "five": 5,
        "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10, "a couple of": 2, "both": 2,
        "no": 0}
_PEOPLE = (r"(people|persons|person|men|man|women|woman|children|child|kids|kid|boys|boy|girls|"
           r"girl|individuals|dancers|players|adults)")
COUNT_RE = re.compile(r"\b(\d+|" + "|".join(sorted(_NUM, key=len, reverse=True)) + r")\s+"
                      r"(?:[a-z-]+\s+)?" + _PEOPLE + r"\b", re.IGNORECASE)


def word_flags(texts: dict[str, str | None], bounds: dict[str, WordBounds]) -> list[str]:
    flags = []
    for s in SECTIONS:
        text = texts.get(s)
        if not text:
            flags.append(f"missing:{s}")
            continue
        n, b = len(text.split()), bounds.get(s)
        if b is not None and n < b.min:
            flags.append(f"too_short:{s}")
        elif b is not None and n > b.max:
            flags.append(f"too_long:{s}")
    return flags


def camera_flags(text: str | None, digest: CaptionDigest) -> list[str]:
    if not text or not digest.camera_status or digest.camera_status == "failed":
        return []
    static = digest.camera_status == "static" or digest.camera_motions == ["static"]
    moves = bool(MOVE_WORDS.search(text))
    says_static = bool(STATIC_WORDS.search(text))
    if (static and moves) or (not static and says_static and not moves):
        return ["camera_contradicts_motion"]
    return []


def mentioned_counts(text: str) -> list[int]:
    """People counts a text states ('two people', '3 dancers', 'a single man')."""
    out = []
    for m in COUNT_RE.finditer(text):
        word = m.group(1).lower()
        out.append(int(word) if word.isdigit() else _NUM[word])
    return out


def people_flags(texts: dict[str, str | None], data: dict[str, dict],
                 d: CaptionDigest) -> list[str]:
    if d.people_tracks is None:
        return []
    lo = d.people_max_visible if d.people_max_visible is not None else d.people_tracks
    hi = max(d.people_tracks, lo)
    counts = [c for s in ("dense", "action", "main_object") if texts.get(s)
              for c in mentioned_counts(texts[s] or "")]
    stated = data.get("action", {}).get("people_count")
    if isinstance(stated, int):
        counts.append(stated)
    if any(c < lo or c > hi for c in counts):
        return ["people_count_mismatch"]
    return []


def refs_flags(text: str | None, data: dict[str, dict], d: CaptionDigest) -> list[str]:
    if not text or d.ref_crops is None or d.ref_crops > 0:
        return []
    subjects = data.get("main_object", {}).get("subjects")
    if subjects is None or subjects:  # no structured answer (edits, rules): the text counts
        return ["main_object_without_refs"]
    return []


def run_checks(texts: dict[str, str | None], data_json: dict[str, str | None],
               digest: CaptionDigest, bounds: dict[str, WordBounds]) -> list[str]:
    """All flags of one merged caption, in a stable order."""
    data = {}
    for s, raw in data_json.items():
        try:
            data[s] = json.loads(raw) if raw else {}
        except ValueError:
            data[s] = {}
    return [*word_flags(texts, bounds), *camera_flags(texts.get("camera"), digest),
            *people_flags(texts, data, digest), *refs_flags(texts.get("main_object"), data, digest)]
