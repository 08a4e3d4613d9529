"""Thresholds -> decision: which per-clip rules a clip's signals break, and the quality row.

A rule whose threshold is null is off; a signal that is None (motion of a one-frame clip,
sharpness of an all-black clip, text coverage with OCR off) breaks no rule. Near-duplicates are
decided across the run afterwards (dedup.py) and added with `mark_duplicate`.
"""

from __future__ import annotations

from collections.abc import Sequence

from any2capins.config.filter import FilterConfig
from any2capins.models.quality import REASONS, QualityRecord, QualitySignals


def _below(value: float | None, threshold: float | None) -> bool:
    return value is not None and threshold is not None and value < threshold


def _above(value: float | None, threshold: float | None) -> bool:
    return value is not None and threshold is not None and value > threshold


def reasons_for(signals: QualitySignals, cfg: FilterConfig) -> list[str]:
    """The per-clip reasons (in `REASONS` order) to leave a clip out; empty: keep it."""
    broken = {
        "dark": _below(signals.brightness, cfg.brightness.min_brightness)
        or _above(signals.black_frame_share, cfg.brightness.max_black_share),
        "static": _below(signals.motion, cfg.motion.min_motion),
        "blur": _below(signals.sharpness, cfg.sharpness.min_sharpness),
        "text": _above(signals.text_coverage, cfg.text.max_coverage),
        "aesthetic": _below(signals.aesthetic, cfg.embedding.min_aesthetic),
    }
    return [r for r in REASONS if broken.get(r)]


def quality_record(clip_id: str, uri: str, signals: QualitySignals, cfg: FilterConfig, *,
                   frame_indices: Sequence[int], timestamps: Sequence[float],
                   decode_warnings: Sequence[str] = ()) -> QualityRecord:
    """The `quality/` row of one clip with its per-clip decision (no duplicate yet)."""
    reasons = reasons_for(signals, cfg)
    return QualityRecord(clip_id=clip_id, uri=uri, kept=not reasons, reasons=reasons,
                         duplicate_of=None, frame_indices=list(frame_indices),
                         timestamps=list(timestamps), decode_warnings=list(decode_warnings),
                         **signals.model_dump())


def mark_duplicate(record: QualityRecord, kept_clip_id: str | None) -> QualityRecord:
    """`record` with its near-duplicate verdict: `kept_clip_id` (the clip kept in its place)
    adds 'duplicate'; None removes a verdict from an earlier pass (idempotent either way)."""
    reasons = [r for r in record.reasons if r != "duplicate"]
    if kept_clip_id is not None:
        reasons = [r for r in REASONS if r in reasons or r == "duplicate"]
    return record.model_copy(update={"duplicate_of": kept_clip_id, "reasons": reasons,
                                     "kept": not reasons})
