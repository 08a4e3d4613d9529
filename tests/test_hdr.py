"""HDR (HLG, PQ) and wide-gamut frames come out as their SDR BT.709 rendition (io/hdr.py via
decode_pyav.to_rgb); every other frame is swscale's rgb24, byte for byte.

Expected values, from the maths (io/hdr.py) on the fixtures' bands (make_media_fixtures.py):
- reference white, 203 nits (HLG 75 %, PQ 58 %): the BT.2390 EETF from a 1000-nit peak to 203
  nits gives 159 nits, 0.783 of SDR white, 255 * 0.783 ** (1 / 2.4) = 230. (With the 4000-nit
  mastering peak instead of MaxCLL it would be 128 nits: 210.)
- 18 % grey, 26 nits: below the knee (~92 nits), unchanged: 255 * (26 / 203) ** (1 / 2.4) = 108.
- the colour band is HDR_COLOUR's display light (66 nits at most, below the knee): it comes
  back as HDR_COLOUR, hue included.
- the 1000-nit peak lands on SDR white: 255.
Tolerance 4 levels: the fixtures are lossless, but swscale's 10-bit to 16-bit conversion is
off by up to 0.4 % of the signal (about 1 level here), plus rounding.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from types import SimpleNamespace

import av
import numpy as np
import pytest

from any2capins.config.sampling import DecodeSettings
from any2capins.io import hdr
from any2capins.io.decode_pyav import to_rgb
from any2capins.io.frames import sample_frames

sys.path.insert(0, str(Path(__file__).parent / "data"))

from make_media_fixtures import HDR_COLOUR, W, _hlg, hdr_bands_nits

HLG, PQ = "hevc_10bit_hlg_bt2020.mp4", "hevc_10bit_pq_maxcll.mkv"
WHITE, GREY, PEAK = 230, 108, 255
TOL = 4


def _bands(img: np.ndarray) -> np.ndarray:
    """Mean RGB [4, 3] of the four 24-pixel bands (2 pixels off each edge: chroma bleeds)."""
    band = W // 4
    return np.stack([img[:, k * band + 2: (k + 1) * band - 2].reshape(-1, 3).mean(0)
                     for k in range(4)])


def _first_frame(path: Path) -> av.VideoFrame:
    with av.open(str(path)) as c:
        return next(c.decode(video=0))


@pytest.mark.parametrize("name", [HLG, PQ])
def test_hdr_bands_come_out_as_their_sdr_rendition(test_videos: Path, name: str) -> None:
    got = sample_frames(str(test_videos / name), count=2)
    assert got.frames.dtype == np.uint8 and got.warnings == []
    for img in got.frames:
        white, grey, colour, peak = _bands(img)
        assert np.abs(white - WHITE).max() <= TOL and white.min() >= 220, white
        assert np.abs(grey - GREY).max() <= TOL, grey
        assert np.abs(colour - HDR_COLOUR).max() <= TOL, colour  # hue and level kept
        assert peak.min() >= PEAK - TOL and peak.min() > white.max() + 15, peak  # rolled off
        assert np.ptp(white) <= 1 and np.ptp(grey) <= 1  # neutral stays neutral


@pytest.mark.parametrize("name", [HLG, PQ])
def test_off_restores_the_plain_conversion(test_videos: Path, name: str) -> None:
    path = test_videos / name
    got = sample_frames(str(path), count=1000, settings=DecodeSettings(hdr="off"))
    with av.open(str(path)) as c:
        plain = np.stack([f.to_ndarray(format="rgb24") for f in c.decode(video=0)])
    assert np.array_equal(got.frames, plain)
    # ... which is what tone mapping fixes: PQ reference white came out at 146 of 255
    white = _bands(got.frames[0])[0]
    assert white.max() < 200


@pytest.mark.parametrize("name", ["h264_6frames.mp4", "av1_10bit.webm",
                                  "hevc_10bit_rot90_5frames.mp4", "h264_bframes.ts"])
@pytest.mark.parametrize("size", [None, (48, 32)])
def test_sdr_frames_are_swscale_rgb24_byte_for_byte(test_videos: Path, name: str,
                                                    size: tuple[int, int] | None) -> None:
    frame = _first_frame(test_videos / name)
    assert hdr.plan_for(frame) is None
    kw = {} if size is None else {"width": size[0], "height": size[1], "interpolation": "AREA"}
    want = frame.to_ndarray(format="rgb24", **kw)
    k = frame.rotation // 90 if frame.rotation else 0
    want = np.rot90(want, k=k) if k else want
    assert np.array_equal(to_rgb(frame, size), want)


def test_swscale_honours_the_bt2020_matrix_at_16_bits(test_videos: Path) -> None:
    """The rgb48le that io/hdr.py starts from is the fixture's R'G'B' (made in numpy with the
    BT.2020 matrix); BT.601 or BT.709 coefficients would be off by several percent."""
    rgb48 = _first_frame(test_videos / HLG).to_ndarray(format="rgb48le")
    got = _bands(rgb48.astype(np.float64) / 65535)
    assert np.abs(got - _hlg(hdr_bands_nits())).max() < 0.006


def test_pq_peak_is_read_from_maxcll_before_the_mastering_display(test_videos: Path) -> None:
    frame = _first_frame(test_videos / PQ)
    assert hdr.content_peak(frame) == 1000.0  # MaxCLL 1000; mastering display 4000
    plan = hdr.plan_for(frame)
    assert plan == hdr.HdrPlan("pq", hdr.PRI_BT2020, 1000.0)


class _SideData(bytes):
    """Stand-in for PyAV's side data: its bytes and a `type` with a name."""

    def __new__(cls, name: str, raw: bytes) -> _SideData:
        obj = super().__new__(cls, raw)
        obj.type = SimpleNamespace(name=name)  # type: ignore[attr-defined]
        return obj


