"""The frame sampler: index choice, pixels identical to PyAV, scaling, rotation, errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from helpers import pyav_facts, write_clip

from any2capins.errors import DecodeError
from any2capins.io.frames import pick_indices, sample_frames, target_size
from any2capins.io.probe import probe


def test_pick_indices_by_count_fps_and_cap() -> None:
    assert pick_indices(200, 30.0, count=8) == [12, 37, 62, 87, 112, 137, 162, 187]
    assert pick_indices(5, 30.0, count=8) == [0, 1, 2, 3, 4]  # never more than the clip has
    by_fps = pick_indices(200, 30.0, fps=2)
    assert by_fps[:3] == [0, 15, 30] and len(by_fps) == 14
    assert len(pick_indices(200, 30.0, fps=30, max_frames=10)) == 10
    assert pick_indices(0, 30.0, count=4) == []
    with pytest.raises(DecodeError):
        pick_indices(10, 0.0, fps=2)


def test_target_size_keeps_aspect_and_even_sizes() -> None:
    assert target_size(960, 540, 512) == (512, 288)
    assert target_size(320, 240, 512) is None
    assert target_size(540, 960, 100) == (56, 100)


@pytest.mark.parametrize("backend", ["decord", "pyav"])
@pytest.mark.parametrize("name", ["people_bedroom_kids_jumping.mp4", "vp9_bear.webm",
                                  "people_his_girl_friday_pd.mp4"])
def test_full_resolution_frames_equal_pyav(example_clips: Path, name: str, backend: str) -> None:
    path = example_clips / name
    got = sample_frames(str(path), count=5, meta=probe(str(path)), backend=backend)
    ref = pyav_facts(path)["all"]
    for i, frame in zip(got.indices, got.frames, strict=True):
        assert np.array_equal(frame, ref[i]), f"frame {i} differs from PyAV"
    assert got.timestamps[1] == pytest.approx(got.indices[1] / 30.0, rel=1e-2)


def test_scaled_with_and_without_metadata(example_clips: Path) -> None:
    path = str(example_clips / "people_bedroom_kids_jumping.mp4")
    meta = probe(path)
    a = sample_frames(path, count=4, max_side=256, meta=meta)
    b = sample_frames(path, count=4, max_side=256)
    assert a.frames.shape == b.frames.shape == (4, 144, 256, 3)
    assert a.frames.dtype == np.uint8 and a.source_size == (960, 540)
    # decoder-side and OpenCV scaling differ in filter, not in content
    assert np.abs(a.frames.astype(int) - b.frames.astype(int)).mean() < 12


@pytest.mark.parametrize("backend", ["decord", "pyav"])
@pytest.mark.parametrize("rotation", [90, 180, 270])
def test_rotated_clips_come_out_display_oriented(tmp_path: Path, rotation: int,
                                                 backend: str) -> None:
    frames = np.zeros((4, 32, 64, 3), np.uint8)
    frames[:, :16, :16] = 255  # white block in the stored top-left corner
    clip = write_clip(tmp_path / "r.mp4", frames, rotation=rotation)
    meta = probe(str(clip))
    got = sample_frames(str(clip), count=2, max_side=32, meta=meta, backend=backend)
    expected = np.rot90(frames[0], k=rotation // 90)  # counter-clockwise, as displayed
    assert got.frames.shape[1:3] == (expected.shape[0] // 2, expected.shape[1] // 2)
    small = expected[::2, ::2, 0] > 128
    assert (got.frames[0, ..., 0] > 128).mean() == pytest.approx(small.mean(), abs=0.05)
    ys, xs = np.nonzero(got.frames[0, ..., 0] > 128)
    ey, ex = np.nonzero(small)
    assert abs(ys.mean() - ey.mean()) < 3 and abs(xs.mean() - ex.mean()) < 3


@pytest.mark.parametrize("backend", ["decord", "pyav"])
def test_corrupt_clip_raises_decode_error(test_videos: Path, backend: str) -> None:
    from types import SimpleNamespace

    meta = SimpleNamespace(num_frames=10, fps=25.0, width=320, height=240, rotation=0)
    with pytest.raises(DecodeError, match=r"decoding failed|beyond"):
        sample_frames(str(test_videos / "corrupt_vp9_invalid_bitstream.webm"), count=2,
                      meta=meta, backend=backend)
    with pytest.raises(DecodeError, match="out of range"):
        sample_frames(str(test_videos / "mjpeg_dandi_stub_0.3s.avi"), indices=[0, 5])
