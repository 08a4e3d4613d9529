"""The frame sampler: frames chosen by presentation time on every class of real-world file
(the media fixtures of tests/data/videos, see make_media_fixtures.py), one decoder open per
plan, pixels identical to PyAV, scaling, rotation, failures with the decoder's words."""

from __future__ import annotations

import itertools
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from helpers import pyav_facts, write_clip

from any2capins.config.sampling import DecodeSettings, SamplingConfig
from any2capins.errors import DecodeError
from any2capins.io.frames import (
    FrameRequest,
    decode_plan,
    plan_positions,
    sample_frames,
    target_size,
)
from any2capins.io.probe import probe

sys.path.insert(0, str(Path(__file__).parent / "data"))

from make_media_fixtures import FLAT, VFR_MS, frame_number

# name -> (frames the file holds, display (w, h), first presentation time in seconds)
CLASSES = {
    "h264_bframes_gaps.avi": (24, (96, 64), None),
    "av1_10bit.webm": (20, (96, 64), 0.0),
    "hevc_10bit_rot90_5frames.mp4": (5, (64, 96), 0.0),
    "hevc_10bit_hdr10_bt2020.mkv": (6, (96, 64), 0.0),
    "h264_header_overstates_frames.avi": (20, (96, 64), None),
    "two_video_streams_small_first.mp4": (10, (192, 128), 0.0),
    "h264_with_cover_art.mp4": (5, (96, 64), 0.0),
    "h264_6frames.mp4": (6, (96, 64), 0.0),
    "h264_1frame.mp4": (1, (96, 64), 0.0),
    "h264_rot90.mp4": (10, (64, 96), 0.0),
    "h264_vfr.mkv": (16, (96, 64), 0.0),
    "h264_delayed_start.mp4": (10, (96, 64), 0.5),
    "h264_bframes.ts": (72, (96, 64), None),
    "h264_resolution_change.mkv": (20, (96, 64), 0.0),
}


def _code_values(name: str) -> DecodeSettings | None:
    """The HDR10 fixture holds SDR code values (FLAT, the grey frame codes) tagged PQ: tests that
    read those values back decode it without tone mapping (`decode.hdr: off`); the tone mapping
    itself is tested in tests/test_hdr.py on fixtures made of real PQ/HLG levels."""
    return DecodeSettings(hdr="off") if "hdr10" in name else None


def _meta(path: Path, **span: float) -> SimpleNamespace:
    p = probe(str(path))
    return SimpleNamespace(num_frames=p.num_frames, fps=p.fps, width=p.width, height=p.height,
                           rotation=p.rotation, stream_index=p.stream_index,
                           span_start_s=span.get("start"), span_end_s=span.get("end"))


