"""Camera geometry for trainers: intrinsics at a target size, relative poses, Plücker rays.

Conventions are the camera stage's (COLMAP's, see `any2capins.models.camera`): `cam_from_world`
(w2c) maps world points into the camera, x right, y down, z forward; intrinsics are pixels of
the clip's full-resolution display frame with pixel (0, 0) covering [0, 1) x [0, 1), so pixel
centres sit at +0.5 and scaling an image scales fx, fy, cx, cy by the same factor.

The Plücker embedding follows CameraCtrl: poses are made relative to the first frame
(c2w_rel[i] = w2c[0] @ c2w[i], so frame 0 is the identity and its ray origins are 0); per pixel,
the ray from the camera centre o through the pixel centre has unit direction d in that relative
world frame; the six channels are [o x d, d].
"""

from __future__ import annotations

import numpy as np


def intrinsics_matrix(fx: float, fy: float, cx: float, cy: float) -> np.ndarray:
    """3x3 pinhole matrix K."""
    return np.array([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]])


def scale_intrinsics(k_mat: np.ndarray, src_wh: tuple[int, int],
                     dst_hw: tuple[int, int]) -> np.ndarray:
    """K `k_mat` (…, 3, 3) of a `src_wh` = (W, H) image, rewritten for an image resized to (h, w).

    Width and height scale independently: a resize that changes the aspect ratio stretches the
    pixels, and fx/cx follow the width, fy/cy the height."""
    (src_w, src_h), (dst_h, dst_w) = src_wh, dst_hw
    out = np.array(k_mat, dtype=np.float64, copy=True)
    out[..., 0, :] *= dst_w / src_w
    out[..., 1, :] *= dst_h / src_h
    return out


def to_homogeneous(w2c_3x4: np.ndarray) -> np.ndarray:
    """[T, 3, 4] -> [T, 4, 4] with the last row [0, 0, 0, 1]."""
    t = w2c_3x4.shape[0]
    out = np.zeros((t, 4, 4), np.float64)
    out[:, :3, :] = w2c_3x4
    out[:, 3, 3] = 1.0
    return out


def invert_rigid(m: np.ndarray) -> np.ndarray:
    """Inverse of rigid 4x4 transforms [..., 4, 4] (rotation transposed, not a general inverse:
    SfM rotations are orthonormal to float precision, and this keeps them so)."""
    r, t = m[..., :3, :3], m[..., :3, 3:]
    out = np.zeros_like(m)
    rt = np.swapaxes(r, -1, -2)
    out[..., :3, :3] = rt
    out[..., :3, 3:] = -rt @ t
    out[..., 3, 3] = 1.0
    return out


def relative_c2w(w2c: np.ndarray) -> np.ndarray:
    """Camera-to-world poses [T, 4, 4] relative to the first frame (CameraCtrl's
    `get_relative_pose` with a zero first translation): c2w_rel[i] = w2c[0] @ c2w[i]."""
    return w2c[0][None] @ invert_rigid(w2c)


def plucker_embedding(k_mat: np.ndarray, c2w: np.ndarray, height: int, width: int) -> np.ndarray:
    """Plücker rays [T, 6, height, width] (float32) for intrinsics `k_mat` [T, 3, 3] (pixels of
    the height x width image) and camera-to-world poses c2w [T, 4, 4].

    Channels 0-2: o x d (moment), 3-5: d (unit direction in world coordinates)."""
    ys, xs = np.meshgrid(np.arange(height, dtype=np.float32) + 0.5,
                         np.arange(width, dtype=np.float32) + 0.5, indexing="ij")
    pix = np.stack([xs.ravel(), ys.ravel(), np.ones(xs.size, np.float32)])  # [3, HW]
    # one 3x3 per frame (computed in float64): pixel -> world direction, R_c2w K^-1
    to_world = (c2w[:, :3, :3] @ np.linalg.inv(k_mat)).astype(np.float32)
    d = to_world @ pix  # [T, 3, HW]
    d /= np.sqrt(np.einsum("tch,tch->th", d, d))[:, None]
    o = c2w[:, :3, 3].astype(np.float32)[:, :, None]  # [T, 3, 1]
    moment = np.stack([o[:, 1] * d[:, 2] - o[:, 2] * d[:, 1],
                       o[:, 2] * d[:, 0] - o[:, 0] * d[:, 2],
                       o[:, 0] * d[:, 1] - o[:, 1] * d[:, 0]], axis=1)
    return np.concatenate([moment, d], axis=1).reshape(len(c2w), 6, height, width)
