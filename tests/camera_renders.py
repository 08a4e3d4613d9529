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


# --- handheld motion over real photographic texture -------------------------------------

EXAMPLES = __import__("pathlib").Path(__file__).resolve().parents[1] / "examples" / "clips"
# (bundled clip, time s, crop rows, crop cols): disjoint pieces of real frames, so no two
# planes carry the same picture (a repeated texture makes ambiguous matches, not parallax)
PHOTO_TILES = {
    "back": ("people_bedroom_kids_jumping.mp4", 0.0, (0, 540), (0, 640)),
    "floor": ("vp8_flower_cc0.webm", 1.0, (0, 540), (0, 600)),
    "ceiling": ("people_his_girl_friday_pd.mp4", 2.0, (0, 480), (0, 640)),
    "left": ("vp9_bear.webm", 0.5, (0, 240), (0, 320)),
    "right": ("people_selfie_1s.mp4", 0.5, (0, 720), (0, 1080)),
    "box1": ("people_bedroom_kids_jumping.mp4", 0.0, (0, 270), (640, 960)),
    "box2": ("people_bedroom_kids_jumping.mp4", 0.0, (270, 540), (640, 960)),
    "box3": ("vp8_flower_cc0.webm", 1.0, (0, 540), (600, 960)),
}
HANDHELD_KINDS = ("walk", "sidestep", "arc", "lookaround")


def _photo(name: str, t: float) -> np.ndarray:
    """The bundled clip's first frame at or after `t` seconds (RGB uint8)."""
    import av

    with av.open(str(EXAMPLES / name)) as container:
        stream = container.streams.video[0]
        for frame in container.decode(stream):
            if frame.time is None or frame.time >= t:
                return frame.to_ndarray(format="rgb24")
    raise ValueError(f"{name} has no frame at {t} s")


def photo_scene() -> list[Plane]:
    """The room of `make_scene` (back wall z=14, walls, floor, ceiling, box faces) textured
    with disjoint crops of the bundled real clips' frames (licences: examples/clips/
    PROVENANCE.md) instead of generated noise: real photographic structure, repeated
    patterns, flat areas and blur included."""
    photos: dict[tuple[str, float], np.ndarray] = {}

    def tile(key: str, px: tuple[int, int]) -> np.ndarray:
        name, t, (r0, r1), (c0, c1) = PHOTO_TILES[key]
        img = photos.setdefault((name, t), _photo(name, t))[r0:r1, c0:c1]
        return cv2.resize(img, px, interpolation=cv2.INTER_AREA if px[0] < img.shape[1]
                          else cv2.INTER_CUBIC)

    def plane(key, origin, u_dir, v_dir, size_u, size_v, px_per_unit) -> Plane:
        w, h = int(size_u * px_per_unit), int(size_v * px_per_unit)
        return Plane(np.asarray(origin, float), np.asarray(u_dir, float) / px_per_unit,
                     np.asarray(v_dir, float) / px_per_unit, tile(key, (w, h)))

    return [
        plane("back", (-5, -3, 14), (1, 0, 0), (0, 1, 0), 10, 5.5, 60),
        plane("floor", (-5, 2.5, 1), (1, 0, 0), (0, 0, 1), 10, 13, 50),
        plane("ceiling", (-5, -3, 1), (1, 0, 0), (0, 0, 1), 10, 13, 50),
        plane("left", (-5, -3, 1), (0, 0, 1), (0, 1, 0), 13, 5.5, 50),
        plane("right", (5, -3, 1), (0, 0, 1), (0, 1, 0), 13, 5.5, 50),
        plane("box1", (-2.6, -1.4, 6.0), (1, 0, 0), (0, 1, 0), 2.0, 1.7, 120),
        plane("box2", (0.8, 0.2, 4.8), (1, 0, 0), (0, 1, 0), 1.6, 1.35, 140),
        plane("box3", (1.6, -2.4, 8.5), (1, 0, 0), (0, 1, 0), 1.3, 2.0, 100),
    ]


