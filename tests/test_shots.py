"""Shots at ingest: cuts exact to the frame (CFR, VFR, rotated), fast motion not cut, short
shots dropped and recorded, long shots split, span clips through the sampler, duplicates."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from shots_media import SIZE, fast_pan, multi_shot, vfr_multi_shot

from any2capins.config import load_config
from any2capins.config.ingest import ShotsConfig
from any2capins.ingest.run import IngestOutcome, run_ingest
from any2capins.ingest.shots import detect_shots
from any2capins.ingest.stage import clip_id_for, sha256_file
from any2capins.io.shards import ShardStore
from any2capins.models import ClipRecord

LOCAL = ["runtime.executor=local", "runtime.progress=false"]
FPS = 25
LENGTHS = [30, 20, 25, 15]  # frames per shot of the CFR multi-shot fixture


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("shots")
    multi_shot(d / "multi.mp4", LENGTHS, fps=FPS)
    multi_shot(d / "rotated.mp4", [30, 20], fps=FPS, rotation=90)
    multi_shot(d / "short_middle.mp4", [30, 5, 30], fps=FPS)
    vfr_multi_shot(d / "vfr.mp4")
    fast_pan(d / "pan.mp4")
    return {p.stem: p for p in d.iterdir()}


def ingest(src: Path, run: Path, *overrides: str) -> IngestOutcome:
    return run_ingest(str(src), str(run), load_config([], [*LOCAL, *overrides]))


def frame_times(path: Path) -> list[float]:
    import av

    with av.open(str(path)) as c:
        return [float(f.pts * f.time_base) for f in c.decode(video=0)]


def reference_frames(path: Path) -> np.ndarray:
    import av

    with av.open(str(path)) as c:
        return np.stack([f.to_ndarray(format="rgb24") for f in c.decode(video=0)]).astype(float)


@pytest.mark.parametrize("detector", ["content", "adaptive"])
def test_hard_cuts_are_exact_to_the_frame(media: dict[str, Path], detector: str) -> None:
    scan = detect_shots(str(media["multi"]), ShotsConfig(detector=detector))
    cuts = np.cumsum(LENGTHS)[:-1].tolist()
    assert [s.start_frame for s in scan.shots] == [0, *cuts]
    assert [s.num_frames for s in scan.shots] == LENGTHS
    times = frame_times(media["multi"])
    for shot in scan.shots:
        # the span holds exactly the shot's frames, and starts within one frame of the cut
        inside = [k for k, t in enumerate(times) if shot.start_s <= t < shot.end_s]
        assert inside == list(range(shot.start_frame, shot.end_frame))
        assert abs(shot.start_s - times[shot.start_frame]) <= 1 / FPS
    assert all(a.end_s == b.start_s for a, b in zip(scan.shots, scan.shots[1:], strict=False))
    assert scan.shots[-1].end_s == pytest.approx(sum(LENGTHS) / FPS, abs=1e-6)


def test_vfr_cuts_within_one_frame(media: dict[str, Path]) -> None:
    times = frame_times(media["vfr"])
    scan = detect_shots(str(media["vfr"]), ShotsConfig())
    assert [s.start_frame for s in scan.shots] == [0, 20, 65]
    for shot in scan.shots[1:]:
        gap = times[shot.start_frame] - times[shot.start_frame - 1]
        assert times[shot.start_frame - 1] < shot.start_s < times[shot.start_frame]
        assert abs(shot.start_s - times[shot.start_frame]) <= gap
    assert scan.shots[0].duration_s == pytest.approx(2.0, abs=1e-3)  # 20 frames at 10 fps


@pytest.mark.parametrize("detector", ["content", "adaptive"])
def test_fast_camera_motion_is_not_a_cut(media: dict[str, Path], tmp_path: Path,
                                         detector: str) -> None:
    scan = detect_shots(str(media["pan"]), ShotsConfig(detector=detector))
    assert (scan.cuts, len(scan.shots), scan.frames) == (0, 1, 60)
    out = ingest(media["pan"], tmp_path / "run", f"ingest.shots.detector={detector}")
    (clip,) = ShardStore(str(tmp_path / "run")).read_all("clips", ClipRecord)
    assert (clip.span_start_s, clip.span_end_s) == (None, None)  # whole file, plain id
    assert clip.clip_id == sha256_file(str(media["pan"]))[0][:16]
    assert [(v.clips, v.status) for v in out.videos] == [(1, "ok")]


def test_rotated_multi_shot_becomes_span_clips(media: dict[str, Path], tmp_path: Path) -> None:
    ingest(media["rotated"], tmp_path / "run")
    clips = ShardStore(str(tmp_path / "run")).read_all("clips", ClipRecord)
    assert [c.num_frames for c in clips] == [30, 20]
    assert all(c.rotation == 90 and (c.width, c.height) == (SIZE[1], SIZE[0]) for c in clips)
    assert clips[0].span_end_s == clips[1].span_start_s == pytest.approx(30 / FPS - 1e-3, abs=1e-6)
    sha = clips[0].content_sha256
    assert [c.clip_id for c in clips] == [
        clip_id_for(sha, (c.span_start_s, c.span_end_s)) for c in clips]
    assert clips[1].duration_s == pytest.approx(clips[1].span_end_s - clips[1].span_start_s)


def test_short_shots_are_dropped_and_recorded(media: dict[str, Path], tmp_path: Path) -> None:
    run = tmp_path / "run"
    out = ingest(media["short_middle"], run)
    store = ShardStore(str(run))
    clips = store.read_all("clips", ClipRecord)
    (err,) = store.read_errors("ingest")
    assert [c.num_frames for c in clips] == [30, 30]
    assert err.error_class == "ShotTooShort" and "min_len_s=0.5" in err.message
    assert "5 frames" in err.message
    (done,) = store.done_records("ingest")
    assert (done.input_rows, done.output_rows, done.error_rows) == (1, 2, 1)
    (video,) = out.videos
    assert (video.status, video.clips, video.shots_dropped) == ("ok", 2, 1)
    table = pq.read_table(run / "ingest" / "videos.parquet").to_pylist()
    assert table[0]["clips"] == 2 and table[0]["shots_dropped"] == 1
    # with no minimum the 5-frame shot is a clip of its own
    assert len(detect_shots(str(media["short_middle"]), ShotsConfig(min_len_s=0)).shots) == 3


def test_a_video_without_cut_is_never_too_short(tmp_path: Path, example_clips: Path) -> None:
    ingest(example_clips / "people_selfie_1s.mp4", tmp_path / "run", "ingest.shots.min_len_s=5")
    (clip,) = ShardStore(str(tmp_path / "run")).read_all("clips", ClipRecord)
    assert clip.span_start_s is None and clip.num_frames == 30


def test_long_shots_are_split_evenly(media: dict[str, Path], tmp_path: Path) -> None:
    out = ingest(media["pan"], tmp_path / "run", "ingest.shots.max_len_s=1.0")
    clips = ShardStore(str(tmp_path / "run")).read_all("clips", ClipRecord)
    assert [c.num_frames for c in clips] == [20, 20, 20]  # 2.4 s -> 3 x 0.8 s
    assert [c.duration_s for c in clips] == pytest.approx([0.799, 0.8, 0.801], abs=1e-6)
    assert clips[0].span_end_s == clips[1].span_start_s
    assert clips[1].span_end_s == clips[2].span_start_s
    assert len({c.clip_id for c in clips}) == 3
    assert out.videos[0].clips == 3
    with pytest.raises(ValueError, match="2 x min_len_s"):
        ShotsConfig(min_len_s=1.0, max_len_s=1.5)


def test_changed_shot_settings_redo_ingest(media: dict[str, Path], tmp_path: Path) -> None:
    run = tmp_path / "run"
    ingest(media["multi"], run, "ingest.shots.detect=false")
    assert len(ShardStore(str(run)).read_all("clips", ClipRecord)) == 1
    again = ingest(media["multi"], run)
    assert again.summary.shards_run == 1
    assert len(ShardStore(str(run)).read_all("clips", ClipRecord)) == len(LENGTHS)


def _owner(frame: np.ndarray, reference: np.ndarray) -> int:
    """The index of the reference frame the sampled frame shows (least squared error)."""
    return int(np.argmin(((reference - frame.astype(float)) ** 2).mean(axis=(1, 2, 3))))


def test_span_clips_only_see_their_own_frames(media: dict[str, Path], tmp_path: Path) -> None:
    """Sampling (extract's one-pass plan, the captions grid, fps requests) on a span clip returns
    frames from that shot only, with positions inside the span."""
    from any2capins.io.frames import FrameRequest, decode_plan, sample_frames

    ingest(media["multi"], tmp_path / "run")
    clips = ShardStore(str(tmp_path / "run")).read_all("clips", ClipRecord)
    reference = reference_frames(media["multi"])
    path = str(media["multi"])
    start = 0
    for clip, n in zip(clips, LENGTHS, strict=True):
        grid = sample_frames(path, count=8, meta=clip)  # as captions do
        plan = decode_plan(path, clip, {"all": FrameRequest(fps=50.0),
                                        "few": FrameRequest(count=3, max_side=64)})
        for got in (grid, plan["all"], plan["few"]):
            assert all(clip.span_start_s <= t < clip.span_end_s for t in got.timestamps)
            assert all(0 <= i < clip.num_frames for i in got.indices)
        assert len(plan["all"].indices) == n  # every frame of the shot, no more
        for frame in (*grid.frames, *plan["all"].frames):
            assert start <= _owner(frame, reference) < start + n
        start += n


@pytest.fixture
def dup_src(tmp_path: Path, media: dict[str, Path], example_clips: Path) -> Path:
    """b.mp4 and d.mp4 hold the same bytes as a.mp4 (a multi-shot video)."""
    src = tmp_path / "src"
    src.mkdir()
    shutil.copy(media["multi"], src / "a.mp4")
    shutil.copy(example_clips / "vp9_bear.webm", src / "c.webm")
    shutil.copy(media["multi"], src / "b.mp4")
    shutil.copy(media["multi"], src / "d.mp4")
    return src


def _check_duplicates(run: Path, src: Path, kept: str, dups: list[str]) -> None:
    store = ShardStore(str(run))
    clips = store.read_all("clips", ClipRecord)
    errors = store.read_errors("ingest")
    assert sorted({Path(c.uri).name for c in clips}) == sorted([kept, "c.webm"])
    assert len(clips) == len(LENGTHS) + 1
    assert len({c.clip_id for c in clips}) == len(clips)  # ids unique everywhere
    assert sorted(Path(e.uri).name for e in errors) == sorted(dups)
    for e in errors:
        assert e.error_class == "DuplicateContent" and str(src / kept) in e.message
    done = store.done_records("ingest")
    inputs = sum(d.input_rows for d in done)
    assert inputs == 2 + len(dups) == sum(d.ok_items for d in done) + len(errors)
    assert sum(d.output_rows for d in done) == len(clips)


@pytest.mark.parametrize("executor", ["local", "ray"])
def test_duplicate_content_is_ingested_once(dup_src: Path, tmp_path: Path, executor: str,
                                            request: pytest.FixtureRequest) -> None:
    if executor == "ray":
        request.getfixturevalue("ray_cluster")
    run = tmp_path / "run"
    # one file per shard: the copies are probed in parallel, in different shards
    out = run_ingest(str(dup_src), str(run), load_config([], [
        f"runtime.executor={executor}", "runtime.progress=false", "ingest.clips_per_shard=1"]))
    _check_duplicates(run, dup_src, "a.mp4", ["b.mp4", "d.mp4"])
    assert [v.status for v in out.videos] == ["ok", "duplicate", "ok", "duplicate"]
    assert out.videos[0].clips == len(LENGTHS)


def test_duplicates_stay_decided_across_resumes(dup_src: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    ingest(dup_src, run, "ingest.clips_per_shard=2")  # a+b share a shard, d another
    _check_duplicates(run, dup_src, "a.mp4", ["b.mp4", "d.mp4"])
    again = ingest(dup_src, run, "ingest.clips_per_shard=2")
    assert (again.summary.shards_run, again.duplicates.shards_rewritten) == (0, [])
    _check_duplicates(run, dup_src, "a.mp4", ["b.mp4", "d.mp4"])
    # a copy that sorts first but is listed later (appended) is the duplicate, not a.mp4
    shutil.copy(dup_src / "a.mp4", dup_src / "0.mp4")
    ingest(dup_src, run, "ingest.clips_per_shard=2")
    _check_duplicates(run, dup_src, "a.mp4", ["0.mp4", "b.mp4", "d.mp4"])
    # redoing every shard (in any order) decides the same way
    run_ingest(str(dup_src), str(run), load_config([], LOCAL), force=True)
    _check_duplicates(run, dup_src, "a.mp4", ["0.mp4", "b.mp4", "d.mp4"])


def test_fast_plane_distance_equals_pyscenedetects() -> None:
    from any2capins.ingest.shots import _l1_mean

    rng = np.random.default_rng(0)
    for shape in ((144, 256), (7, 5)):
        a, b = (rng.integers(0, 256, shape, dtype=np.uint8) for _ in range(2))
        reference = np.sum(np.abs(a.astype(np.int32) - b.astype(np.int32))) / float(a.size)
        assert _l1_mean(a, b) == reference


def test_prefetch_passes_errors_on_and_stops_its_thread() -> None:
    import threading

    from any2capins.ingest.shots import prefetch

    def failing():
        yield 1
        raise RuntimeError("decoder broke")

    with pytest.raises(RuntimeError, match="decoder broke"):
        list(prefetch(failing()))
    produced: list[int] = []

    def endless():
        while True:
            produced.append(len(produced))
            yield produced[-1]

    frames = prefetch(endless(), depth=2)
    assert next(frames) == 0
    frames.close()  # the consumer stops early: the worker is stopped and joined
    assert not [t for t in threading.enumerate() if t.name == "shots-decode"]
    assert len(produced) <= 5  # read-ahead is bounded by depth


MEDIA = Path(__file__).parent / "data" / "videos"


@pytest.mark.parametrize("name", ["two_video_streams_small_first.mp4", "h264_damaged_nal.mp4",
                                  "h264_bframes_gaps.avi", "h264_vfr.mkv", "h264_1frame.mp4",
                                  "hevc_10bit_rot90_5frames.mp4", "h264_delayed_start.mp4"])
def test_odd_files_are_one_shot_on_the_probes_stream(tmp_path: Path, name: str) -> None:
    """Files of the real-world classes (several video streams, a damaged packet, pts gaps, VFR,
    1 frame, 10-bit rotated, delayed start) are scanned on the probe's stream and stay one
    whole-file clip."""
    ingest(MEDIA / name, tmp_path / "run")
    (clip,) = ShardStore(str(tmp_path / "run")).read_all("clips", ClipRecord)
    assert clip.span_start_s is None and clip.clip_id == clip.content_sha256[:16]
    scan = detect_shots(str(MEDIA / name), ShotsConfig(), clip.stream_index)
    assert (len(scan.shots), scan.stream_index) == (1, clip.stream_index)
    assert scan.frames == clip.num_frames - scan.skipped_packets
    # the packet loop's policy: a damaged packet costs its frame, with the decoder's words
    assert bool(scan.messages) == bool(scan.skipped_packets) == (name == "h264_damaged_nal.mp4")
    assert all("Invalid data" in m for m in scan.messages)


def test_a_video_where_nothing_decodes_fails_with_the_decoders_words(test_videos: Path) -> None:
    from any2capins.errors import DecodeError

    with pytest.raises(DecodeError, match=r"decoded no frames: Invalid data found"):
        detect_shots(str(test_videos / "corrupt_vp9_invalid_bitstream.webm"), ShotsConfig())
