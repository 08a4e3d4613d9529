"""Camera motion description: labelled, timed segments and one sentence, from the poses.

Per step between sampled frames the relative motion is expressed in the earlier camera's
frame (x right, y down, z forward): rotation as pan (about y, + = right), tilt (about x,
+ = up) and roll (about z); translation as truck (x), pedestal (-y, + = up) and dolly
(z, + = in). Translations are in units of the scene's median depth (see the models), turned
into the angle they sweep (atan), dolly and roll weighted by 1/2 because they only move the
image edges. That gives six comparable "image-equivalent" rates in deg/s; they are smoothed,
labelled by the dominant one (truck + opposite pan = orbit; no net motion but jitter =
handheld shake), and merged into segments.
"""

from __future__ import annotations

from collections.abc import Sequence

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
    "static": ("remains static", "holding still"),
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
    "handheld shake": ("shakes slightly, handheld", "shaking slightly"),
}
_ADVERB = {"slow": "slowly", "moderate": "steadily", "fast": "quickly", "": ""}


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


def _smooth(rates: np.ndarray, window: int) -> np.ndarray:
    if window <= 1 or len(rates) < 2:
        return rates.copy()
    kernel = np.ones(window) / window
    pad = window // 2
    padded = np.pad(rates, ((pad, window - 1 - pad), (0, 0)), mode="edge")
    return np.stack([np.convolve(padded[:, c], kernel, mode="valid")
                     for c in range(rates.shape[1])], axis=1)


def _label(rate: np.ndarray, jitter: float, cfg: MotionConfig) -> str:
    mags = np.abs(rate)
    top = int(np.argmax(mags))
    shaky = jitter >= cfg.shake_rate
    # net motion well below the jitter: what one sees is the shake, not a direction
    if mags[top] < cfg.static_rate or (shaky and mags[top] < 0.5 * jitter):
        return "handheld shake" if shaky else "static"
    pan, truck = rate[0], rate[3]
    weak, strong = sorted((abs(pan), abs(truck)))
    if COMPONENTS[top] in ("pan", "truck") and pan * truck < 0 and weak >= cfg.orbit_ratio * strong:
        return "orbit"
    return _SIGNED[COMPONENTS[top]][0 if rate[top] > 0 else 1]


def _speed(rate: float, cfg: MotionConfig) -> str:
    if rate < cfg.slow_rate:
        return "slow"
    return "moderate" if rate < cfg.fast_rate else "fast"


def _merge_short(labels: list[str], durations: np.ndarray, min_s: float) -> list[str]:
    """Relabel runs shorter than min_s with their longer neighbour's label, shortest first."""
    labels = list(labels)
    while True:
        runs = _runs(labels)
        if len(runs) < 2:
            return labels
        lengths = [durations[a:b].sum() for _, a, b in runs]
        k = int(np.argmin(lengths))
        if lengths[k] >= min_s:
            return labels
        neighbours = [n for n in (k - 1, k + 1) if 0 <= n < len(runs)]
        target = max(neighbours, key=lambda n: lengths[n])
        _, a, b = runs[k]
        labels[a:b] = [runs[target][0]] * (b - a)


def _runs(labels: Sequence[str]) -> list[tuple[str, int, int]]:
    runs: list[tuple[str, int, int]] = []
    for k, lab in enumerate(labels):
        if runs and runs[-1][0] == lab:
            runs[-1] = (lab, runs[-1][1], k + 1)
        else:
            runs.append((lab, k, k + 1))
    return runs


def segments(poses: Sequence[np.ndarray], times: Sequence[float],
             cfg: MotionConfig) -> list[MotionSegment]:
    """Labelled segments covering [times[0], times[-1]]."""
    if len(poses) < 2:
        t0 = float(times[0]) if len(times) else 0.0
        return [MotionSegment(label="static", speed="", start_s=t0, end_s=t0, rate=0.0)]
    raw = step_rates(poses, times)
    dts = np.diff(np.asarray(times, float))
    window = round(cfg.smooth_s / max(float(np.median(dts)), 1e-3)) if len(dts) else 1
    smooth = _smooth(raw, max(window, 1))
    jitter = np.linalg.norm(raw - smooth, axis=1)
    labels = [_label(smooth[k], jitter[k], cfg) for k in range(len(raw))]
    out = []
    for lab, a, b in _runs(_merge_short(labels, dts, cfg.min_segment_s)):
        out.append(_segment(lab, rates=smooth[a:b], jitter=jitter[a:b], start=times[a],
                            end=times[b], cfg=cfg))
    return out


def _segment(label: str, *, rates: np.ndarray, jitter: np.ndarray, start: float, end: float,
             cfg: MotionConfig) -> MotionSegment:
    mean = rates.mean(0)
    mags = np.abs(mean)
    static = label in ("static", "handheld shake")
    main = 0.0 if static else float(mags.max())
    secondary = []
    if not static:
        top = int(np.argmax(mags))
        for c in np.argsort(-mags):
            if c == top or mags[c] < max(cfg.static_rate, cfg.secondary_share * main):
                continue
            name = _SIGNED[COMPONENTS[c]][0 if mean[c] > 0 else 1]
            if name != label and not (label == "orbit" and COMPONENTS[c] in ("pan", "truck")):
                secondary.append(name)
        if float(jitter.mean()) >= cfg.shake_rate:
            secondary.append("handheld shake")
    return MotionSegment(label=label, speed="" if static else _speed(main, cfg),
                         start_s=round(float(start), 3), end_s=round(float(end), 3),
                         secondary=secondary, rate=round(main, 3))


def sentence(segs: Sequence[MotionSegment]) -> str:
    """'The camera pans slowly left, then dollies steadily in.'"""
    if not segs:
        return ""
    parts = []
    for seg in segs:
        verb = _VERBS[seg.label][0].format(adv=_ADVERB[seg.speed]).replace("  ", " ")
        extra = [_VERBS[s][1] for s in seg.secondary[:2] if s in _VERBS]
        if extra:
            verb += " while " + " and ".join(extra)
        parts.append(verb)
    return "The camera " + ", then ".join(parts) + "."
