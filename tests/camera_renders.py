"""Synthetic clips with a known camera trajectory, for the camera accuracy tests and bench.

The scene is a few textured planes (a far back wall, a floor and boxes' faces at several
depths, so a translating camera sees parallax). Each plane is rendered with one homography
`K [R a, R b, R o + t]` (texture pixel -> image pixel) and composited far to near, which is
exact for planes. Conventions are COLMAP's: x_cam = R x_world + t, x right, y down, z forward.

`render_clip(kind)` returns frames (uint8 RGB [T, H, W, 3]), the true cam_from_world poses
[T, 3, 4], the true intrinsics and the timestamps.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

WOB = [3.0, 1.0]
KINDS = ("translate", "pan", "static", "dolly", "tilt", "dolly_out", "truck", "pedestal",
         "orbit", "handheld", "pan_dolly")
ORBIT_CENTRE = np.array([0.0, 0.0, 7.0])  # the point an orbiting camera circles and looks at


@dataclass(frozen=True)
class Plane:
    origin: np.ndarray  # world position of texture pixel (0, 0)
    axis_u: np.ndarray  # world step of one texture pixel along u (columns)
    axis_v: np.ndarray  # world step of one texture pixel along v (rows)
    texture: np.ndarray  # uint8 RGB


@dataclass(frozen=True)
class Render:
    frames: np.ndarray  # uint8 [T, H, W, 3]
    cam_from_world: np.ndarray  # float64 [T, 3, 4]
    K: np.ndarray  # 3x3
    timestamps: list[float]

    @property
    def centres(self) -> np.ndarray:
        R, t = self.cam_from_world[:, :, :3], self.cam_from_world[:, :, 3]
        return -np.einsum("nji,nj->ni", R, t)


def _texture(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Multi-scale coloured noise plus random blobs: many distinctive SIFT features."""
    img = np.zeros((h, w, 3), np.float32)
    for cell, weight in ((64, 0.9), (16, 0.6), (4, 0.35)):
        small = rng.random((max(2, h // cell), max(2, w // cell), 3)).astype(np.float32)
        img += weight * cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)
    img = (img - img.min()) / (np.ptp(img) + 1e-6) * 255
    out = img.astype(np.uint8)
    for _ in range(h * w // 900):
        centre = (int(rng.integers(0, w)), int(rng.integers(0, h)))
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        if rng.random() < 0.5:
            cv2.circle(out, centre, int(rng.integers(3, 12)), colour, -1)
        else:
            size = rng.integers(4, 16, 2)
            cv2.rectangle(out, centre, (centre[0] + int(size[0]), centre[1] + int(size[1])),
                          colour, -1)
    return out


def _plane(rng: np.random.Generator, origin, u_dir, v_dir, size_u: float, size_v: float,
           px_per_unit: float) -> Plane:
    w, h = int(size_u * px_per_unit), int(size_v * px_per_unit)
    u = np.asarray(u_dir, float) / px_per_unit
    v = np.asarray(v_dir, float) / px_per_unit
    return Plane(np.asarray(origin, float), u, v, _texture(rng, h, w))


def make_scene(seed: int = 0) -> list[Plane]:
    """A textured room (back wall at z=14, side walls at x=+-5, floor, ceiling) with the front
    faces of four boxes at z=4.5..8: depth variation and slanted planes make the focal
    length observable."""
    rng = np.random.default_rng(seed)
    planes = [
        _plane(rng, (-5, -3, 14), (1, 0, 0), (0, 1, 0), 10, 5.5, 40),  # back wall
        _plane(rng, (-5, 2.5, 1), (1, 0, 0), (0, 0, 1), 10, 13, 24),  # floor
        _plane(rng, (-5, -3, 1), (1, 0, 0), (0, 0, 1), 10, 13, 24),  # ceiling
        _plane(rng, (-5, -3, 1), (0, 0, 1), (0, 1, 0), 13, 5.5, 24),  # left wall
        _plane(rng, (5, -3, 1), (0, 0, 1), (0, 1, 0), 13, 5.5, 24),  # right wall
    ]
    boxes = ((-2.4, -1.4, 6.0, 1.8), (0.6, 0.3, 4.5, 1.4), (1.9, -2.2, 8.0, 2.0),
             (-1.0, 0.8, 10.0, 1.5))
    for x, y, z, s in boxes:
        planes.append(_plane(rng, (x, y, z), (1, 0, 0), (0, 1, 0), s, s, 64))
    return planes


def _rot_y(deg: float) -> np.ndarray:
    a = np.deg2rad(deg)
    return np.array([[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]])


def _rot_x(deg: float) -> np.ndarray:
    a = np.deg2rad(deg)
    return np.array([[1, 0, 0], [0, np.cos(a), -np.sin(a)], [0, np.sin(a), np.cos(a)]])


def trajectory(kind: str, n: int) -> np.ndarray:
    """True cam_from_world [n, 3, 4].

    translate: 1.5 units to the right (truck right) with a slight 3 deg pan right and a 1 deg
    tilt wobble (pure translation leaves an unknown focal unobservable: F is auto-epipolar);
    pan: 20 deg to the right about the vertical axis; static; dolly: 2.5 units forward with
    the same small wobble; tilt: 14 deg up; dolly_out: 2.5 units back; truck: 1.5 units to the
    left; pedestal: 1.2 units up (all three with the wobble); orbit: 20 deg of a circle of
    radius 7 around ORBIT_CENTRE, moving right while turning left to keep it centred;
    handheld: no net motion, random 0.6 deg rotation jitter per frame; pan_dolly: 12 deg pan
    right in the first half, then 2 units forward (with the wobble)."""
    s = np.linspace(0.0, 1.0, n)
    out = np.zeros((n, 3, 4))
    rng = np.random.default_rng(5)
    for i, f in enumerate(s):
        world_from_cam, centre = _camera(kind, f, rng)
        R = world_from_cam.T
        out[i, :, :3] = R
        out[i, :, 3] = -R @ centre
    return out


def _camera(kind: str, f: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(world_from_cam rotation, centre) at progress f in [0, 1]."""
    wobble = _rot_y(WOB[0] * (f - 0.5)) @ _rot_x(WOB[1] * np.sin(2 * np.pi * f))
    moves = {"translate": (-0.75 + 1.5 * f, 0.0, 0.0), "dolly": (0.0, 0.0, 2.5 * f),
             "dolly_out": (0.0, 0.0, 2.5 * (1 - f)), "truck": (0.75 - 1.5 * f, 0.0, 0.0),
             "pedestal": (0.0, 0.6 - 1.2 * f, 0.0)}
    if kind in moves:
        return wobble, np.array(moves[kind])
    if kind == "pan":
        return _rot_y(-10 + 20 * f), np.zeros(3)
    if kind == "tilt":
        return _rot_x(-7 + 14 * f), np.zeros(3)
    if kind == "orbit":
        theta = np.deg2rad(-10 + 20 * f)
        offset = 7.0 * np.array([np.sin(theta), 0.0, -np.cos(theta)])
        return _rot_y(-np.rad2deg(theta)), ORBIT_CENTRE + offset
    if kind == "handheld":
        jitter = rng.normal(0, 0.6, 3)
        return _rot_y(jitter[0]) @ _rot_x(jitter[1]), rng.normal(0, 0.005, 3)
    if kind == "pan_dolly":
        if f <= 0.5:
            return _rot_y(-6 + 24 * f), np.zeros(3)
        return _rot_y(6.0) @ wobble, np.array([0.0, 0.0, 4.0 * (f - 0.5)])
    if kind == "static":
        return np.eye(3), np.zeros(3)
    raise ValueError(f"unknown trajectory {kind!r}; known: {KINDS}")


def render_frame(planes: list[Plane], K: np.ndarray, pose: np.ndarray,
                 size: tuple[int, int]) -> np.ndarray:
    """One frame: planes drawn far to near with their exact homographies."""
    w, h = size
    R, t = pose[:, :3], pose[:, 3]
    img = np.full((h, w, 3), 40, np.uint8)
    depth = [float((R @ (p.origin + p.axis_u * p.texture.shape[1] / 2
                        + p.axis_v * p.texture.shape[0] / 2) + t)[2]) for p in planes]
    for _, p in sorted(zip(depth, planes, strict=True), key=lambda dp: -dp[0]):
        H = K @ np.column_stack([R @ p.axis_u, R @ p.axis_v, R @ p.origin + t])
        th, tw = p.texture.shape[:2]
        corners = np.array([[0, 0, 1], [tw, 0, 1], [0, th, 1], [tw, th, 1]], float).T
        if np.any((np.linalg.inv(K) @ H @ corners)[2] <= 0.05):
            continue  # plane (partly) behind the camera: the test scenes never need it
        warped = cv2.warpPerspective(p.texture, H, (w, h), flags=cv2.INTER_LINEAR)
        mask = cv2.warpPerspective(np.full((th, tw), 255, np.uint8), H, (w, h),
                                   flags=cv2.INTER_NEAREST)
        img[mask > 0] = warped[mask > 0]
    return img


def render_clip(kind: str, *, n: int = 12, size: tuple[int, int] = (320, 240),
                focal: float = 300.0, fps: float = 6.0, seed: int = 0,
                noise: float = 2.0) -> Render:
    """A clip of `n` frames at `size` with the given trajectory, plus mild sensor noise."""
    w, h = size
    K = np.array([[focal, 0, w / 2], [0, focal, h / 2], [0, 0, 1]])
    planes = make_scene(seed)
    poses = trajectory(kind, n)
    rng = np.random.default_rng(seed + 1)
    frames = []
    for pose in poses:
        img = render_frame(planes, K, pose, size).astype(np.float32)
        img += rng.normal(0, noise, img.shape).astype(np.float32)
        frames.append(np.clip(img, 0, 255).astype(np.uint8))
    return Render(np.stack(frames), poses, K, [round(i / fps, 6) for i in range(n)])


def write_video(render: Render, path: str, fps: float = 6.0) -> str:
    """Write the frames as a near-lossless MJPEG AVI that decord reads."""
    h, w = render.frames.shape[1:3]
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*"MJPG"), fps, (w, h))
    writer.set(cv2.VIDEOWRITER_PROP_QUALITY, 98)
    for frame in render.frames:
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()
    return path