def _mastering(max_nits: int, has_luminance: int = 1) -> bytes:
    rationals = np.zeros((10, 2), "<i4")
    rationals[:, 1] = 50000
    rationals[8] = (50, 10000)
    rationals[9] = (max_nits * 10000, 10000)
    return rationals.tobytes() + np.array([1, has_luminance], "<i4").tobytes()


@pytest.mark.parametrize(("side", "peak"), [
    ([], 1000.0),  # nothing: the default
    ([_SideData("MASTERING_DISPLAY_METADATA", _mastering(4000))], 4000.0),
    ([_SideData("MASTERING_DISPLAY_METADATA", _mastering(4000, has_luminance=0))], 1000.0),
    ([_SideData("CONTENT_LIGHT_LEVEL", np.array([600, 200], "<u4").tobytes()),
      _SideData("MASTERING_DISPLAY_METADATA", _mastering(4000))], 600.0),
    ([_SideData("CONTENT_LIGHT_LEVEL", np.array([80, 20], "<u4").tobytes())], 203.0),  # floor
    ([_SideData("CONTENT_LIGHT_LEVEL", b"\x01")], 1000.0),  # truncated: ignored
])
def test_content_peak_from_side_data(side: list[_SideData], peak: float) -> None:
    assert hdr.content_peak(SimpleNamespace(side_data=side)) == peak


@pytest.mark.parametrize(("tags", "want"), [
    ({}, None),  # no tags at all
    ({"color_trc": 2, "color_primaries": 2, "colorspace": 2}, None),  # unspecified
    ({"color_trc": 99, "color_primaries": 9}, None),  # unknown transfer
    ({"color_trc": "bogus", "color_primaries": 9}, None),  # not an int
    ({"color_trc": 1, "color_primaries": 1}, None),  # BT.709
    ({"color_trc": 14, "color_primaries": 2}, None),  # BT.2020 transfer, primaries unknown
    ({"color_trc": 14, "color_primaries": 9}, ("sdr-wide", 9)),
    ({"color_trc": 1, "color_primaries": 9}, ("sdr-wide", 9)),
    ({"color_trc": 18, "color_primaries": 2}, ("hlg", 9)),  # HDR untagged primaries: BT.2020
    ({"color_trc": 18, "color_primaries": 1}, ("hlg", 1)),
    ({"color_trc": 16, "color_primaries": 12}, ("pq", 12)),  # Display P3
])
def test_plan_from_colour_tags(tags: dict[str, object], want: tuple[str, int] | None) -> None:
    plan = hdr.plan_for(SimpleNamespace(**tags))
    assert (None if plan is None else (plan.kind, plan.primaries)) == want


