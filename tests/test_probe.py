"""Probe: the stream rule (shared with the sampler), frame counts from what the file holds
rather than its headers, display sizes, decoder words on failure."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import pyav_facts

from any2capins.errors import DecodeError
from any2capins.io.frames import sample_frames
from any2capins.io.probe import probe

# name -> (num_frames, (display w, h), rotation, stream_index, has_audio)
EXPECTED = {
    "h264_bframes_gaps.avi": (24, (96, 64), 0, 0, False),
    "av1_10bit.webm": (20, (96, 64), 0, 0, False),
    "hevc_10bit_rot90_5frames.mp4": (5, (64, 96), 90, 0, False),
    "hevc_10bit_hdr10_bt2020.mkv": (6, (96, 64), 0, 0, False),
    "h264_header_overstates_frames.avi": (20, (96, 64), 0, 0, False),  # header says 60
    "h264_damaged_nal.mp4": (30, (96, 64), 0, 0, False),
    "two_video_streams_small_first.mp4": (10, (192, 128), 0, 1, True),
    "h264_with_cover_art.mp4": (5, (96, 64), 0, 0, False),
    "h264_6frames.mp4": (6, (96, 64), 0, 0, False),
    "h264_1frame.mp4": (1, (96, 64), 0, 0, False),
    "h264_rot90.mp4": (10, (64, 96), 90, 0, False),
    "h264_vfr.mkv": (16, (96, 64), 0, 0, False),
    "h264_delayed_start.mp4": (10, (96, 64), 0, 0, False),
    "h264_bframes.ts": (72, (96, 64), 0, 0, False),
    "h264_resolution_change.mkv": (20, (96, 64), 0, 0, False),  # 192x128 from frame 10
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_probe_each_media_class(test_videos: Path, name: str) -> None:
    n, (w, h), rotation, stream, audio = EXPECTED[name]
    p = probe(str(test_videos / name))
    assert (p.num_frames, p.width, p.height, p.rotation) == (n, w, h, rotation)
    assert (p.stream_index, p.has_audio, p.backend) == (stream, audio, "pyav")
    assert p.duration_s > 0 and p.fps > 0


def test_header_lies_are_not_believed(test_videos: Path) -> None:
    import av

    path = test_videos / "h264_header_overstates_frames.avi"
    with av.open(str(path)) as c:
        assert c.streams.video[0].frames == 60  # what the header claims
    p = probe(str(path))
    assert p.num_frames == 20 and p.duration_s == pytest.approx(2.0)


def test_probe_and_sampler_agree_on_the_stream(test_videos: Path) -> None:
    path = str(test_videos / "two_video_streams_small_first.mp4")
    p = probe(path)
    got = sample_frames(path, count=3, meta=p)
    assert got.source_size == (p.width, p.height) == (192, 128)


def test_vfr_fps_is_the_average_over_the_clip(test_videos: Path) -> None:
    p = probe(str(test_videos / "h264_vfr.mkv"))
    assert p.fps == pytest.approx(p.num_frames / p.duration_s)
    assert p.duration_s == pytest.approx(1.534, abs=0.01)


@pytest.mark.parametrize("name", ["people_bedroom_kids_jumping.mp4", "vp9_bear.webm",
                                  "people_his_girl_friday_pd.mp4", "vp8_flower_cc0.webm"])
def test_probe_matches_a_full_pyav_decode(example_clips: Path, name: str) -> None:
    path = example_clips / name
    ref = pyav_facts(path)
    p = probe(str(path))
    assert p.num_frames == ref["num_frames"]
    assert (p.width, p.height, p.codec, p.has_audio) == (ref["width"], ref["height"],
                                                          ref["codec"], ref["has_audio"])


def test_probe_does_not_count_as_a_decode_open(
        test_videos: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    log = tmp_path / "opens.log"
    monkeypatch.setenv("ANY2CAPINS_DECODE_LOG", str(log))
    probe(str(test_videos / "h264_6frames.mp4"))
    assert not log.exists()


def test_undecodable_files_fail_with_the_decoders_words(test_videos: Path,
                                                        tmp_path: Path) -> None:
    with pytest.raises(DecodeError, match=r"cannot decode video.*Invalid data found"):
        probe(str(test_videos / "corrupt_vp9_invalid_bitstream.webm"))
    text = tmp_path / "notes.mp4"
    text.write_bytes(b"not a video\n" * 50)
    with pytest.raises(DecodeError, match="cannot open video"):
        probe(str(text))


def test_one_frame_rate_rule(test_videos: Path) -> None:
    """Where timestamps cannot say (a one-frame clip), the stream's rate decides, through one
    function; a stream that states no rate at all gets FFmpeg's raw-stream default."""
    from types import SimpleNamespace

    import av

    from any2capins.io.streams import FALLBACK_FPS, frame_rate, pick_stream

    path = str(test_videos / "h264_1frame.mp4")
    got = probe(path)
    with av.open(path) as c:
        rate = frame_rate(pick_stream(c))
    assert got.num_frames == 1 and got.fps == pytest.approx(rate, rel=1e-4)
    assert got.duration_s == pytest.approx(1 / rate, rel=1e-4)  # the frame lasts one period
    silent = SimpleNamespace(average_rate=None, guessed_rate=None, base_rate=None)
    assert frame_rate(silent) == FALLBACK_FPS == 25.0
