"""Curation signals and per-clip filters on clips built from real footage (tests/curation_media.py):
a near-black clip, a frozen clip, a clip covered in burned-in text and a blurred clip each get
their reason; the bundled example clips are kept with the default thresholds. Frames come from
the project's one sampler, the OCR detector is rapidocr's real PP-OCR model and the embedding
model a tiny random CLIP loaded through `from_pretrained`."""

from __future__ import annotations

from pathlib import Path

import curation_media as media
import numpy as np
import pytest

from any2capins.config.filter import FilterConfig
from any2capins.curation.embedding import AestheticHead, tiny_clip, write_aesthetic_head
from any2capins.curation.filters import quality_record, reasons_for
from any2capins.curation.signals import QualityScorer, spread
from any2capins.errors import ConfigError
from any2capins.io.arrow import from_table, to_table
from any2capins.io.frames import SampledFrames, sample_frames
from any2capins.models.quality import QualityRecord

EXAMPLE_CLIPS = sorted(p for p in media.EXAMPLES.iterdir()
                       if p.suffix in (".mp4", ".webm") and p.name != media.DEMO_CLIP)


@pytest.fixture(scope="module")
def tiny_embedder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_clip(tmp_path_factory.mktemp("tiny") / "clip")


@pytest.fixture(scope="module")
def cfg(tiny_embedder: Path) -> FilterConfig:
    """The default thresholds, with the tiny embedding model instead of the hub id."""
    return FilterConfig.model_validate({"embedding": {"model": str(tiny_embedder)}})


@pytest.fixture(scope="module")
def scorer(cfg: FilterConfig) -> QualityScorer:
    s = QualityScorer(cfg)
    s.load()
    return s


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("curation-media")
    return {"dark": media.dark_clip(d / "dark.mp4"), "frozen": media.frozen_clip(d / "frozen.mp4"),
            "text": media.text_clip(d / "text.mp4"), "blur": media.blurred_clip(d / "blur.mp4")}


def frames_of(path: Path, cfg: FilterConfig) -> SampledFrames:
    s = cfg.sampling
    return sample_frames(str(path), count=s.count, fps=s.fps, max_frames=s.max_frames,
                         max_side=s.max_side)


def record_of(path: Path, scorer: QualityScorer, cfg: FilterConfig) -> QualityRecord:
    sampled = frames_of(path, cfg)
    signals = scorer.score(sampled.frames, sampled.timestamps)
    return quality_record(path.stem, str(path), signals, cfg, frame_indices=sampled.indices,
                          timestamps=sampled.timestamps, decode_warnings=sampled.warnings)


@pytest.mark.parametrize(("name", "reasons"), [("dark", ["dark"]), ("frozen", ["static"]),
                                               ("text", ["text"]), ("blur", ["blur"])])
def test_built_clips_get_their_reason(name: str, reasons: list[str], built: dict[str, Path],
                                      scorer: QualityScorer, cfg: FilterConfig) -> None:
    rec = record_of(built[name], scorer, cfg)
    assert rec.reasons == reasons, rec.model_dump(exclude={"embedding", "frame_hashes"})
    assert rec.kept is False and rec.duplicate_of is None


def test_bundled_clips_are_kept_with_the_defaults(scorer: QualityScorer,
                                                  cfg: FilterConfig) -> None:
    assert len(EXAMPLE_CLIPS) >= 5
    for path in EXAMPLE_CLIPS:
        rec = record_of(path, scorer, cfg)
        assert rec.kept, (path.name, rec.reasons,
                          rec.model_dump(exclude={"embedding", "frame_hashes"}))
        assert rec.reasons == [] and rec.text_coverage is not None and rec.text_coverage < 0.02
        assert len(rec.frame_hashes) == len(rec.frame_indices) == 12


def test_the_bundled_demo_clip_is_left_out_for_its_text(scorer: QualityScorer,
                                                        cfg: FilterConfig) -> None:
    rec = record_of(media.EXAMPLES / media.DEMO_CLIP, scorer, cfg)
    assert rec.reasons == ["text"] and not rec.kept
    assert rec.text_coverage is not None and rec.text_coverage > 0.2


def test_signal_values_have_their_units(built: dict[str, Path], scorer: QualityScorer,
                                        cfg: FilterConfig) -> None:
    bear = record_of(media.EXAMPLES / "vp9_bear.webm", scorer, cfg)
    dark = record_of(built["dark"], scorer, cfg)
    frozen = record_of(built["frozen"], scorer, cfg)
    text = record_of(built["text"], scorer, cfg)
    # luma 0..1: the dark clip is the 1940 film at 5% gain, the bear clip mid-grey
    assert dark.brightness < 0.03 < 0.3 < bear.brightness < 0.8
    assert dark.black_frame_share == 1.0 and bear.black_frame_share == 0.0
    assert dark.sharpness is None and dark.frame_hashes == []  # no non-black, no flat frame
    # a frozen clip does not move at all; the bear walks (a few % of the width per second)
    assert frozen.motion is not None and frozen.motion < 1e-4
    assert bear.motion is not None and bear.motion > 0.01
    assert len(set(frozen.frame_hashes)) == 1
    # four large lines of text cover a good part of the frame; its source clip has none
    assert text.text_coverage is not None and text.text_coverage > 0.2
    assert text.text_boxes is not None and text.text_boxes >= 3 * 3
    assert bear.text_coverage == 0.0 and bear.text_boxes == 0
    assert bear.ocr_model is not None and "rapidocr-onnxruntime" in bear.ocr_model


