"""HDR (PQ / HLG) and wide-gamut SDR frames to ordinary SDR BT.709 RGB, in numpy.

Used by `decode_pyav.to_rgb` for the sampled frames only: swscale has already turned the frame
into 16-bit R'G'B' (rgb48le, its colour matrix and range honoured) at the output size; this
module does what swscale's plain path does not:

1. Linear light. PQ (SMPTE ST 2084): the EOTF, absolute nits. HLG (ARIB STD-B67 / BT.2100):
   the inverse OETF, then the BT.2100 OOTF for a 1000-nit display (system gamma 1.2), so HLG
   reference white (75 %) is 203 nits like PQ's. SDR BT.2020: BT.1886 (gamma 2.4).
2. Tone mapping (PQ, HLG): the BT.2390 EETF in the PQ domain, from the content peak to 203
   nits (HDR reference white, BT.2408), applied to max(R, G, B): every channel of a pixel is
   scaled by the same factor, so hue and saturation are kept and no channel exceeds SDR
   white. Below the knee (about 90 nits for a 1000-nit peak) nothing changes; above it the
   curve rolls off so that the peak lands on SDR white. Reference white itself comes out at
   about 78 % linear (230 of 255) for a 1000-nit peak, 63 % (210) for 4000 nits: the room
   the roll-off needs, as in BT.2390. The peak is the clip's MaxCLL, else the mastering
   display's maximum, else 1000 nits (HLG: always 1000, its nominal display).
3. Gamut: BT.2020 (or Display P3 / DCI-P3) primaries to BT.709 by the 3x3 matrix in linear
   light; a colour outside BT.709 is desaturated towards its own luminance just enough to fit
   (hue kept), instead of having its channels clipped one by one.
4. Encoding: the inverse of BT.1886 (gamma 1/2.4, reference white = 1.0), i.e. the code values
   an SDR BT.709 rendition of the same picture holds, quantised to uint8.

Frames whose tags say none of this (the common case: BT.709, BT.601, untagged) never get here.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

import numpy as np

# FFmpeg's AVColorTransferCharacteristic / AVColorPrimaries values (PyAV gives plain ints)
TRC_PQ, TRC_HLG = 16, 18
TRC_SDR = {1: "bt709", 6: "smpte170m", 14: "bt2020-10", 15: "bt2020-12"}
PRI_BT709, PRI_BT2020, PRI_DCI_P3, PRI_DISPLAY_P3 = 1, 9, 11, 12

REFERENCE_WHITE_NITS = 203.0  # BT.2408: HDR reference (graphics) white = SDR white
DEFAULT_PEAK_NITS = 1000.0  # PQ without MaxCLL / mastering metadata; HLG's nominal display
HLG_SYSTEM_GAMMA = 1.2  # BT.2100 for a 1000-nit display
SDR_GAMMA = 2.4  # BT.1886

# BT.2100 luminance weights (BT.2020 primaries) and BT.709's
LUMA_2020 = np.array([0.2627, 0.6780, 0.0593], np.float32)
LUMA_709 = np.array([0.2126, 0.7152, 0.0722], np.float32)

# SMPTE ST 2084 constants
_M1, _M2 = 2610 / 16384, 2523 / 4096 * 128
_C1, _C2, _C3 = 3424 / 4096, 2413 / 4096 * 32, 2392 / 4096 * 32
# ARIB STD-B67 constants
_HLG_A = 0.17883277
_HLG_B = 1 - 4 * _HLG_A
_HLG_C = 0.5 - _HLG_A * np.log(4 * _HLG_A)

Kind = Literal["pq", "hlg", "sdr-wide"]


@dataclass(frozen=True)
class HdrPlan:
    """What a frame needs: `kind` (pq, hlg: tone map; sdr-wide: gamut only), its `primaries`
    (FFmpeg value) and the content `peak_nits` the tone curve starts from."""

    kind: Kind
    primaries: int
    peak_nits: float = DEFAULT_PEAK_NITS

    def describe(self) -> str:
        """One line for the clip's log."""
        gamut = {PRI_DCI_P3: "DCI-P3", PRI_DISPLAY_P3: "Display P3",
                 PRI_BT709: "BT.709"}.get(self.primaries, "BT.2020")
        if self.kind == "sdr-wide":
            return f"SDR {gamut} converted to BT.709 primaries"
        return (f"{self.kind.upper()} {gamut} tone-mapped to SDR BT.709 "
                f"(BT.2390, peak {self.peak_nits:.0f} nits)")


