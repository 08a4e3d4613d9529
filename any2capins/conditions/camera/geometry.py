"""Pose geometry without pycolmap: homography rotations, focal from homographies, pose
normalisation and interpolation, similarity alignment (for accuracy checks).

All poses are 3x4 cam_from_world matrices [R | t]; the camera centre is -R^T t.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def project_so3(m: np.ndarray) -> np.ndarray:
    """Nearest rotation matrix (SVD), det +1."""
    u, _, vt = np.linalg.svd(m)
    r = u @ vt
    if np.linalg.det(r) < 0:
        u[:, -1] *= -1
        r = u @ vt
    return r


def rotation_angle_deg(r: np.ndarray) -> float:
    return float(np.degrees(np.arccos(np.clip((np.trace(r) - 1) / 2, -1.0, 1.0))))


def rotvec(r: np.ndarray) -> np.ndarray:
    """Axis-angle vector (radians) of a rotation matrix."""
    angle = np.arccos(np.clip((np.trace(r) - 1) / 2, -1.0, 1.0))
    if angle < 1e-9:
        return np.zeros(3)
    axis = np.array([r[2, 1] - r[1, 2], r[0, 2] - r[2, 0], r[1, 0] - r[0, 1]])
    if np.sin(angle) < 1e-6:  # ~180 deg: axis from the symmetric part
        w, v = np.linalg.eigh((r + r.T) / 2)
        return v[:, np.argmax(w)] * angle
    return axis / (2 * np.sin(angle)) * angle


def from_rotvec(v: np.ndarray) -> np.ndarray:
    angle = float(np.linalg.norm(v))
    if angle < 1e-12:
        return np.eye(3)
    k = v / angle
    kx = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    return np.eye(3) + np.sin(angle) * kx + (1 - np.cos(angle)) * kx @ kx


def centre(pose: np.ndarray) -> np.ndarray:
    return -pose[:, :3].T @ pose[:, 3]


def make_pose(r: np.ndarray, c: np.ndarray) -> np.ndarray:
    return np.column_stack([r, -r @ c])


def chain_homographies(n: int, pairs: Sequence[tuple[int, int, np.ndarray]]
                       ) -> list[np.ndarray | None]:
    """H_{0->j} for every frame reachable from frame 0 through pairwise homographies
    (x_j ~ H_ij x_i). Each frame takes the pair to an already solved earlier frame with the
    most support, given as (i, j, H) sorted by preference."""
    out: list[np.ndarray | None] = [None] * n
    out[0] = np.eye(3)
    for j in range(1, n):
        for i, jj, h in pairs:
            if jj == j and i < j and out[i] is not None:
                chained = h @ out[i]
                out[j] = chained / chained[2, 2]
                break
    return out


def _rotation_residual(hs: Sequence[np.ndarray], f: float, cx: float, cy: float) -> float:
    k = np.array([[f, 0, cx], [0, f, cy], [0, 0, 1.0]])
    k_inv = np.linalg.inv(k)
    total = 0.0
    for h in hs:
        m = k_inv @ h @ k
        det = np.linalg.det(m)
        if det <= 0:
            return float("inf")
        m = m / np.cbrt(det)
        total += float(np.linalg.norm(m.T @ m - np.eye(3)))
    return total


def focal_from_homographies(hs: Sequence[np.ndarray], size: tuple[int, int]) -> float | None:
    """Focal (px) that makes K^-1 H K closest to rotations, by golden-section search over
    log f in [0.25, 4] x the longest side; None when the homographies carry no rotation
    signal (all near identity, or a flat residual that ends at a search bound), so the caller
    keeps its prior."""
    w, h = size
    cx, cy = w / 2, h / 2
    if not hs or max(np.abs(hm - np.eye(3)).max() for hm in hs) < 1e-3:
        return None
    lo, hi = np.log(0.25 * max(w, h)), np.log(4.0 * max(w, h))
    g = (np.sqrt(5) - 1) / 2
    a, b = hi - g * (hi - lo), lo + g * (hi - lo)
    fa = _rotation_residual(hs, np.exp(a), cx, cy)
    fb = _rotation_residual(hs, np.exp(b), cx, cy)
    for _ in range(60):
        if fa < fb:
            hi, b, fb = b, a, fa
            a = hi - g * (hi - lo)
            fa = _rotation_residual(hs, np.exp(a), cx, cy)
        else:
            lo, a, fa = a, b, fb
            b = lo + g * (hi - lo)
            fb = _rotation_residual(hs, np.exp(b), cx, cy)
    best = float(np.exp((lo + hi) / 2))
    # a flat residual (no perspective signal) hits the search bounds: not an estimate
    edge = min(abs(np.log(best) - np.log(0.25 * max(w, h))), abs(np.log(4.0 * max(w, h))
                                                                  - np.log(best)))
    return best if edge > 0.05 else None


def rotations_from_homographies(hs: Sequence[np.ndarray | None], f: float,
                                size: tuple[int, int]) -> list[np.ndarray | None]:
    """cam_from_world rotations (world = first camera): R_j = K^-1 H_{0->j} K, projected."""
    w, h = size
    k = np.array([[f, 0, w / 2], [0, f, h / 2], [0, 0, 1.0]])
    k_inv = np.linalg.inv(k)
    return [None if hm is None else project_so3(k_inv @ hm @ k) for hm in hs]


def normalise(poses: Sequence[np.ndarray | None], ref: int,
              depth: float) -> list[np.ndarray | None]:
    """Re-express poses with camera `ref` as the world frame and translations / depth."""
    r_ref, t_ref = poses[ref][:, :3], poses[ref][:, 3]
    out: list[np.ndarray | None] = []
    for p in poses:
        if p is None:
            out.append(None)
            continue
        r = p[:, :3] @ r_ref.T
        t = (p[:, 3] - r @ t_ref) / depth
        out.append(np.column_stack([r, t]))
    return out


def fill_missing(poses: Sequence[np.ndarray | None], times: Sequence[float]) -> list[np.ndarray]:
    """Poses for unregistered frames: interpolated between the nearest registered neighbours
    (rotation along the geodesic, centre linearly), else copied from the nearest one."""
    known = [k for k, p in enumerate(poses) if p is not None]
    if not known:
        return [np.column_stack([np.eye(3), np.zeros(3)]) for _ in poses]
    out = []
    for k, p in enumerate(poses):
        if p is not None:
            out.append(p)
            continue
        before = [i for i in known if i < k]
        after = [i for i in known if i > k]
        if not before or not after:
            out.append(poses[before[-1] if before else after[0]].copy())
            continue
        a, b = before[-1], after[0]
        s = (times[k] - times[a]) / max(times[b] - times[a], 1e-9)
        ra, rb = poses[a][:, :3], poses[b][:, :3]
        r = from_rotvec(s * rotvec(rb @ ra.T)) @ ra
        c = (1 - s) * centre(poses[a]) + s * centre(poses[b])
        out.append(make_pose(r, c))
    return out


def similarity_align(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """src points mapped by the least-squares similarity onto dst (Umeyama)."""
    mu_s, mu_d = src.mean(0), dst.mean(0)
    xs, xd = src - mu_s, dst - mu_d
    u, d, vt = np.linalg.svd(xd.T @ xs / len(src))
    s_fix = np.eye(3)
    if np.linalg.det(u @ vt) < 0:
        s_fix[2, 2] = -1
    r = u @ s_fix @ vt
    var = (xs**2).sum() / len(src)
    scale = np.trace(np.diag(d) @ s_fix) / var if var > 0 else 1.0
    return (scale * (r @ xs.T)).T + mu_d
