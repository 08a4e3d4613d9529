"""The offline `rules` backend: the sections the conditions alone can support.

camera <- the measured camera motion sentence; action <- the per-track movement summary;
style <- colour/brightness words. dense, main_object and background need a model that looks at
the frames, so they are marked not generated (and the merge lists them in `missing`).
"""

from __future__ import annotations

import json

from any2capins.models.captions import CaptionDigest, SectionResult

_NUMBERS = ("no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")


def number_word(n: int) -> str:
    return _NUMBERS[n] if 0 <= n < len(_NUMBERS) else str(n)


def camera_text(d: CaptionDigest) -> str | None:
    if d.camera_sentence:
        return d.camera_sentence
    if d.camera_status == "static":
        return "The camera is static throughout the clip."
    return None


def action_text(d: CaptionDigest) -> str | None:
    if d.people_tracks is None:
        return None
    if d.people_tracks == 0:
        return "No people are visible in the clip."
    n = d.people_max_visible or d.people_tracks
    head = (f"{number_word(n).capitalize()} {'person is' if n == 1 else 'people are'} "
            "visible at once")
    head += f" ({d.people_tracks} tracked in all). " if d.people_tracks != n else ". "
    moves = "; ".join(t.sentence for t in d.tracks)
    return head + (moves[0].upper() + moves[1:] + "." if moves else "")


def style_text(d: CaptionDigest) -> str:
    words = list(d.style_words)
    if not words:
        return "Live-action footage."
    return f"Live-action footage with {', '.join(words[:-1])} and {words[-1]}."


def _result(section: str, text: str | None, payload: dict | None = None) -> SectionResult:
    if text is None:
        return SectionResult(section=section, status="not_generated", source="rules")
    data = {"caption": text, **(payload or {})}
    return SectionResult(section=section, status="ok", text=text, data_json=json.dumps(data),
                         source="rules")


def rules_sections(digest: CaptionDigest, sections: list[str]) -> dict[str, SectionResult]:
    """Section results of the rules backend for the requested sections."""
    texts = {
        "camera": (camera_text(digest), {"motion_terms": digest.camera_motions}),
        "action": (action_text(digest), {"people_count": digest.people_max_visible or 0}),
        "style": (style_text(digest), None),
    }
    out = {}
    for section in sections:
        text, payload = texts.get(section, (None, None))
        out[section] = _result(section, text, payload)
    return out