def plan_for(frame: Any) -> HdrPlan | None:
    """The conversion `frame` needs, from its colour tags (ints, as PyAV 18 gives them), or None
    for the ordinary path: any transfer other than PQ/HLG unless the primaries are BT.2020,
    untagged or unknown values included. HDR without (or with unknown) primaries is taken as
    BT.2020, what HDR video uses."""
    trc = _tag(frame, "color_trc")
    primaries = _tag(frame, "color_primaries")
    if primaries not in (PRI_BT709, PRI_DCI_P3, PRI_DISPLAY_P3):
        primaries = PRI_BT2020 if trc in (TRC_PQ, TRC_HLG) else primaries
    if trc == TRC_PQ:
        return HdrPlan("pq", primaries, content_peak(frame))
    if trc == TRC_HLG:
        return HdrPlan("hlg", primaries)
    if trc in TRC_SDR and primaries == PRI_BT2020:
        return HdrPlan("sdr-wide", primaries)
    return None


def _tag(frame: Any, name: str) -> int | None:
    value = getattr(frame, name, None)
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):  # an enum PyAV could not map, or an odd stand-in
        return None


def content_peak(frame: Any) -> float:
    """Peak luminance (nits) of a PQ clip from the frame's side data: MaxCLL, else the mastering
    display's maximum luminance, else `DEFAULT_PEAK_NITS`; kept within [203, 10000]."""
    cll = mastering = 0.0
    for sd in getattr(frame, "side_data", None) or ():
        name = getattr(getattr(sd, "type", None), "name", "")
        try:
            raw = bytes(sd)
        except (TypeError, ValueError):
            continue
        if name == "CONTENT_LIGHT_LEVEL" and len(raw) >= 8:
            cll = float(struct.unpack_from("<I", raw, 0)[0])  # AVContentLightMetadata.MaxCLL
        elif name == "MASTERING_DISPLAY_METADATA" and len(raw) >= 88:
            # AVMasteringDisplayMetadata: 8 rationals (primaries, white point), then
            # min_luminance, max_luminance (rationals), has_primaries, has_luminance (ints)
            num, den = struct.unpack_from("<ii", raw, 72)
            if struct.unpack_from("<i", raw, 84)[0] and den > 0:
                mastering = num / den
    peak = cll or mastering or DEFAULT_PEAK_NITS
    return float(min(max(peak, REFERENCE_WHITE_NITS), 10000.0))


def convert(rgb48: np.ndarray, plan: HdrPlan) -> np.ndarray:
    """uint8 SDR BT.709 RGB [H, W, 3] from swscale's uint16 R'G'B' [H, W, 3] of a frame that
    `plan` describes (steps in the module docstring). Planar float32 in cache-sized chunks;
    the per-pixel curves are tables (the transfer functions over the 65536 codes, the tone
    curve and the output encoding over a square-root grid)."""
    code = rgb48.reshape(-1, 3)
    out = np.empty(code.shape, np.uint8)
    for i in range(0, len(code), CHUNK):
        out[i: i + CHUNK] = _convert_chunk(code[i: i + CHUNK], plan).T
    return out.reshape(rgb48.shape)


CHUNK = 1 << 15  # pixels per pass: the float32 planes of a chunk stay in the CPU cache