def _smooth_noise(rng: np.random.Generator, t: np.ndarray, amplitude: float,
                  freqs: tuple[float, ...] = (0.7, 1.6, 2.9, 4.7)) -> np.ndarray:
    """Hand tremor: a sum of sinusoids at a few frequencies (Hz) with random phases and
    weights, scaled to RMS `amplitude`."""
    out = np.zeros_like(t)
    power = 0.0
    for f in freqs:
        weight = rng.uniform(0.4, 1.0) / np.sqrt(f)
        out += weight * np.sin(2 * np.pi * f * t + rng.uniform(0, 2 * np.pi))
        power += weight**2 / 2
    # the RMS of the process, not of these samples: sub-frame renders must agree with frames
    return out * amplitude / np.sqrt(power)


def _rolling_progress(rng: np.random.Generator, t: np.ndarray, duration: float,
                      stop: bool) -> np.ndarray:
    """Progress 0..1 along the path at times t, at a speed that rises and falls (a person
    walking: speed varies by about +-60%; `stop` adds a near halt in the middle)."""
    fine = np.linspace(0, duration, 2001)
    speed = 1 + 0.6 * np.sin(2 * np.pi * fine / duration * 1.3 + rng.uniform(0, 2 * np.pi))
    if stop:
        speed *= 1 - 0.9 * np.exp(-((fine - duration / 2) / (0.12 * duration)) ** 2)
    s = np.concatenate([[0.0], np.cumsum((speed[1:] + speed[:-1]) / 2 * np.diff(fine))])
    return np.interp(t, fine, s / s[-1])


def handheld_trajectory(kind: str, times: np.ndarray, duration: float,
                        seed: int = 0) -> np.ndarray:
    """True cam_from_world [n, 3, 4] of a handheld camera at `times` (s).

    walk: 1.6 units forward and 0.6 right while turning 8 deg left, rolling speed;
    sidestep: 1.2 units to the left turning 6 deg right (towards the room's centre), with a
    near halt half-way; arc: 2 units to the right while turning 22 deg left, keeping the
    room's centre in view (a person circling a table); lookaround: a person standing and
    looking around: 0.25 units of sway, a 14 deg pan right and 4 deg tilt up with a pause.
    All with hand tremor: about 0.5 deg RMS in pan and tilt, 0.3 deg in roll, 1% of a unit
    of positional shake, and a walking bob."""
    rng = np.random.default_rng({"walk": 11, "sidestep": 12, "arc": 14, "lookaround": 13}
                                .get(kind, 0) + seed)
    t = np.asarray(times, float)
    spec = {  # (centre start, centre end, pan deg start->end, tilt deg, stop, bob)
        "walk": ((-0.5, 0.0, 0.0), (0.1, 0.0, 1.6), (0.0, -8.0), (0.0, 2.0), False, 0.02),
        "sidestep": ((0.6, 0.0, 0.4), (-0.6, 0.0, 0.4), (-3.0, 3.0), (1.0, -1.0), True, 0.012),
        "arc": ((-1.0, 0.0, 0.3), (1.0, 0.0, 0.3), (11.0, -11.0), (1.5, -1.5), False, 0.015),
        "lookaround": ((0.0, 0.0, 0.5), (0.25, -0.05, 0.55), (-7.0, 7.0), (-2.0, 2.0), True,
                       0.0),
    }
    if kind not in spec:
        raise ValueError(f"unknown handheld trajectory {kind!r}; known: {HANDHELD_KINDS}")
    c0, c1, pan, tilt, stop, bob = spec[kind]
    s = _rolling_progress(rng, t, duration, stop)
    centres = np.asarray(c0) + s[:, None] * (np.asarray(c1) - np.asarray(c0))
    centres[:, 1] += bob * np.sin(2 * np.pi * 1.8 * t)  # steps
    centres += np.stack([_smooth_noise(rng, t, 0.01) for _ in range(3)], axis=1)
    yaw = pan[0] + s * (pan[1] - pan[0]) + _smooth_noise(rng, t, 0.5)
    pitch = tilt[0] + s * (tilt[1] - tilt[0]) + _smooth_noise(rng, t, 0.5)
    roll = _smooth_noise(rng, t, 0.3)
    out = np.zeros((len(t), 3, 4))
    for k in range(len(t)):
        world_from_cam = _rot_y(yaw[k]) @ _rot_x(pitch[k]) @ _rot_z(roll[k])
        out[k, :, :3] = world_from_cam.T
        out[k, :, 3] = -world_from_cam.T @ centres[k]
    return out