def _flat_half(img: np.ndarray) -> np.ndarray:
    """Mean RGB of the frame's flat-colour half (left when stored = displayed; bottom when the
    display rotation is 90 degrees counter-clockwise)."""
    h, w = img.shape[:2]
    half = img[:, 2: w // 2 - 2] if w > h else img[h // 2 + 2: -2, 20:]
    return half.reshape(-1, 3).mean(0)


def test_plan_positions_by_count_fps_and_cap() -> None:
    times = [i / 30 for i in range(200)]
    end = 200 / 30
    assert plan_positions(times, end, FrameRequest(count=8)) == [12, 37, 62, 87, 112, 137, 162,
                                                                 187]
    assert plan_positions(times[:5], 5 / 30, FrameRequest(count=8)) == [0, 1, 2, 3, 4]
    by_fps = plan_positions(times, end, FrameRequest(fps=2))
    assert by_fps[:3] == [0, 15, 30] and len(by_fps) == 14
    assert len(plan_positions(times, end, FrameRequest(fps=30, max_frames=10))) == 10
    assert plan_positions([], 0.0, FrameRequest(count=4)) == []
    assert plan_positions(times[:3], 0.1, FrameRequest()) == [0, 1, 2]  # neither: every frame


def test_plan_positions_follow_time_on_vfr() -> None:
    times = [t / 1000 for t in VFR_MS]
    # 4 centres of equal time segments: 0.19, 0.57, 0.96, 1.34 s -> nearest frames
    assert plan_positions(times, 1.534, FrameRequest(count=4)) == [6, 8, 10, 15]
    # a cluster of close targets still gets distinct frames
    assert len(plan_positions(times, 1.534, FrameRequest(count=12))) == 12


def test_target_size_keeps_aspect_and_even_sizes() -> None:
    assert target_size(960, 540, 512) == (512, 288)
    assert target_size(320, 240, 512) is None
    assert target_size(540, 960, 100) == (56, 100)


def test_sampling_config_gives_its_request() -> None:
    cfg = SamplingConfig(fps=2, count=8, max_frames=5, max_side=64)
    assert cfg.request() == FrameRequest(fps=2, count=None, max_frames=5, max_side=64)


@pytest.mark.parametrize("name", sorted(CLASSES))
def test_every_class_decodes_every_frame_in_order(test_videos: Path, name: str) -> None:
    n, size, first = CLASSES[name]
    got = sample_frames(str(test_videos / name), max_frames=None, count=1000,
                        meta=_meta(test_videos / name), settings=_code_values(name))
    assert got.frames.shape == (n, size[1], size[0], 3) and got.frames.dtype == np.uint8
    assert got.source_size == size and got.requested == n
    assert got.indices == list(range(n))
    # right frame, right order (the grey code cycles every 36 frames)
    assert [frame_number(f) for f in got.frames] == [i % 36 for i in range(n)]
    assert all(b > a for a, b in zip(got.timestamps, got.timestamps[1:], strict=False))
    if first is not None:
        assert got.timestamps[0] == pytest.approx(first, abs=1e-3)


@pytest.mark.parametrize("name", ["h264_vfr.mkv", "h264_delayed_start.mp4",
                                  "h264_bframes_gaps.avi", "av1_10bit.webm"])
def test_timestamps_lie_within_one_frame_period_of_the_targets(test_videos: Path,
                                                               name: str) -> None:
    every = sample_frames(str(test_videos / name), count=1000)
    start, times = every.timestamps[0], every.timestamps
    period = max(b - a for a, b in itertools.pairwise(times))
    end = times[-1] + min(b - a for a, b in itertools.pairwise(times))
    got = sample_frames(str(test_videos / name), count=4)
    targets = [start + (i + 0.5) * (end - start) / 4 for i in range(4)]
    assert len(got.timestamps) == 4
    for t, target in zip(got.timestamps, targets, strict=True):
        assert abs(t - target) <= period + 1e-6
    by_fps = sample_frames(str(test_videos / name), fps=5)
    for t in by_fps.timestamps:
        assert abs((t - start) * 5 - round((t - start) * 5)) * 0.2 <= period


def test_vfr_frames_carry_their_true_times(test_videos: Path) -> None:
    got = sample_frames(str(test_videos / "h264_vfr.mkv"), count=1000)
    assert got.timestamps == pytest.approx([t / 1000 for t in VFR_MS], abs=1e-3)


def test_the_larger_stream_is_used_and_cover_art_never(test_videos: Path) -> None:
    two = sample_frames(str(test_videos / "two_video_streams_small_first.mp4"), count=2)
    assert two.frames.shape[1:3] == (128, 192)
    assert np.abs(_flat_half(two.frames[0]) - FLAT).max() < 12  # not the green small stream
    art = sample_frames(str(test_videos / "h264_with_cover_art.mp4"), count=2)
    assert art.frames.shape[1:3] == (64, 96) and frame_number(art.frames[0]) in range(5)


@pytest.mark.parametrize("name", ["av1_10bit.webm", "hevc_10bit_rot90_5frames.mp4",
                                  "hevc_10bit_hdr10_bt2020.mkv"])
def test_ten_bit_input_comes_out_as_correct_8_bit_rgb(test_videos: Path, name: str) -> None:
    got = sample_frames(str(test_videos / name), count=3, settings=_code_values(name))
    assert got.frames.dtype == np.uint8 and got.warnings == []
    for img in got.frames:
        # within 4 levels: the BT.2020-tagged clip decoded with the BT.601 matrix is ~6 off
        assert np.abs(_flat_half(img) - FLAT).max() < 4, _flat_half(img)


def test_rotated_fixture_is_display_oriented(test_videos: Path) -> None:
    got = sample_frames(str(test_videos / "h264_rot90.mp4"), count=2, max_side=48)
    assert got.frames.shape[1:3] == (48, 32) and got.source_size == (64, 96)
    white = got.frames[0, ..., 0] > 240  # stored top-left block -> displayed bottom-left
    ys, xs = np.nonzero(white)
    assert ys.mean() > 36 and xs.mean() < 10


def test_damaged_nal_is_skipped_with_a_warning(test_videos: Path) -> None:
    path = str(test_videos / "h264_damaged_nal.mp4")
    got = sample_frames(path, count=1000)
    assert got.requested == 30 and len(got.frames) == 29
    assert [frame_number(f) for f in got.frames] == [i for i in range(30) if i != 14]
    said = " ".join(got.warnings)
    assert "Invalid data found" in said and "frame 14 (1.400s) did not decode" in said
    with pytest.raises(DecodeError, match=r"29 of 30 .*Invalid data found"):
        sample_frames(path, count=1000, settings=DecodeSettings(min_decoded_fraction=1.0))


def test_tiny_clips_give_what_they_have(test_videos: Path) -> None:
    one = str(test_videos / "h264_1frame.mp4")
    for request in (FrameRequest(count=8), FrameRequest(fps=30), FrameRequest(fps=0.5)):
        got = decode_plan(one, None, {"x": request})["x"]
        assert got.indices == [0] and got.requested == 1 and got.warnings == []
    six = sample_frames(str(test_videos / "h264_6frames.mp4"), count=8, max_side=32)
    assert six.indices == list(range(6)) and six.frames.shape == (6, 22, 32, 3)


def test_one_plan_one_open_and_same_frames_as_single_requests(
        test_videos: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    log = tmp_path / "opens.log"
    monkeypatch.setenv("ANY2CAPINS_DECODE_LOG", str(log))
    path = str(test_videos / "h264_vfr.mkv")
    requests = {"depth": FrameRequest(fps=4, max_side=48), "refs": FrameRequest(count=3),
                "sheet": FrameRequest(count=6, max_side=32)}
    plan = decode_plan(path, None, requests)
    lines = log.read_text().splitlines()
    assert len(lines) == 1 and lines[0].split() == [lines[0].split()[0], path]
    for name, req in requests.items():
        alone = sample_frames(path, fps=req.fps, count=req.count, max_side=req.max_side)
        assert plan[name].indices == alone.indices
        assert np.array_equal(plan[name].frames, alone.frames)
    assert plan["depth"].frames.shape[2] == 48 and plan["refs"].frames.shape[2] == 96
    assert len(log.read_text().splitlines()) == 1 + len(requests)


@pytest.mark.parametrize("name", ["h264_bframes_gaps.avi", "h264_vfr.mkv"])
@pytest.mark.parametrize("span", [(1.0, 2.0), (0.0, 0.35), (1.45, 2.05)])
def test_span_bounds_the_targets(test_videos: Path, name: str,
                                 span: tuple[float, float]) -> None:
    path, (lo, hi) = test_videos / name, span
    whole = sample_frames(str(path), count=1000)
    number_at = {t: frame_number(f) for t, f in zip(whole.timestamps, whole.frames, strict=True)}
    inside = [t for t in whole.timestamps if lo <= t < hi]
    got = sample_frames(str(path), count=1000, meta=_meta(path, start=lo, end=hi))
    assert got.timestamps == inside and got.indices == list(range(len(inside)))
    assert [frame_number(f) for f in got.frames] == [number_at[t] for t in inside]
    few = sample_frames(str(path), count=2, meta=_meta(path, start=lo, end=hi))
    assert all(lo <= t < hi for t in few.timestamps)
    assert len(few.timestamps) == min(2, len(inside))
    assert [frame_number(f) for f in few.frames] == [number_at[t] for t in few.timestamps]


@pytest.mark.parametrize("name", ["people_bedroom_kids_jumping.mp4", "vp9_bear.webm",
                                  "people_his_girl_friday_pd.mp4"])
def test_full_resolution_frames_equal_pyav(example_clips: Path, name: str) -> None:
    path = example_clips / name
    got = sample_frames(str(path), count=5, meta=probe(str(path)))
    ref = pyav_facts(path)["all"]
    for i, frame in zip(got.indices, got.frames, strict=True):
        assert np.array_equal(frame, ref[i]), f"frame {i} differs from PyAV"
    assert got.timestamps[1] == pytest.approx(got.indices[1] / 30.0, rel=1e-2)


def test_scaled_frames_keep_aspect(example_clips: Path) -> None:
    path = str(example_clips / "people_bedroom_kids_jumping.mp4")
    a = sample_frames(path, count=4, max_side=256, meta=probe(path))
    assert a.frames.shape == (4, 144, 256, 3)
    assert a.frames.dtype == np.uint8 and a.source_size == (960, 540)


@pytest.mark.parametrize("rotation", [90, 180, 270])
def test_rotated_clips_come_out_display_oriented(tmp_path: Path, rotation: int) -> None:
    frames = np.zeros((4, 32, 64, 3), np.uint8)
    frames[:, :16, :16] = 255  # white block in the stored top-left corner
    clip = write_clip(tmp_path / "r.mp4", frames, rotation=rotation)
    got = sample_frames(str(clip), count=2, max_side=32, meta=probe(str(clip)))
    expected = np.rot90(frames[0], k=rotation // 90)  # counter-clockwise, as displayed
    assert got.frames.shape[1:3] == (expected.shape[0] // 2, expected.shape[1] // 2)
    small = expected[::2, ::2, 0] > 128
    assert (got.frames[0, ..., 0] > 128).mean() == pytest.approx(small.mean(), abs=0.05)
    ys, xs = np.nonzero(got.frames[0, ..., 0] > 128)
    ey, ex = np.nonzero(small)
    assert abs(ys.mean() - ey.mean()) < 3 and abs(xs.mean() - ex.mean()) < 3


def test_undecodable_clip_fails_with_the_decoders_words(test_videos: Path) -> None:
    with pytest.raises(DecodeError, match=r"0 of \d+ frames .*: Invalid data found"):
        sample_frames(str(test_videos / "corrupt_vp9_invalid_bitstream.webm"), count=2)
    with pytest.raises(DecodeError, match="out of range"):
        sample_frames(str(test_videos / "mjpeg_dandi_stub_0.3s.avi"), indices=[0, 5])
    with pytest.raises(DecodeError, match="cannot open"):
        sample_frames(str(test_videos / "PROVENANCE.md"), count=2)


@pytest.mark.parametrize("path", ["examples/clips/people_his_girl_friday_pd.mp4",  # 6 GOPs
                                  "tests/data/videos/h264_bframes.ts"])  # pts seeks land late
def test_seeking_past_gops_gives_the_same_frames(path: str) -> None:
    path = str(Path(__file__).parents[1] / path)
    for request in (FrameRequest(count=8, max_side=64), FrameRequest(fps=3, max_side=64)):
        seek = decode_plan(path, None, {"x": request})["x"]
        whole = decode_plan(path, None, {"x": request},
                            settings=DecodeSettings(seek=False))["x"]
        assert seek.indices == whole.indices and np.array_equal(seek.frames, whole.frames)
        assert not any("did not decode" in w for w in seek.warnings)


def test_backwards_timestamps_found_while_decoding_switch_to_output_order(
        test_videos: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import dataclasses

    from any2capins.io import decode_pyav, streams

    def unflagged(*args: object, **kwargs: object) -> streams.FrameIndex:
        return dataclasses.replace(streams.scan_index(*args, **kwargs), decode_order=False)

    path = str(test_videos / "h264_bframes_gaps.avi")
    flagged = sample_frames(path, count=5)
    monkeypatch.setattr(decode_pyav, "scan_index", unflagged)
    found = sample_frames(path, count=5)
    assert found.timestamps == flagged.timestamps
    assert [frame_number(f) for f in found.frames] == [frame_number(f) for f in flagged.frames]
    assert any("output order" in w for w in found.warnings)


@pytest.mark.parametrize("max_side", [None, 64])
def test_a_mid_stream_resolution_change_keeps_one_frame_size(test_videos: Path,
                                                             max_side: int | None) -> None:
    """Frames 10-19 are 192x128 in a stream opened (and probed) at 96x64: every frame of a
    request comes at one size (it used to fail the clip: 'all input arrays must have the same
    shape'), the right frames in order, and a warning says so."""
    name = "h264_resolution_change.mkv"
    got = sample_frames(str(test_videos / name), count=1000, max_side=max_side,
                        meta=_meta(test_videos / name))
    size = (96, 64) if max_side is None else (64, 42)
    assert got.frames.shape == (20, size[1], size[0], 3)
    assert [frame_number(f) for f in got.frames] == list(range(20))
    assert (np.abs(_flat_half(got.frames[15]) - FLAT) < 8).all()
    if max_side is None:
        assert any("resolution changes mid-stream (96x64 -> 192x128)" in w
                   for w in got.warnings), got.warnings
