"""Digests, rules backend, merge and checks (no LLM server needed)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from any2capins.captions.checks import camera_flags, mentioned_counts, people_flags, run_checks
from any2capins.captions.digest import pose_digest, style_stats, style_words
from any2capins.captions.merge import merge_row
from any2capins.cli import main
from any2capins.config.captions import CaptionsConfig
from any2capins.io.arrow import to_table
from any2capins.io.shards import ShardStore
from any2capins.models.camera import CameraRecord, MotionSegment
from any2capins.models.captions import (
    SECTIONS,
    CaptionDigest,
    ClipSections,
    MergedCaption,
    SectionResult,
)
from any2capins.models.clips import ClipRecord
from any2capins.models.conditions import PoseRecord, PoseTrack, RefCrop, RefsRecord

STATS = {"brightness": 0.5, "contrast": 0.2, "saturation": 0.3, "warmth": 0.0}


def digest(**kw) -> CaptionDigest:
    return CaptionDigest(**{**STATS, **kw})


def test_style_stats_and_words_follow_the_pixels() -> None:
    dark_cool = np.zeros((2, 8, 8, 3), np.uint8)
    dark_cool[..., 2] = 60
    bright_warm = np.full((2, 8, 8, 3), 230, np.uint8)
    bright_warm[..., 2] = 120
    a, b = style_stats(dark_cool), style_stats(bright_warm)
    assert a["brightness"] < 0.1 < b["brightness"]
    assert a["warmth"] < 0 < b["warmth"]
    assert "dark, low-key lighting" in style_words(a) and "cool tones" in style_words(a)
    assert "bright, high-key lighting" in style_words(b) and "warm tones" in style_words(b)
    grey = style_stats(np.full((1, 4, 4, 3), 128, np.uint8))
    assert grey["saturation"] == 0 and grey["contrast"] == 0


def _track(tid: int, boxes: list[list[float] | None]) -> PoseTrack:
    present = [b is not None for b in boxes]
    full = [b or [0.0, 0.0, 0.0, 0.0] for b in boxes]
    return PoseTrack(track_id=tid, present=present, boxes=full, box_scores=[0.9] * len(boxes),
                     keypoints=[[[0.0, 0.0, 0.0]]] * len(boxes), coverage=sum(present) / 4,
                     mean_box_score=0.9, mean_keypoint_score=0.5, quality=0.4)


def _pose(clip_id: str, tracks: list[PoseTrack]) -> PoseRecord:
    return PoseRecord(clip_id=clip_id, uri="x", model="m", tiny_model=True,
                      frame_indices=[0, 10, 20, 30], timestamps=[0.0, 0.5, 1.0, 1.5], seconds=0.1,
                      backend="vitpose", detector="d", width=200, height=100,
                      keypoint_names=["nose"], tracks=tracks)


def test_pose_digest_counts_and_directions() -> None:
    walker = _track(0, [[10, 40, 30, 80], [50, 40, 70, 80], [90, 40, 110, 80], None])
    stayer = _track(1, [None, [150, 20, 170, 90], [150, 20, 170, 90], [151, 20, 171, 90]])
    row = to_table([_pose("c", [walker, stayer])], PoseRecord).to_pylist()[0]
    d = pose_digest(row)
    assert d["people_tracks"] == 2 and d["people_max_visible"] == 2
    assert "moves to the right" in d["tracks"][0].sentence
    assert "stays roughly in place" in d["tracks"][1].sentence
    assert pose_digest(None) == {}


@pytest.mark.parametrize(("status", "motions", "text", "flag"), [
    ("static", ["static"], "A static medium shot; the camera does not move.", False),
    ("static", ["static"], "The camera pans slowly to the left.", True),
    ("ok", ["pan left"], "The camera pans left across the room.", False),
    ("ok", ["dolly in"], "A fixed, stationary camera frames the scene.", True),
    ("failed", [], "The camera pans left.", False),
    (None, [], "The camera pans left.", False),  # no camera condition: not judged
])
def test_camera_check(status, motions, text, flag) -> None:
    d = digest(camera_status=status, camera_motions=motions)
    assert (camera_flags(text, d) == ["camera_contradicts_motion"]) is flag


def test_people_count_check() -> None:
    assert mentioned_counts("Two young women talk while 3 kids run; a single man waits.") == [
        2, 3, 1]
    d = digest(people_tracks=3, people_max_visible=2)
    ok = {"dense": "Two people dance in a hall.", "action": "They spin."}
    assert people_flags(ok, {}, d) == []
    bad = {"dense": "Four people dance in a hall."}
    assert people_flags(bad, {}, d) == ["people_count_mismatch"]
    assert people_flags(ok, {"action": {"people_count": 5}}, d) == ["people_count_mismatch"]
    assert people_flags(bad, {}, digest()) == []  # no pose condition: not judged


def _sections(texts: dict[str, str | None], data: dict[str, dict] | None = None,
              **dig) -> ClipSections:
    results = [SectionResult(section=s, status="ok" if texts.get(s) else "not_generated",
                             text=texts.get(s), source="openai", prompt_version="1+abc",
                             data_json=json.dumps((data or {}).get(s, {"caption": texts.get(s)})))
               for s in SECTIONS]
    return ClipSections(clip_id="c1", uri="u", backend="openai", model="m", sections=results,
                        digest=digest(**dig))


WORDS = "word " * 30


def test_merge_renders_paper_format_and_miradata_columns() -> None:
    texts = {s: f"{s} text " + WORDS for s in SECTIONS}
    m = merge_row(_sections(texts), CaptionsConfig())
    assert m.missing == [] and m.flags == []
    lines = m.text.splitlines()
    assert [ln.split(":")[0] for ln in lines] == [
        "1. Dense caption", "2. Main object caption", "3. Background caption",
        "4. Camera caption", "5. Style caption", "6. Action caption"]
    assert lines[3].endswith(m.camera)
    cap = m.caption()
    assert cap is not None and cap.miradata_columns()["camera_caption"] == m.camera
    other = merge_row(_sections({**texts, "style": "changed " + WORDS}), CaptionsConfig())
    assert other.version != m.version
    assert m.prompt_versions == dict.fromkeys(SECTIONS, "1+abc")


def test_merge_flags_bounds_missing_and_refs() -> None:
    texts = dict.fromkeys(SECTIONS, WORDS)
    texts["camera"] = "Static."
    texts["style"] = None
    texts["dense"] = "word " * 200
    m = merge_row(_sections(texts, {"main_object": {"subjects": ["dog"], "caption": WORDS}},
                            ref_crops=0), CaptionsConfig())
    assert m.missing == ["style"] and m.text is None and m.caption() is None
    assert set(m.flags) == {"too_long:dense", "too_short:camera", "missing:style",
                            "main_object_without_refs"}
    flags = run_checks(dict.fromkeys(SECTIONS, WORDS), {"main_object": '{"subjects": []}'},
                       digest(ref_crops=0), CaptionsConfig().word_bounds)
    assert flags == []  # no subjects named: nothing without a crop


def _camera_table(clip_id: str, status: str, description: str, labels: list[str]) -> pa.Table:
    """A camera shard row with the camera stage's own record model."""
    segments = [MotionSegment(label=lb, speed="" if lb == "static" else "slow", start_s=0.0,
                              end_s=1.0, rate=0.0) for lb in labels]
    record = CameraRecord(clip_id=clip_id, uri="x", status=status, width=200, height=100,
                          sfm_width=200, sfm_height=100, frames=[], num_sampled=0,
                          num_registered=0, segments=segments, description=description,
                          seconds=0.1)
    return to_table([record], CameraRecord)


