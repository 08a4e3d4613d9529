"""Curation before the expensive stages: quality signals per clip, filters, near-duplicates.

- `signals.QualityScorer`: motion, brightness, sharpness, text coverage (OCR), embedding,
  aesthetic score and perceptual hashes of one clip's sampled frames -> `QualitySignals`;
- `filters`: thresholds of the `filter:` section -> `kept` and `reasons`, the `quality/` row;
- `dedup`: near-duplicates across a whole run by hash bucketing -> {clip_id: duplicate_of}.

Building blocks only (no stage, no I/O of run folders): this package imports models/, config/
and io/, never another stage package. docs/curation.md has the units, defaults and costs.
"""