def _rot_z(deg: float) -> np.ndarray:
    a = np.deg2rad(deg)
    return np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])


def render_handheld(kind: str, *, n: int = 150, fps: float = 30.0,
                    size: tuple[int, int] = (640, 360), focal: float | None = None,
                    seed: int = 0, noise: float = 1.5, blur: int = 3,
                    shutter: float = 1 / 60, distortion: float = 0.0,
                    at: list[int] | None = None) -> Render:
    """A handheld clip of `n` frames at `fps` over the photographic room: exact plane
    homographies, `blur` sub-frame renders averaged over the `shutter` time (motion blur)
    and sensor noise. The trajectory depends on time only, so `n` frames at `fps` are the
    frames of any other rate at the same times. `at`: render only these frame positions (a
    test renders the 16 frames the stage would pick, not all `n`). Default focal: 0.9 x
    width (a phone's main camera, ~70 deg horizontal field of view). `distortion`: radial lens
    distortion k1 of COLMAP's SIMPLE_RADIAL model (x_d = x_u (1 + k1 r^2) in normalised
    coordinates; positive is pincushion); 0 is an ideal pinhole."""
    w, h = size
    f = 0.9 * w if focal is None else focal
    K = np.array([[f, 0, w / 2], [0, f, h / 2], [0, 0, 1.0]])
    planes = photo_scene()
    duration = n / fps
    times = np.arange(n)[at if at is not None else slice(None)] / fps
    poses = handheld_trajectory(kind, times, duration, seed)
    offsets = np.linspace(-shutter / 2, shutter / 2, blur) if blur > 1 else np.zeros(1)
    rng = np.random.default_rng(seed + 101)
    frames = []
    for k, t in enumerate(times):
        sub = (handheld_trajectory(kind, t + offsets, duration, seed) if blur > 1
               else poses[k:k + 1])
        acc = np.zeros((h, w, 3), np.float32)
        for pose in sub:
            acc += render_frame(planes, K, pose, size)
        acc = acc / len(sub)
        if distortion:
            acc = _distort(acc, K, distortion)
        acc += rng.normal(0, noise, acc.shape).astype(np.float32)
        frames.append(np.clip(acc, 0, 255).astype(np.uint8))
    return Render(np.stack(frames), poses, K, [round(float(t), 6) for t in times])


def _distort(img: np.ndarray, K: np.ndarray, k1: float) -> np.ndarray:
    """The pinhole image seen through a lens with radial distortion k1: each output (distorted)
    pixel samples the undistorted image where x_u (1 + k1 |x_u|^2) = x_d (fixed point)."""
    h, w = img.shape[:2]
    f, cx, cy = K[0, 0], K[0, 2], K[1, 2]
    xd = (np.arange(w, dtype=np.float64)[None, :] - cx) / f + np.zeros((h, 1))
    yd = (np.arange(h, dtype=np.float64)[:, None] - cy) / f + np.zeros((1, w))
    xu, yu = xd.copy(), yd.copy()
    for _ in range(20):
        factor = 1 + k1 * (xu**2 + yu**2)
        xu, yu = xd / factor, yd / factor
    return cv2.remap(img, (xu * f + cx).astype(np.float32), (yu * f + cy).astype(np.float32),
                     cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)


def write_h264(render: Render, path: str, fps: float = 30.0, crf: int = 20) -> str:
    """The frames as an H.264 MP4 (libx264, yuv420p, `crf`): the codec's losses of real
    footage, not MJPEG's near-lossless frames."""
    import av

    h, w = render.frames.shape[1:3]
    with av.open(path, "w") as container:
        stream = container.add_stream("libx264", rate=round(fps))
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        stream.options = {"crf": str(crf), "preset": "medium"}
        for frame in render.frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path