def _refs(clip_id: str, n: int) -> RefsRecord:
    """A refs row with `n` person crops (real JPEGs)."""
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (16, 24), (200, 80, 40)).save(buf, format="JPEG")
    crops = [RefCrop(track_id=i, label="person", frame_index=0, timestamp=0.0, box=[0, 0, 1, 1],
                     crop_box=[0, 0, 1, 1], score=0.9, sharpness=1.0, area_frac=0.1,
                     edge_cut=False, quality=0.5, frames_seen=3, jpeg=buf.getvalue(),
                     crop_width=16, crop_height=24) for i in range(n)]
    return RefsRecord(clip_id=clip_id, uri="x", model="m", tiny_model=True, frame_indices=[0],
                      timestamps=[0.0], seconds=0.1, width=200, height=100, crops=crops)


def test_rules_backend_with_and_without_conditions(tmp_path: Path, example_clips: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    for name in ("people_selfie_1s.mp4", "vp9_bear.webm"):
        shutil.copy(example_clips / name, src / name)
    run = tmp_path / "run"
    local = ["--set", "runtime.executor=local", "--set", "runtime.progress=false"]
    assert main(["ingest", str(src), "--out", str(run), *local,
                 "--set", "ingest.clips_per_shard=1"]) == 0
    store = ShardStore(str(run))
    clips = store.read_all("clips", ClipRecord)
    with_cond = next(c for c in clips if "selfie" in c.uri)
    shard = next(i for i in store.shard_indices("clips")
                 if store.read_shard("clips", i, ClipRecord)[0].clip_id == with_cond.clip_id)
    cid = with_cond.clip_id
    store.write_table(f"conditions/camera/shard-{shard:05d}.parquet", _camera_table(
        cid, "static", "The camera is static.", ["static"]))
    person = _track(0, [[10, 40, 30, 80], [50, 40, 70, 80], [90, 40, 110, 80], None])
    store.write_table(f"conditions/pose/shard-{shard:05d}.parquet",
                      to_table([_pose(cid, [person])], PoseRecord))
    store.write_table(f"conditions/refs/shard-{shard:05d}.parquet",
                      to_table([_refs(cid, 1)], RefsRecord))
    assert main(["captions", "--run", str(run), "--backend", "rules", *local]) == 0
    rows = {r.clip_id: r for r in store.read_all("captions/sections", ClipSections)}
    merged = {m.clip_id: m for m in store.read_all("captions/merged", MergedCaption)}
    assert len(merged) == 2 and store.read_errors("captions") == []
    m = merged[cid]
    assert rows[cid].digest.conditions == ["camera", "pose", "refs"]
    assert rows[cid].digest.ref_crops == 1
    assert m.camera == "The camera is static."
    assert m.action.startswith("One person is visible at once.")
    assert "moves to the right" in m.action
    assert m.style.startswith("Live-action footage with")
    assert m.missing == ["dense", "main_object", "background"] and m.backend == "rules"
    other = merged[next(c for c in merged if c != cid)]
    assert other.missing == ["dense", "main_object", "background", "camera", "action"]
    assert other.style and rows[other.clip_id].digest.conditions == []
    assert all(s.usage.calls == 0 for r in rows.values() for s in r.sections)


def test_backoff_honours_retry_after_and_caps() -> None:
    from any2capins.config.captions import LLMConfig
    from any2capins.llm.client import backoff

    cfg = LLMConfig(backoff_s=0.5, backoff_max_s=5.0)
    assert backoff(cfg, 0, 2.0) == 2.0  # retry-after wins
    assert backoff(cfg, 0, 60.0) == 5.0  # but is capped
    waits = [backoff(cfg, k, None) for k in range(6)]
    assert 0.375 <= waits[0] <= 0.625 and 0.75 <= waits[1] <= 1.25
    assert waits[-1] == 5.0


def test_parse_answer_accepts_fences_and_names_schema_errors() -> None:
    from any2capins.captions.schemas import ActionSection
    from any2capins.llm.client import _AnswerError, parse_answer

    ok = parse_answer('```json\n{"caption": "x", "people_count": 2}\n```', ActionSection)
    assert ok.people_count == 2
    with pytest.raises(_AnswerError) as exc:
        parse_answer('{"caption": "x"}', ActionSection)
    assert exc.value.error_class == "SchemaMismatch" and "people_count" in str(exc.value)
    with pytest.raises(_AnswerError) as exc:
        parse_answer('{"caption": "x", "people_count": 1, "extra": 0}', ActionSection)
    assert exc.value.error_class == "SchemaMismatch"
    with pytest.raises(_AnswerError) as exc:
        parse_answer("not json", ActionSection)
    assert exc.value.error_class == "InvalidJSON"


@pytest.mark.parametrize("raw", [
    '<think>The user wants JSON. Two people.</think>\n{"caption": "x", "people_count": 2}',
    '<think>\nhmm {not json}\n</think>```json\n{"caption": "x", "people_count": 2}\n```',
    'Here is the JSON you asked for:\n{"caption": "x", "people_count": 2}\nHope it helps!',
])
def test_parse_answer_finds_the_json_a_talking_or_thinking_model_wraps(raw: str) -> None:
    """json_text mode on real servers: reasoning models put <think>...</think> before the
    answer, chatty ones prose around it; the object inside is the answer."""
    from any2capins.captions.schemas import ActionSection
    from any2capins.llm.client import parse_answer

    assert parse_answer(raw, ActionSection).people_count == 2


@pytest.mark.parametrize(("raw", "error_class"), [
    ("<think>only thinking, then the budget ran out</think>", "EmptyAnswer"),
    ('Sure! Here is the caption: {"caption": "x", "people_count": 2', "InvalidJSON"),
    ('<think>{"caption": "from the thinking", "people_count": 2}</think> no answer', "InvalidJSON"),
])
def test_parse_answer_does_not_invent_an_answer(raw: str, error_class: str) -> None:
    """A cut-off object stays invalid, and JSON inside the thinking is not the answer."""
    from any2capins.captions.schemas import ActionSection
    from any2capins.llm.client import _AnswerError, parse_answer

    with pytest.raises(_AnswerError) as exc:
        parse_answer(raw, ActionSection)
    assert exc.value.error_class == error_class
