"""Generate the media-class fixtures under tests/data/videos/ (CC0, made here with PyAV).

    .venv/bin/python tests/data/make_media_fixtures.py [OUT_DIR]

Deterministic: fixed content, single-threaded encoders, fixed options (the bytes depend only on
the FFmpeg/x264/x265/libvpx build that PyAV ships). Every frame is self-describing: the left
half is a flat colour (`FLAT`, checks colour conversion), the right half a grey level
`code_level(i)` for source frame i (tests read the frame number back from the pixels).
Each file stands for one class of real-world input the sampler must survive (see `FIXTURES`
and docs/media.md).
"""

from __future__ import annotations

import struct
import sys
from collections.abc import Callable, Iterable
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

FLAT = (200, 60, 30)  # RGB of every frame's left half
W, H = 96, 64
BITEXACT = {"fflags": "+bitexact"}  # no random segment ids or dates (Matroska)
X264 = "threads=1:keyint=12:min-keyint=12:scenecut=0:bframes=2"


def code_level(i: int) -> int:
    """Grey level of source frame i's right half (16, 23, ... up to 36 frames)."""
    return 16 + 6 * i


def frame_number(img: np.ndarray) -> int:
    """Source frame number read back from a decoded RGB frame (stored or rotated: the grey half
    is the one whose channels agree)."""
    h, w = img.shape[:2]
    halves = [img[:, w // 2 + 2:], img[:, : w // 2 - 2], img[h // 2 + 2:], img[: h // 2 - 2]]
    grey = min(halves, key=lambda a: float(np.ptp(a.reshape(-1, 3).mean(0))))
    return round((float(grey.mean()) - 16) / 6)


def make_frame(i: int, w: int = W, h: int = H, flat: tuple[int, int, int] = FLAT) -> np.ndarray:
    img = np.empty((h, w, 3), np.uint8)
    img[:, : w // 2] = flat
    img[:, w // 2:] = code_level(i)
    return img


def _encode(path: Path, codec: str, frames: Iterable[tuple[np.ndarray, int]], *, rate: int = 10,
            time_base: Fraction | None = None, pix_fmt: str = "yuv420p",
            options: dict[str, str] | None = None, rotation: int = 0) -> Path:
    """Encode (image, pts) pairs into one video stream of `path`."""
    import av

    frames = list(frames)
    with av.open(str(path), "w", options=BITEXACT) as c:
        s = c.add_stream(codec, rate=rate, options=options or {})
        s.width, s.height = frames[0][0].shape[1], frames[0][0].shape[0]
        s.pix_fmt = pix_fmt
        tb = time_base or Fraction(1, rate)
        s.codec_context.time_base = tb
        if rotation:
            s.set_display_rotation(rotation)
        for img, pts in frames:
            f = av.VideoFrame.from_ndarray(img, format="rgb24")
            f.pts, f.time_base = pts, tb
            for p in s.encode(f):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    return path


def _x264(**extra: str) -> dict[str, str]:
    return {"crf": "30", "x264-params": X264, "preset": "fast", **extra}


def bframes_gaps_avi(out: Path) -> Path:
    """H.264 with B-frames in AVI (no pts in the container: decode-order times) with two gaps
    in the timestamps (frames 4 and 9 of the timeline missing): 24 frames."""
    pts = [t for t in range(26) if t not in (4, 9)]
    return _encode(out / "h264_bframes_gaps.avi", "libx264",
                   ((make_frame(i), t) for i, t in enumerate(pts)), options=_x264())


def av1_10bit_webm(out: Path) -> Path:
    """AV1 10-bit (yuv420p10le) in WebM: 20 frames. (VP9 profile 2 would be the browser
    class, but the libvpx in PyAV's wheels is built without high bit depth.)"""
    return _encode(out / "av1_10bit.webm", "libsvtav1",
                   ((make_frame(i), i) for i in range(20)), pix_fmt="yuv420p10le",
                   options={"crf": "35", "preset": "12", "svtav1-params": "lp=1:keyint=10"})


def hevc_10bit_rotated_tiny(out: Path) -> Path:
    """HEVC Main10 in MP4 with a 90 degree display rotation, 5 frames (the phone-clip class)."""
    opts = {"crf": "30", "x265-params": "pools=1:frame-threads=1:log-level=none:bframes=2"}
    return _encode(out / "hevc_10bit_rot90_5frames.mp4", "libx265",
                   ((make_frame(i), i) for i in range(5)), pix_fmt="yuv420p10le",
                   options=opts, rotation=90)


def hdr10_hevc_mkv(out: Path) -> Path:
    """HEVC Main10 in Matroska tagged HDR10 (BT.2020 matrix and primaries, PQ transfer, limited
    range), 6 frames; the YUV was made with the BT.2020 matrix, so only a decoder that honours
    the tag gets FLAT back (BT.601 would be ~6 levels off)."""
    import av
    from av.video.reformatter import Colorspace

    tags = (9, 9, 16, 1)  # AVCOL_SPC_BT2020_NCL, AVCOL_PRI_BT2020, AVCOL_TRC_SMPTE2084, MPEG
    path = out / "hevc_10bit_hdr10_bt2020.mkv"
    with av.open(str(path), "w", options=BITEXACT) as c:
        s = c.add_stream("libx265", rate=10, options={
            "crf": "30", "x265-params": "pools=1:frame-threads=1:log-level=none"})
        s.width, s.height, s.pix_fmt = W, H, "yuv420p10le"
        cc = s.codec_context
        cc.colorspace, cc.color_primaries, cc.color_trc, cc.color_range = tags
        for i in range(6):
            rgb = av.VideoFrame.from_ndarray(make_frame(i), format="rgb24")
            f = rgb.reformat(format="yuv420p10le", dst_colorspace=Colorspace.BT2020)
            f.pts, f.time_base = i, Fraction(1, 10)
            f.colorspace, f.color_primaries, f.color_trc, f.color_range = tags
            for p in s.encode(f):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    return path


# HDR fixtures: four 24-pixel bands of known display light (BT.2408 levels), in BT.2020
HDR_WHITE_NITS, HDR_GREY_NITS, HDR_PEAK_NITS = 203.0, 26.0, 1000.0
HDR_COLOUR = (160, 60, 30)  # BT.709 SDR code values of the third band (gamma 2.4, 1.0 = 203 nits)
HDR_MAX_CLL, HDR_MASTERING_NITS = 1000, 4000  # side data of the PQ fixture
# BT.2087: linear BT.709 RGB -> linear BT.2020 RGB
BT709_TO_BT2020 = np.array([[0.6274, 0.3293, 0.0433], [0.0691, 0.9195, 0.0114],
                            [0.0164, 0.0880, 0.8956]])


def _pq(nits: np.ndarray) -> np.ndarray:
    """SMPTE ST 2084 inverse EOTF: nits -> PQ signal."""
    m1, m2, c1, c2, c3 = 0.1593017578125, 78.84375, 0.8359375, 18.8515625, 18.6875
    y = (np.asarray(nits, np.float64) / 10000) ** m1
    return ((c1 + c2 * y) / (1 + c3 * y)) ** m2


def _hlg(nits: np.ndarray) -> np.ndarray:
    """BT.2100 HLG for a 1000-nit display: display light (nits, BT.2020) -> HLG signal (the
    inverse OOTF, gamma 1.2, then the ARIB STD-B67 OETF)."""
    rgb = np.asarray(nits, np.float64) / 1000
    yd = rgb @ np.array([0.2627, 0.6780, 0.0593])
    ys = np.maximum(yd, 1e-9) ** (1 / 1.2)
    e = rgb / np.maximum(ys, 1e-9)[..., None] ** 0.2
    a = 0.17883277
    b, c = 1 - 4 * a, 0.5 - a * np.log(4 * a)
    return np.where(e <= 1 / 12, np.sqrt(3 * e), a * np.log(np.maximum(12 * e - b, 1e-9)) + c)


def hdr_bands_nits() -> np.ndarray:
    """Display light (nits, linear BT.2020 RGB) of the four bands: reference white, 18 % grey,
    `HDR_COLOUR`, the 1000-nit peak."""
    colour = BT709_TO_BT2020 @ ((np.array(HDR_COLOUR) / 255) ** 2.4 * HDR_WHITE_NITS)
    return np.array([[HDR_WHITE_NITS] * 3, [HDR_GREY_NITS] * 3, colour, [HDR_PEAK_NITS] * 3])


def _yuv2020(signal: np.ndarray) -> Any:
    """10-bit limited-range BT.2020 (non-constant luminance) 4:2:0 frame, W x H, whose four
    24-pixel bands have the non-linear R'G'B' `signal` [4, 3] (made here, not by swscale, so
    the decoder's matrix is checked against the standard's numbers)."""
    import av

    r, g, b = signal.T
    y = 0.2627 * r + 0.6780 * g + 0.0593 * b
    planes = [64 + 876 * y, 512 + 896 * (b - y) / 1.8814, 512 + 896 * (r - y) / 1.4746]
    band = W // 4
    full = [np.repeat(np.round(p), band)[None].repeat(H, 0).astype(np.uint16) for p in planes]
    data = np.concatenate([full[0].ravel(), full[1][::2, ::2].ravel(), full[2][::2, ::2].ravel()])
    return av.VideoFrame.from_ndarray(data.reshape(H * 3 // 2, W), format="yuv420p10le")


def _hdr_clip(path: Path, tags: tuple[int, int, int, int], signal: np.ndarray,
              x265: str = "") -> Path:
    """Three frames of the HDR bands, HEVC Main10 (lossless: the test checks the pipeline, not
    the codec), colour-tagged `tags` (matrix, primaries, transfer, range)."""
    import av

    with av.open(str(path), "w", options=BITEXACT) as c:
        s = c.add_stream("libx265", rate=10, options={"x265-params": (
            "pools=1:frame-threads=1:log-level=none:info=0:lossless=1" + x265)})
        s.width, s.height, s.pix_fmt = W, H, "yuv420p10le"
        cc = s.codec_context
        cc.colorspace, cc.color_primaries, cc.color_trc, cc.color_range = tags
        for i in range(3):
            f = _yuv2020(signal)
            f.pts, f.time_base = i, Fraction(1, 10)
            f.colorspace, f.color_primaries, f.color_trc, f.color_range = tags
            for p in s.encode(f):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    return path


def hlg_hevc_mp4(out: Path) -> Path:
    """HEVC Main10 MP4 tagged HLG (ARIB STD-B67, BT.2020 primaries and matrix, limited range),
    the iPhone default: the bands at HLG 75 % (reference white), ~38 % (grey), a colour, 100 %."""
    tags = (9, 9, 18, 1)  # AVCOL_SPC_BT2020_NCL, AVCOL_PRI_BT2020, AVCOL_TRC_ARIB_STD_B67, MPEG
    return _hdr_clip(out / "hevc_10bit_hlg_bt2020.mp4", tags, _hlg(hdr_bands_nits()))


def pq_hevc_mkv(out: Path) -> Path:
    """HEVC Main10 Matroska tagged HDR10 (PQ, BT.2020, limited range) with MaxCLL 1000 and a
    4000-nit mastering display in the bitstream: the bands at PQ 58 % (203 nits), 38 %, a
    colour, 75 % (1000 nits)."""
    tags = (9, 9, 16, 1)  # AVCOL_SPC_BT2020_NCL, AVCOL_PRI_BT2020, AVCOL_TRC_SMPTE2084, MPEG
    sei = (":master-display=G(8500,39850)B(6550,2300)R(35400,14600)WP(15635,16450)"
           f"L({HDR_MASTERING_NITS * 10000},50):max-cll={HDR_MAX_CLL},400")
    return _hdr_clip(out / "hevc_10bit_pq_maxcll.mkv", tags, _pq(hdr_bands_nits()), sei)


def overstated_header_avi(out: Path) -> Path:
    """H.264 (no B-frames) in AVI, 20 frames, whose headers claim 60 (avih total frames and
    the stream's strh length patched)."""
    path = _encode(out / "h264_header_overstates_frames.avi", "libx264",
                   ((make_frame(i), i) for i in range(20)),
                   options=_x264(**{"x264-params": X264.replace("bframes=2", "bframes=0")}))
    data = bytearray(path.read_bytes())
    avih = data.index(b"avih") + 8
    struct.pack_into("<I", data, avih + 16, 60)  # dwTotalFrames
    strh = data.index(b"strh") + 8
    struct.pack_into("<I", data, strh + 32, 60)  # dwLength
    path.write_bytes(bytes(data))
    return path


def damaged_nal_mp4(out: Path) -> Path:
    """H.264 MP4, 30 frames, whose 16th frame (in decode order) has a NAL length prefix
    overwritten so the decoder rejects the packet: 29 of 30 frames decode."""
    import av

    path = _encode(out / "h264_damaged_nal.mp4", "libx264",
                   ((make_frame(i), i) for i in range(30)),
                   options=_x264(**{"x264-params": X264.replace("keyint=12:min-keyint=12",
                                                                "keyint=30:min-keyint=30")}))
    with av.open(str(path)) as c:
        packets = [(p.pos, p.size) for p in c.demux(video=0) if p.size]
    pos, _size = packets[15]
    data = bytearray(path.read_bytes())
    struct.pack_into(">I", data, pos, 0x7FFFFF00)  # first NAL's 4-byte length: absurd
    path.write_bytes(bytes(data))
    return path


def two_video_streams_mp4(out: Path) -> Path:
    """MP4 with two video streams, both marked default, the smaller (96x64, green-ish left
    half) first and the larger (192x128, FLAT) second, plus an AAC audio stream: 10 frames
    each."""
    import av

    path = out / "two_video_streams_small_first.mp4"
    with av.open(str(path), "w", options=BITEXACT) as c:
        small = c.add_stream("libx264", rate=10, options=_x264())
        large = c.add_stream("libx264", rate=10, options=_x264())
        audio = c.add_stream("aac", rate=8000)
        for s, (w, h) in ((small, (W, H)), (large, (2 * W, 2 * H))):
            s.width, s.height, s.pix_fmt = w, h, "yuv420p"
            # both default: the resolution part of the stream rule decides, not the flag
            s.disposition = av.stream.Disposition.default
        for i in range(10):
            for s, img in ((small, make_frame(i, flat=(30, 200, 60))),
                           (large, make_frame(i, 2 * W, 2 * H))):
                f = av.VideoFrame.from_ndarray(img, format="rgb24")
                f.pts, f.time_base = i, Fraction(1, 10)
                for p in s.encode(f):
                    c.mux(p)
        _silence(c, audio)
        for s in (small, large):
            for p in s.encode():
                c.mux(p)
    return path


def cover_art_mp4(out: Path) -> Path:
    """H.264 MP4 (96x64, 5 frames) with cover art: a larger (320x240) MJPEG attached picture,
    which is a video stream to FFmpeg but never the clip's video."""
    import av

    path = out / "h264_with_cover_art.mp4"
    with av.open(str(path), "w", options=BITEXACT) as c:
        v = c.add_stream("libx264", rate=10, options=_x264())
        v.width, v.height, v.pix_fmt = W, H, "yuv420p"
        cover = c.add_stream("mjpeg", rate=1)
        cover.width, cover.height, cover.pix_fmt = 320, 240, "yuvj420p"
        cover.disposition = av.stream.Disposition.attached_pic
        art = av.VideoFrame.from_ndarray(np.full((240, 320, 3), 128, np.uint8), format="rgb24")
        art.pts = 0
        for p in [*cover.encode(art), *cover.encode()]:
            c.mux(p)
        for i in range(5):
            f = av.VideoFrame.from_ndarray(make_frame(i), format="rgb24")
            f.pts, f.time_base = i, Fraction(1, 10)
            for p in v.encode(f):
                c.mux(p)
        for p in v.encode():
            c.mux(p)
    return path


def _silence(c: object, audio: object) -> None:
    import av

    samples = np.zeros((1, 8000), np.float32)
    f = av.AudioFrame.from_ndarray(samples, format="fltp", layout="mono")
    f.sample_rate, f.pts = 8000, 0
    for p in [*audio.encode(f), *audio.encode()]:  # type: ignore[attr-defined]
        c.mux(p)  # type: ignore[attr-defined]


def few_frames(out: Path, n: int) -> Path:
    """A clip of only `n` frames (H.264 MP4)."""
    name = f"h264_{n}frame{'s' if n > 1 else ''}.mp4"
    return _encode(out / name, "libx264", ((make_frame(i), i) for i in range(n)),
                   options=_x264())


def rotated_mp4(out: Path) -> Path:
    """H.264 MP4 stored 96x64 with a 90 degree (counter-clockwise) display rotation, 10 frames,
    and a white 16x16 block in the stored top-left corner."""
    def img(i: int) -> np.ndarray:
        f = make_frame(i)
        f[:16, :16] = 255
        return f

    return _encode(out / "h264_rot90.mp4", "libx264", ((img(i), i) for i in range(10)),
                   options=_x264(), rotation=90)


VFR_MS = [0, 33, 67, 100, 133, 167, 200, 400, 600, 800, 1000, 1033, 1067, 1100, 1133, 1500]


def vfr_mkv(out: Path) -> Path:
    """H.264 in Matroska (1 ms time base) with variable frame rate: 30 fps, then 5 fps, then
    30 fps, then a 367 ms pause (`VFR_MS`): 16 frames."""
    return _encode(out / "h264_vfr.mkv", "libx264",
                   ((make_frame(i), t) for i, t in enumerate(VFR_MS)), rate=30,
                   time_base=Fraction(1, 1000), options=_x264())


def delayed_start_mp4(out: Path) -> Path:
    """H.264 MP4 whose first frame is presented at 0.5 s (an edit list in the file): 10 frames
    at 10 fps from 0.5 s to 1.4 s."""
    return _encode(out / "h264_delayed_start.mp4", "libx264",
                   ((make_frame(i), 5 + i) for i in range(10)), options=_x264())


def mpegts_bframes(out: Path) -> Path:
    """H.264 with B-frames in MPEG-TS (the broadcast class), 72 frames at 25 fps in GOPs of 12,
    grey code cycling every 36 frames. Its demuxer indexes by decode time: a seek to a
    keyframe's pts lands one GOP late."""
    return _encode(out / "h264_bframes.ts", "libx264",
                   ((make_frame(i % 36), i) for i in range(72)), rate=25, options=_x264())


def resolution_change_mkv(out: Path) -> Path:
    """H.264 in Matroska whose resolution changes mid-stream (a splice, an adaptive-bitrate or
    WebRTC recording): frames 0-9 at 96x64, then 10-19 at 192x128 (in-band SPS), 10 fps. The
    container and the probe say 96x64."""
    import io

    import av

    raw = io.BytesIO()
    for k, (w, h) in enumerate([(W, H), (2 * W, 2 * H)]):
        seg = io.BytesIO()
        with av.open(seg, "w", format="h264") as c:
            s = c.add_stream("libx264", rate=10, options=_x264(
                **{"x264-params": "threads=1:keyint=10:min-keyint=10:scenecut=0:bframes=0"}))
            s.width, s.height, s.pix_fmt = w, h, "yuv420p"
            for i in range(10):
                for pkt in s.encode(av.VideoFrame.from_ndarray(make_frame(10 * k + i, w, h),
                                                               format="rgb24")):
                    c.mux(pkt)
            for pkt in s.encode():
                c.mux(pkt)
        raw.write(seg.getvalue())
    raw.seek(0)
    path = out / "h264_resolution_change.mkv"
    with av.open(raw, format="h264") as src, av.open(str(path), "w", options=BITEXACT) as dst:
        vin = src.streams.video[0]
        vout = dst.add_stream_from_template(vin)
        k = 0
        for pkt in src.demux(vin):
            if pkt.size == 0:
                continue
            pkt.stream, pkt.time_base = vout, Fraction(1, 10)
            pkt.pts = pkt.dts = k
            k += 1
            dst.mux(pkt)
    return path


BUILDERS: list[Callable[[Path], Path]] = [
    bframes_gaps_avi, av1_10bit_webm, hevc_10bit_rotated_tiny, hdr10_hevc_mkv,
    overstated_header_avi, damaged_nal_mp4, two_video_streams_mp4, cover_art_mp4,
    lambda o: few_frames(o, 6), lambda o: few_frames(o, 1), rotated_mp4, vfr_mkv,
    delayed_start_mp4, mpegts_bframes, hlg_hevc_mp4, pq_hevc_mkv, resolution_change_mkv,
]


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for build in BUILDERS:
        path = build(out)
        print(f"{path.name}: {path.stat().st_size} bytes")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent / "videos")