def _convert_chunk(code: np.ndarray, plan: HdrPlan) -> np.ndarray:
    """uint8 [3, n] SDR BT.709 code values of uint16 R'G'B' `code` [n, 3]."""
    planar = _lut(plan.kind)[np.ascontiguousarray(code.T)]  # [3, n]: nits / scene / linear
    if plan.kind == "hlg":
        planar = _hlg_ootf(planar)
    if plan.kind != "sdr-wide":
        peak = DEFAULT_PEAK_NITS if plan.kind == "hlg" else plan.peak_nits
        top = np.maximum(np.maximum(planar[0], planar[1]), planar[2])
        planar *= _tone_lut(peak)[_grid_index(top, 1 / 10000)]
    if plan.primaries != PRI_BT709:
        planar = _to_bt709(planar, _primaries_matrix(plan.primaries))
    return _encode_lut()[_grid_index(planar, 1.0)]


GRID = 16384  # entries of the square-root grids: steps far below one output level


def _grid_index(values: np.ndarray, scale: float) -> np.ndarray:
    """Nearest index of `values * scale` (clipped to [0, 1]) on a square-root grid: fine steps
    near black, where the curves are steep, and 0.01 % relative steps near the top."""
    u = np.sqrt(np.clip(values * np.float32(scale), 0, 1))
    return (u * np.float32(GRID - 1) + np.float32(0.5)).astype(np.intp)


@lru_cache(maxsize=8)
def _tone_lut(peak: float) -> np.ndarray:
    """Factor that takes a pixel whose max(R, G, B) is `nits` to SDR linear (1.0 = reference
    white), over the grid of `nits` in [0, 10000]: EETF(nits) / nits / 203."""
    nits = (np.arange(GRID, dtype=np.float64) / (GRID - 1)) ** 2 * 10000
    factor = eetf(np.maximum(nits, 1e-6), peak) / np.maximum(nits, 1e-6)
    return (factor / REFERENCE_WHITE_NITS).astype(np.float32)


@lru_cache(maxsize=1)
def _encode_lut() -> np.ndarray:
    """uint8 code of SDR linear light (inverse BT.1886, rounded) over the grid of [0, 1]."""
    linear = (np.arange(GRID, dtype=np.float64) / (GRID - 1)) ** 2
    return (linear ** (1 / SDR_GAMMA) * 255 + 0.5).astype(np.uint8)


@lru_cache(maxsize=4)
def _lut(kind: str) -> np.ndarray:
    """float32 table over the 65536 16-bit codes: PQ -> nits, HLG -> scene light [0, 1],
    gamma (SDR BT.2020) -> BT.1886 linear [0, 1]."""
    e = np.arange(65536, dtype=np.float64) / 65535
    if kind == "pq":
        out = pq_eotf(e)
    elif kind == "hlg":
        out = hlg_inverse_oetf(e)
    else:
        out = e ** SDR_GAMMA
    return out.astype(np.float32)


def pq_eotf(e: np.ndarray) -> np.ndarray:
    """SMPTE ST 2084: PQ signal [0, 1] -> nits [0, 10000]."""
    p = np.power(np.clip(e, 0, 1), 1 / _M2)
    return 10000 * np.power(np.maximum(p - _C1, 0) / (_C2 - _C3 * p), 1 / _M1)


def pq_inverse_eotf(nits: np.ndarray) -> np.ndarray:
    """SMPTE ST 2084: nits -> PQ signal [0, 1]."""
    y = np.power(np.clip(nits / 10000, 0, 1), _M1)
    return np.power((_C1 + _C2 * y) / (1 + _C3 * y), _M2)


def hlg_inverse_oetf(e: np.ndarray) -> np.ndarray:
    """ARIB STD-B67: HLG signal [0, 1] -> normalised scene light [0, 1]."""
    e = np.clip(e, 0, 1)
    high = (np.exp((np.maximum(e, 0.5) - _HLG_C) / _HLG_A) + _HLG_B) / 12
    return np.where(e <= 0.5, e * e / 3, high)


def _hlg_ootf(scene: np.ndarray) -> np.ndarray:
    """BT.2100 HLG OOTF for a 1000-nit display (black level 0): scene light [3, N] -> nits."""
    ys = np.maximum(_luma(scene, LUMA_2020), np.float32(1e-12))
    return scene * (np.float32(DEFAULT_PEAK_NITS) * ys ** np.float32(HLG_SYSTEM_GAMMA - 1))


