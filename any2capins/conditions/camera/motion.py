"""Camera motion description: a few phases and one sentence a person would write, from poses.

Per step between sampled frames the relative motion is expressed in the earlier camera's
frame (x right, y down, z forward): rotation as pan (about y, + = right), tilt (about x,
+ = up) and roll (about z); translation as truck (x), pedestal (-y, + = up) and dolly
(z, + = in). Translations are in units of the scene's median depth (see the models), turned
into the angle they sweep (atan), dolly and roll weighted by 1/2 because they only move the
image edges. That gives six comparable "image-equivalent" rates in deg/s.

The rate series is split into at most `max_phases` phases with piecewise-constant means (a
split is kept only when it explains `split_gain` of what is left, every phase lasts at least
`min_phase_share` of the clip), then each phase is named by its mean: the dominant motion with
one secondary component ("pans slowly left while trucking left"), `orbit` for truck with an
opposite pan, `handheld drift` / `handheld shake` when the steps wobble more than they go,
`slight` when the net sweep is small. Adjacent phases that read the same are merged: one
motion gets one phrase.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import combinations

import numpy as np

from any2capins.conditions.camera.geometry import centre, rotvec
from any2capins.config.camera import MotionConfig
from any2capins.models.camera import MotionSegment

COMPONENTS = ("pan", "tilt", "roll", "truck", "pedestal", "dolly")
_SIGNED = {
    "pan": ("pan right", "pan left"), "tilt": ("tilt up", "tilt down"), "roll": ("roll", "roll"),
    "truck": ("truck right", "truck left"), "pedestal": ("pedestal up", "pedestal down"),
    "dolly": ("dolly in", "dolly out"),
}
_VERBS = {  # label -> (third person with {adv}, gerund)
    "pan left": ("pans {adv} left", "panning left"),
    "pan right": ("pans {adv} right", "panning right"),
    "tilt up": ("tilts {adv} up", "tilting up"),
    "tilt down": ("tilts {adv} down", "tilting down"),
    "roll": ("rolls {adv}", "rolling"),
    "dolly in": ("dollies {adv} in", "dollying in"),
    "dolly out": ("dollies {adv} out", "dollying out"),
    "truck left": ("trucks {adv} left", "trucking left"),
    "truck right": ("trucks {adv} right", "trucking right"),
    "pedestal up": ("pedestals {adv} up", "rising"),
    "pedestal down": ("pedestals {adv} down", "lowering"),
    "orbit": ("orbits {adv} around the subject", "orbiting"),
}
# drift directions, in the order English names them ("right and up", "left and forward")
_DIRECTION = {"pan right": "right", "truck right": "right", "pan left": "left",
              "truck left": "left", "tilt up": "up", "pedestal up": "up", "tilt down": "down",
              "pedestal down": "down", "dolly in": "forward", "dolly out": "back"}
_DIR_ORDER = ("right", "left", "up", "down", "forward", "back")
_ADVERB = {"slight": "slightly", "slow": "slowly", "moderate": "steadily", "fast": "quickly",
           "": ""}


def step_rates(poses: Sequence[np.ndarray], times: Sequence[float]) -> np.ndarray:
    """[T-1, 6] signed image-equivalent rates (deg/s) in COMPONENTS order."""
    out = np.zeros((max(len(poses) - 1, 0), 6))
    for k in range(len(poses) - 1):
        dt = max(times[k + 1] - times[k], 1e-3)
        rk, rn = poses[k][:, :3], poses[k + 1][:, :3]
        v = np.degrees(rotvec(rk @ rn.T))  # cam_k_from_cam_{k+1}
        d = rk @ (centre(poses[k + 1]) - centre(poses[k]))
        sweep = np.degrees(np.arctan(d))
        out[k] = [v[1], v[0], 0.5 * v[2], sweep[0], -sweep[1], 0.5 * sweep[2]]
        out[k] /= dt
    return out


def _cost(rates: np.ndarray, dts: np.ndarray) -> float:
    """Time-weighted squared deviation of the rates from their (time-weighted) mean."""
    mean = (dts[:, None] * rates).sum(0) / dts.sum()
    return float((dts * ((rates - mean) ** 2).sum(1)).sum())


def _best_split(rates: np.ndarray, dts: np.ndarray, k: int,
                min_s: float) -> tuple[float, list[tuple[int, int]]] | None:
    """The k phases (step ranges) of least total cost, each lasting at least min_s; None if
    the clip cannot hold k such phases. Exhaustive: a clip has tens of steps at most."""
    n, best = len(rates), None
    ends = np.concatenate([[0.0], np.cumsum(dts)])
    for cuts in combinations(range(1, n), k - 1):
        bounds = list(zip((0, *cuts), (*cuts, n), strict=True))
        if any(ends[b] - ends[a] < min_s for a, b in bounds):
            continue
        cost = sum(_cost(rates[a:b], dts[a:b]) for a, b in bounds)
        if best is None or cost < best[0]:
            best = (cost, bounds)
    return best


def _phases(rates: np.ndarray, dts: np.ndarray, cfg: MotionConfig) -> list[tuple[int, int]]:
    """Step ranges of the phases: more phases only while each explains enough of the rest."""
    total = float(dts.sum())
    min_s = max(cfg.min_segment_s, cfg.min_phase_share * total)
    cost, bounds = _cost(rates, dts), [(0, len(rates))]
    floor = total * cfg.static_rate**2  # differences below the static rate never split
    for k in range(2, cfg.max_phases + 1):
        found = _best_split(rates, dts, k, min_s)
        if found is None:
            break
        if found[0] <= (1 - cfg.split_gain) * cost and cost - found[0] >= floor:
            cost, bounds = found
    return bounds


def segments(poses: Sequence[np.ndarray], times: Sequence[float],
             cfg: MotionConfig) -> list[MotionSegment]:
    """At most cfg.max_phases labelled phases covering [times[0], times[-1]]."""
    if len(poses) < 2:
        t0 = float(times[0]) if len(times) else 0.0
        return [MotionSegment(label="static", speed="", start_s=t0, end_s=t0, rate=0.0)]
    rates = step_rates(poses, times)
    dts = np.maximum(np.diff(np.asarray(times, float)), 1e-3)
    bounds = _phases(rates, dts, cfg)
    handheld = _handheld(rates, dts, bounds, cfg)
    phases = [(ab, _describe(rates, dts, ab, times, cfg=cfg, handheld=handheld)) for ab in bounds]
    moving = [p for p in phases if p[1].label != "handheld shake"]
    if handheld and moving and len(moving) < len(phases):
        phases = _absorb_shake(phases)
    # adjacent phases that read as one motion are one phrase
    merged: list[tuple[tuple[int, int], MotionSegment]] = []
    for ab, seg in phases:
        if merged and _same_motion(merged[-1][1], seg):
            union = (merged[-1][0][0], ab[1])
            merged[-1] = (union, _describe(rates, dts, union, times, cfg=cfg,
                                                      handheld=handheld))
        else:
            merged.append((ab, seg))
    return [seg for _, seg in merged]


def _absorb_shake(phases: list[tuple[tuple[int, int], MotionSegment]]
                  ) -> list[tuple[tuple[int, int], MotionSegment]]:
    """In a handheld clip a shake phase says nothing 'handheld' does not: its time goes to
    the motion before it (after it, at the start); the motion's words stay what they were
    measured to be over its own span."""
    out: list[tuple[tuple[int, int], MotionSegment]] = []
    pending: tuple[int, int] | None = None  # leading shake, waiting for a motion
    for span, seg in phases:
        if seg.label == "handheld shake":
            if out:
                (a, _), prev = out[-1]
                out[-1] = ((a, span[1]), prev.model_copy(update={"end_s": seg.end_s}))
            else:
                pending = span if pending is None else (pending[0], span[1])
            continue
        if pending is not None:
            start = phases[0][1].start_s
            out.append(((pending[0], span[1]), seg.model_copy(update={"start_s": start})))
            pending = None
        else:
            out.append((span, seg))
    return out


def _handheld(rates: np.ndarray, dts: np.ndarray, bounds: list[tuple[int, int]],
              cfg: MotionConfig) -> bool:
    """Is the clip handheld: its step-to-step wobble at least shake_rate, or above the static
    rate and at least handheld_ratio x the motion the phases explain. Decided once per clip:
    the operator does not change between phases."""
    jitter = _jitter(rates)
    fit = np.zeros_like(rates)
    for a, b in bounds:
        fit[a:b] = (dts[a:b, None] * rates[a:b]).sum(0) / dts[a:b].sum()
    signal = float(np.sqrt((dts * (fit**2).sum(1)).sum() / dts.sum()))
    return jitter >= cfg.shake_rate or (
        jitter >= cfg.static_rate and jitter >= cfg.handheld_ratio * signal)


def _same_motion(one: MotionSegment, two: MotionSegment) -> bool:
    """Phrases a reader takes for one motion: the same main motion (a wobble in a secondary
    component does not make another one), or each one's main motion named in the other
    ('pans left while trucking left' / 'trucks left while panning left'). Drifts compare
    their directions the same way."""
    if one.label == "handheld drift" or two.label == "handheld drift":
        if one.label != two.label:
            return False
        words = [[_DIRECTION.get(m, m) for m in s.secondary] for s in (one, two)]
        return words[0][:1] == words[1][:1] or (
            bool(words[0]) and bool(words[1]) and words[0][0] in words[1]
            and words[1][0] in words[0])
    if one.label == two.label:
        return True
    return one.label in (two.label, *two.secondary) and two.label in (one.label, *one.secondary)


def _describe(rates: np.ndarray, dts: np.ndarray, ab: tuple[int, int], times: Sequence[float],
              *, cfg: MotionConfig, handheld: bool) -> MotionSegment:
    a, b = ab
    r, w = rates[a:b], dts[a:b]
    duration = float(w.sum())
    mean = (w[:, None] * r).sum(0) / duration
    irregular = _jitter(r)
    mags = np.abs(mean)
    top = int(np.argmax(mags))
    main = float(mags[top])
    amount = main * duration
    # every component a reader would notice: a share of the main one, sweeping half a drift
    signed = [_SIGNED[COMPONENTS[c]][0 if mean[c] > 0 else 1] for c in np.argsort(-mags)
              if mags[c] >= cfg.secondary_share * main and mags[c] * duration >= cfg.drift_deg / 2]
    common = {"start_s": round(float(times[a]), 3), "end_s": round(float(times[b]), 3),
              "irregularity": round(irregular, 3), "handheld": handheld}
    if handheld and main < cfg.slow_rate and amount < cfg.slight_deg:
        if amount < cfg.drift_deg:
            return MotionSegment(label="handheld shake", speed="", rate=0.0, **common)
        return MotionSegment(label="handheld drift", speed="slight", secondary=signed,
                             rate=round(main, 3), amount=round(amount, 3), **common)
    if main < cfg.static_rate and amount < cfg.drift_deg:
        return MotionSegment(label="static", speed="", rate=0.0, **common)
    label = _label(mean, top, cfg)
    secondary = [s for s in signed if s != label
                 and not (label == "orbit" and s.split()[0] in ("pan", "truck"))][:1]
    speed = "slight" if amount < cfg.slight_deg else _speed(main, cfg)
    return MotionSegment(label=label, speed=speed, secondary=secondary, rate=round(main, 3),
                         amount=round(amount, 3), **common)


def _jitter(rates: np.ndarray) -> float:
    """Step-to-step wobble of the rates (deg/s): RMS of the first differences over sqrt 2,
    the noise level of independent jitter. A deliberate change of motion is one difference
    among many, so a pan followed by a tilt is not 'handheld'."""
    if len(rates) < 2:
        return 0.0
    return float(np.sqrt((np.diff(rates, axis=0) ** 2).sum(1).mean() / 2))


def _label(mean: np.ndarray, top: int, cfg: MotionConfig) -> str:
    pan, truck = mean[0], mean[3]
    weak, strong = sorted((abs(pan), abs(truck)))
    if COMPONENTS[top] in ("pan", "truck") and pan * truck < 0 and weak >= cfg.orbit_ratio * strong:
        return "orbit"
    return _SIGNED[COMPONENTS[top]][0 if mean[top] > 0 else 1]


def _speed(rate: float, cfg: MotionConfig) -> str:
    if rate < cfg.slow_rate:
        return "slow"
    return "moderate" if rate < cfg.fast_rate else "fast"


def _phrase(seg: MotionSegment) -> str:
    if seg.label == "static":
        return "remains static"
    if seg.label == "handheld shake":
        return "shakes slightly"
    if seg.label == "handheld drift":
        words = sorted({_DIRECTION[s] for s in seg.secondary if s in _DIRECTION},
                       key=_DIR_ORDER.index)
        return "drifts slightly " + " and ".join(words) if words else "drifts slightly"
    verb = _VERBS[seg.label][0].format(adv=_ADVERB[seg.speed]).replace("  ", " ")
    extra = [_VERBS[s][1] for s in seg.secondary[:1] if s in _VERBS]
    return verb + (" while " + extra[0] if extra else "")


def sentence(segs: Sequence[MotionSegment]) -> str:
    """'The camera pans slowly left, then dollies steadily in.' / 'The handheld camera drifts
    slightly right and up.' One phrase per phase, 'handheld' once, as an adjective."""
    if not segs:
        return ""
    subject = "The handheld camera" if any(s.handheld for s in segs) else "The camera"
    return subject + " " + ", then ".join(_phrase(s) for s in segs) + "."