def test_eetf_keeps_the_knee_and_lands_the_peak_on_the_target() -> None:
    nits = np.geomspace(0.01, 1000, 400)
    out = hdr.eetf(nits, 1000.0)
    assert np.all(np.diff(out) > 0)  # monotone: no banding inversions
    assert np.allclose(out[nits < 80], nits[nits < 80], rtol=1e-6)  # below the knee: as is
    assert out[-1] == pytest.approx(203.0, rel=1e-4) and out.max() <= 203.0 + 1e-3
    assert hdr.eetf(np.array([203.0]), 1000.0)[0] == pytest.approx(159.0, abs=1)
    # content that fits (peak 150 nits) is left as is; anything above 203 nits is capped
    assert np.array_equal(hdr.eetf(np.array([50.0, 300.0]), 150.0), [50.0, 203.0])


def test_gamut_conversion_keeps_neutrals_and_fits_colours_outside_bt709() -> None:
    m = hdr._primaries_matrix(hdr.PRI_BT2020)
    assert np.allclose(m.sum(axis=1), 1, atol=1e-4)  # white stays white
    # SDR BT.2020: a grey is the same grey. BT.2020's pure green is (-0.59, 1.13, -0.10) in
    # BT.709: moved towards its luminance (0.678) until red reaches 0, it is linear
    # (0, 0.92, 0.26), codes (0, 246, 146): in range, as green as BT.709 can show, its
    # luminance kept (channels clipped one by one would give (0, 255, 0), luminance 0.72)
    code = np.array([[[26214] * 3, [0, 65535, 0]]], np.uint16)  # 40 % grey, 2020 green
    out = hdr.convert(code, hdr.HdrPlan("sdr-wide", hdr.PRI_BT2020))
    assert out[0, 0].tolist() == [102, 102, 102]
    assert np.abs(out[0, 1].astype(int) - [0, 246, 146]).max() <= 2, out[0, 1]
    lum709 = ((out[0, 1] / 255.0) ** 2.4) @ hdr.LUMA_709
    assert lum709 == pytest.approx(0.678, abs=0.03)  # BT.2020 green's luminance


def test_one_log_line_per_clip_says_what_was_done(test_videos: Path,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="any2capins.io.decode_pyav"):
        sample_frames(str(test_videos / HLG), count=3)
        sample_frames(str(test_videos / "h264_6frames.mp4"), count=3)
        sample_frames(str(test_videos / HLG), count=3, settings=DecodeSettings(hdr="off"))
    said = [r.getMessage() for r in caplog.records]
    assert len(said) == 1 and "HLG BT.2020 tone-mapped to SDR BT.709" in said[0], said


def test_tables_match_the_formulas() -> None:
    """The square-root grids stand in for the curves: within one output level, and the tone
    factor within 0.2 % (a fraction of a level)."""
    rng = np.random.default_rng(0)
    linear = np.concatenate([rng.random(20000), rng.random(20000) ** 6]).astype(np.float32)
    exact = np.floor(linear.astype(np.float64) ** (1 / 2.4) * 255 + 0.5)
    got = hdr._encode_lut()[hdr._grid_index(linear, 1.0)]
    assert np.abs(got - exact).max() <= 1 and np.mean(got != exact) < 0.01
    nits = rng.random(20000) * 1000 + 0.01
    want = hdr.eetf(nits, 1000.0) / nits / 203
    table = hdr._tone_lut(1000.0)[hdr._grid_index(nits.astype(np.float32), 1 / 10000)]
    assert np.abs(table / want - 1).max() < 2e-3


def test_the_run_decode_setting_reaches_the_caption_frames(tmp_path) -> None:
    """Captions read frames through the runtime: `decode:` (hdr included) is part of the
    fingerprint of every stage that reads frames when it differs from its defaults (the frames
    sent differ), and the default adds nothing."""
    from any2capins.captions.writers import SectionsStage
    from any2capins.config.captions import CaptionsConfig
    from any2capins.config.sampling import DecodeSettings
    from any2capins.runtime.runner import fingerprint

    stage = SectionsStage(CaptionsConfig(), str(tmp_path))
    assert fingerprint(stage, DecodeSettings(hdr="off"))["decode"] == {"hdr": "off"}
    assert fingerprint(stage, DecodeSettings()) == stage.fingerprint()
    assert "decode" not in fingerprint(stage, DecodeSettings(threads=4))
