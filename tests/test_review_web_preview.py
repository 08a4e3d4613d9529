"""Browser previews (io/preview.py): H.264 yuv420p MP4, <= 480 px and even, moov first, made
from the project's frame sampler (span, rotation, HDR tone mapping, presentation times), and
the `review previews` command that makes them ahead."""

from __future__ import annotations

import json
import shutil

import av
import numpy as np
import pytest
from review_web_helpers import SELFIE, build_web_run, probe_record

from any2capins.cli import main
from any2capins.config.sampling import DecodeSettings
from any2capins.io import preview as preview_mod
from any2capins.io.frames import sample_frames
from any2capins.io.preview import even_size, make_preview, read_info, write_preview
from any2capins.review.web.media import run_decode_settings

BEDROOM = SELFIE.parent / "people_bedroom_kids_jumping.mp4"
BEAR = SELFIE.parent / "vp9_bear.webm"


def _decode(path) -> tuple[av.video.stream.VideoStream, list[float], list[np.ndarray]]:
    with av.open(str(path)) as c:
        stream = c.streams.video[0]
        frames = list(c.decode(video=0))
        info = (stream.codec_context.name, stream.codec_context.pix_fmt,
                stream.codec_context.profile, stream.width, stream.height)
        return info, [float(f.pts * f.time_base) for f in frames], [
            f.to_ndarray(format="rgb24") for f in frames]


def _atoms(path) -> list[str]:
    data, out, pos = path.read_bytes(), [], 0
    while pos + 8 <= len(data):
        size = int.from_bytes(data[pos:pos + 4], "big")
        out.append(data[pos + 4:pos + 8].decode("latin-1"))
        if size < 8:
            break
        pos += size
    return out


def _span_clip(test_videos, name, clip_id, **span):
    path = test_videos / name if (test_videos / name).exists() else SELFIE.parent / name
    clip = probe_record(path, clip_id, **span)
    if span:
        frames = sample_frames(str(path), fps=1000, meta=clip)  # every frame of the span
        clip = clip.model_copy(update={"num_frames": len(frames.indices),
                                       "duration_s": span["span_end_s"] - span["span_start_s"]})
    return clip


def test_span_preview_is_h264_yuv420p_480p_moov_first_and_starts_at_the_span(tmp_path,
                                                                              test_videos):
    clip = _span_clip(test_videos, BEDROOM.name, "bedroom", span_start_s=2.0, span_end_s=4.0)
    out = tmp_path / "previews" / "bedroom.mp4"
    info = make_preview(clip, None, str(out))
    assert (info.width, info.height, info.frames) == (480, 270, clip.num_frames)
    assert info.time_offset == pytest.approx(2.0, abs=1 / 30)
    assert read_info(str(out)) == info  # the sidecar says what was made
    (codec, pix_fmt, profile, w, h), times, frames = _decode(out)
    assert (codec, pix_fmt, profile, w, h) == ("h264", "yuv420p", "Main", 480, 270)
    atoms = _atoms(out)
    assert atoms.index("moov") < atoms.index("mdat")  # plays before it is fully loaded
    assert times[0] == 0.0 and len(times) == clip.num_frames

    sampled = sample_frames(str(BEDROOM), indices=[0], max_side=480, meta=clip)
    assert sampled.timestamps[0] == pytest.approx(info.time_offset)
    file_start = sample_frames(str(BEDROOM), indices=[0], max_side=480)
    near = np.abs(frames[0].astype(int) - sampled.frames[0]).mean()
    far = np.abs(frames[0].astype(int) - file_start.frames[0]).mean()
    assert near < 6 and far > 2 * near  # the span's first frame, not the file's