def test_embedding_is_a_unit_vector_from_the_loaded_model(scorer: QualityScorer,
                                                          cfg: FilterConfig) -> None:
    bear = record_of(media.EXAMPLES / "vp9_bear.webm", scorer, cfg)
    flower = record_of(media.EXAMPLES / "vp8_flower_cc0.webm", scorer, cfg)
    assert bear.embedding is not None and len(bear.embedding) == 32  # tiny CLIP projection
    assert np.linalg.norm(bear.embedding) == pytest.approx(1.0, abs=1e-5)
    assert bear.embedding != flower.embedding
    assert bear.tiny_model and bear.embedding_model == cfg.embedding.model
    assert bear.aesthetic is None and bear.aesthetic_head is None


def test_aesthetic_head_scores_the_embedding(tmp_path: Path, cfg: FilterConfig) -> None:
    rng = np.random.default_rng(3)
    w1, b1 = rng.standard_normal((8, 32)), rng.standard_normal(8)
    w2, b2 = rng.standard_normal((1, 8)), np.array([5.0])
    head = write_aesthetic_head(tmp_path / "head.safetensors", [(w1, b1), (w2, b2)])
    with_head = cfg.model_copy(deep=True)
    with_head.embedding.aesthetic_head = str(head)
    with_head.embedding.min_aesthetic = 1e9  # every clip is below: the rule must fire
    scorer = QualityScorer(with_head)
    sampled = frames_of(media.EXAMPLES / "vp9_bear.webm", with_head)
    signals = scorer.score(sampled.frames, sampled.timestamps)
    x = np.asarray(signals.embedding)
    expected = (w2 @ np.maximum(w1 @ x + b1, 0) + b2)[0]  # the documented MLP, by hand
    assert signals.aesthetic == pytest.approx(expected, rel=1e-4)  # weights stored as float32
    assert signals.aesthetic_head == str(head)
    assert reasons_for(signals, with_head) == ["aesthetic"]


def test_a_head_of_the_wrong_size_is_a_config_error(tmp_path: Path) -> None:
    head = write_aesthetic_head(tmp_path / "h.safetensors", [(np.ones((1, 7)), np.zeros(1))])
    with pytest.raises(ConfigError, match=r"aesthetic_head.*7"):
        AestheticHead.load(str(head), dim=32)
    (tmp_path / "junk.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(ConfigError, match="cannot read"):
        AestheticHead.load(str(tmp_path / "junk.safetensors"), dim=32)


def test_bad_embedding_model_is_a_config_error(tmp_path: Path) -> None:
    cfg = FilterConfig.model_validate({"embedding": {"model": str(tmp_path / "missing")}})
    with pytest.raises(ConfigError, match=r"filter\.embedding\.model"):
        QualityScorer(cfg).load()


def test_signals_switched_off_give_no_values_and_no_reasons(built: dict[str, Path]) -> None:
    cfg = FilterConfig.model_validate({"text": {"enabled": False},
                                       "embedding": {"enabled": False}})
    scorer = QualityScorer(cfg)
    sampled = frames_of(built["text"], cfg)
    signals = scorer.score(sampled.frames, sampled.timestamps)
    assert signals.text_coverage is None and signals.text_boxes is None
    assert signals.embedding is None and signals.ocr_model is None
    assert signals.embedding_model is None and not signals.tiny_model
    assert reasons_for(signals, cfg) == []


def test_null_thresholds_switch_single_rules_off(built: dict[str, Path],
                                                 scorer: QualityScorer,
                                                 cfg: FilterConfig) -> None:
    sampled = frames_of(built["dark"], cfg)
    signals = scorer.score(sampled.frames, sampled.timestamps)
    assert reasons_for(signals, cfg) == ["dark"]
    off = cfg.model_copy(deep=True)
    off.brightness.min_brightness = None
    assert reasons_for(signals, off) == ["dark"]  # still: every frame is near-black
    off.brightness.max_black_share = None
    assert reasons_for(signals, off) == []


def test_one_frame_clip_has_no_motion_and_breaks_no_motion_rule(
        scorer: QualityScorer, cfg: FilterConfig) -> None:
    sampled = sample_frames(str(media.EXAMPLES / "vp9_bear.webm"), count=1, max_side=256)
    signals = scorer.score(sampled.frames, sampled.timestamps)
    assert signals.motion is None and "static" not in reasons_for(signals, cfg)
    with pytest.raises(ValueError, match="one timestamp per frame"):
        scorer.score(sampled.frames, [])


def test_records_round_trip_through_arrow(scorer: QualityScorer, cfg: FilterConfig) -> None:
    rec = record_of(media.EXAMPLES / "people_selfie_1s.mp4", scorer, cfg)
    back = from_table(to_table([rec], QualityRecord), QualityRecord)
    assert back[0].model_dump(exclude={"embedding"}) == rec.model_dump(exclude={"embedding"})
    assert back[0].embedding == pytest.approx(rec.embedding)


def test_spread_picks_segment_centres() -> None:
    assert spread(12, 3) == [2, 6, 10]
    assert spread(2, 3) == [0, 1]
    assert spread(1, 1) == [0]