def eetf(nits: np.ndarray, peak: float, target: float = REFERENCE_WHITE_NITS) -> np.ndarray:
    """BT.2390 EETF (black levels 0): luminance in nits mastered up to `peak` -> nits up to
    `target`. The identity (then a cap at `target`) when the content fits already."""
    if peak <= target:
        return np.minimum(nits, target)
    top = float(pq_inverse_eotf(np.float64(peak)))
    e1 = np.minimum(pq_inverse_eotf(nits) / top, 1.0)
    max_lum = float(pq_inverse_eotf(np.float64(target))) / top
    ks = 1.5 * max_lum - 0.5
    t = np.clip((e1 - ks) / (1 - ks), 0, 1)
    t2, t3 = t * t, t * t * t
    spline = ((2 * t3 - 3 * t2 + 1) * ks + (t3 - 2 * t2 + t) * (1 - ks)
              + (-2 * t3 + 3 * t2) * max_lum)  # BT.2390's Hermite spline from the knee
    return pq_eotf(np.where(e1 < ks, e1, spline) * top)


def _to_bt709(linear: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Linear RGB [3, N] in other primaries -> linear BT.709; a colour outside [0, 1] is moved
    towards its luminance (which the matrix keeps) until every channel fits."""
    rgb = np.empty_like(linear)
    for i in range(3):  # elementwise, not `matrix @ linear`: no BLAS threads for a 3x3
        np.multiply(linear[0], matrix[i, 0], out=rgb[i])
        rgb[i] += matrix[i, 1] * linear[1]
        rgb[i] += matrix[i, 2] * linear[2]
    lo = np.minimum(np.minimum(rgb[0], rgb[1]), rgb[2])
    hi = np.maximum(np.maximum(rgb[0], rgb[1]), rgb[2])
    below, above = lo < 0, hi > 1
    if not (below.any() or above.any()):
        return rgb
    y = np.clip(_luma(rgb, LUMA_709), 0, 1)
    # y - lo > 0 where lo < 0, hi - y > 0 where hi > 1: no division by zero; s = 1 inside
    s = np.divide(y, y - lo, out=np.ones_like(y), where=below)
    np.minimum(s, np.divide(1 - y, hi - y, out=np.ones_like(y), where=above), out=s)
    rgb -= y
    rgb *= s
    rgb += y
    return np.clip(rgb, 0, 1, out=rgb)


def _luma(planar: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Weighted sum of the three planes (faster than a [3] @ [3, N] product)."""
    return weights[0] * planar[0] + weights[1] * planar[1] + weights[2] * planar[2]


# CIE xy of the primaries (R, G, B) and the D65 white point
_XY = {
    PRI_BT709: ((0.640, 0.330), (0.300, 0.600), (0.150, 0.060)),
    PRI_BT2020: ((0.708, 0.292), (0.170, 0.797), (0.131, 0.046)),
    PRI_DCI_P3: ((0.680, 0.320), (0.265, 0.690), (0.150, 0.060)),
    PRI_DISPLAY_P3: ((0.680, 0.320), (0.265, 0.690), (0.150, 0.060)),
}
_D65 = (0.3127, 0.3290)


def _rgb_to_xyz(primaries: int) -> np.ndarray:
    """RGB -> XYZ matrix of a primaries set with the D65 white (white = (1, 1, 1)). DCI-P3's
    own white point is not D65, but its video files are graded for D65 displays."""
    xyz = np.array([[x / y, 1.0, (1 - x - y) / y] for x, y in _XY[primaries]]).T
    wx, wy = _D65
    white = np.array([wx / wy, 1.0, (1 - wx - wy) / wy])
    return xyz * np.linalg.solve(xyz, white)


@lru_cache(maxsize=8)
def _primaries_matrix(primaries: int) -> np.ndarray:
    """3x3 float32 matrix from `primaries` (FFmpeg value) to BT.709 linear RGB."""
    src = _rgb_to_xyz(primaries if primaries in _XY else PRI_BT2020)
    return (np.linalg.inv(_rgb_to_xyz(PRI_BT709)) @ src).astype(np.float32)