def test_rotation_hdr_tonemap_and_variable_frame_rate_follow_the_sampler(tmp_path,
                                                                         test_videos):
    rot = probe_record(test_videos / "h264_rot90.mp4", "rot")
    info = make_preview(rot, None, str(tmp_path / "rot.mp4"))
    assert (info.width, info.height) == (64, 96)  # display orientation

    hlg = probe_record(test_videos / "hevc_10bit_hlg_bt2020.mp4", "hlg")
    make_preview(hlg, None, str(tmp_path / "hlg.mp4"))
    _, _, frames = _decode(tmp_path / "hlg.mp4")
    mapped = sample_frames(hlg.uri, indices=[0], meta=hlg).frames[0].astype(int)
    plain = sample_frames(hlg.uri, indices=[0], meta=hlg,
                          settings=DecodeSettings(hdr="off")).frames[0].astype(int)
    assert np.abs(frames[0] - mapped).mean() < 4 < np.abs(frames[0] - plain).mean()

    vfr = probe_record(test_videos / "h264_vfr.mkv", "vfr")
    info = make_preview(vfr, None, str(tmp_path / "vfr.mp4"))
    _, times, _ = _decode(tmp_path / "vfr.mp4")
    source = sample_frames(vfr.uri, fps=1000, meta=vfr).timestamps
    assert times == pytest.approx([t - source[0] for t in source], abs=2e-5)
    assert len(set(np.round(np.diff(times), 3))) > 1  # the rate really varies

    late = probe_record(test_videos / "h264_delayed_start.mp4", "late")
    assert make_preview(late, None, str(tmp_path / "late.mp4")).time_offset == pytest.approx(0.5)


def test_frame_rate_cap_chunks_and_sizes(tmp_path, monkeypatch):
    bear = probe_record(BEAR, "bear")
    whole = make_preview(bear, None, str(tmp_path / "whole.mp4"))
    _, whole_times, _ = _decode(tmp_path / "whole.mp4")
    monkeypatch.setattr(preview_mod, "CHUNK_FRAMES", 7)
    chunked = make_preview(bear, None, str(tmp_path / "chunked.mp4"))
    _, chunked_times, _ = _decode(tmp_path / "chunked.mp4")
    assert chunked.frames == whole.frames == bear.num_frames
    assert chunked_times == whole_times

    capped = make_preview(bear, None, str(tmp_path / "capped.mp4"), max_fps=15)
    assert capped.frames == (bear.num_frames + 1) // 2
    assert capped.fps == pytest.approx(bear.fps / 2)

    assert even_size(1000, 601, 480) == (480, 288)
    assert even_size(101, 75, 480) == (100, 74)
    rng = np.random.default_rng(0)
    odd = write_preview((rng.integers(0, 255, (75, 101, 3), dtype=np.uint8) for _ in range(3)),
                        25.0, str(tmp_path / "odd.mp4"))
    assert (odd.width, odd.height, odd.frames) == (100, 74, 3)
    with pytest.raises(ValueError, match="no frames"):
        write_preview(iter(()), 25.0, str(tmp_path / "none.mp4"))
    assert not (tmp_path / "none.mp4").exists()
    assert not list(tmp_path.glob("*.tmp-*"))  # failed writes leave nothing behind


def test_decode_settings_come_from_run_json(tmp_path):
    assert run_decode_settings(str(tmp_path)) == DecodeSettings()
    (tmp_path / "run.json").write_text(json.dumps({"config": {"decode": {"hdr": "off",
                                                                         "threads": 1}}}))
    assert run_decode_settings(str(tmp_path)) == DecodeSettings(hdr="off", threads=1)


def test_review_previews_command_makes_them_ahead_and_names_failures(tmp_path, capsys):
    good = probe_record(SELFIE, "selfie0000000001")
    broken_file = tmp_path / "broken.mp4"
    broken_file.write_text("not a video")
    broken = good.model_copy(update={"clip_id": "broken000000001", "uri": str(broken_file)})
    web = build_web_run(tmp_path / "run", [good, broken], conditions=False)
    assert main(["review", "previews", "--run", str(web.run)]) == 1
    out = capsys.readouterr()
    assert "previews: 1 made, 0 already there, 1 failed" in out.out
    assert "no preview for clip broken000000001" in out.err
    assert (web.run / "review" / "previews" / "selfie0000000001.mp4").is_file()
    shutil.copy(SELFIE, broken_file)  # fixed: the next run makes it, keeps the other
    assert main(["review", "previews", "--run", str(web.run)]) == 0
    assert "previews: 1 made, 1 already there, 0 failed" in capsys.readouterr().out
