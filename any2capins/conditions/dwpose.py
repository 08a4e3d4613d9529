"""DWPose (and any RTMPose-style SimCC model) exported to ONNX, run with ONNX Runtime.

DWPose's released whole-body model (`yzd-v/DWPose`, `dw-ll_ucoco_384.onnx`: RTMPose-l
distilled, 384x288 input, 133 COCO-WholeBody keypoints) is an ONNX graph taking normalised RGB
person crops [N, 3, H, W] and returning two SimCC vectors per keypoint: `simcc_x` [N, K, W*r]
and `simcc_y` [N, K, H*r] (r = 2). Pre- and post-processing are mmpose's top-down ones, done
here with numpy and OpenCV (`tests/test_pose.py` checks them against `mmpose.apis` on the same
weights): the box padded by 1.25 and widened to the input's aspect, warped to H x W
(bilinear), normalised with ImageNet mean/std; each keypoint at the argmax of its two vectors
divided by r, its score the smaller of the two maxima (a raw logit, not a probability; the
pose stage clips it to 0..1), mapped back through the box.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from any2capins.errors import ConfigError

MEAN = np.array([123.675, 116.28, 103.53], np.float32)  # RGB, as mmpose's data preprocessor
STD = np.array([58.395, 57.12, 57.375], np.float32)
BOX_PADDING = 1.25  # mmpose's GetBBoxCenterScale default


def resolve_onnx(model: str, file: str, setting: str) -> Path:
    """The local ONNX file for `model`: an .onnx file; a folder (its `file`, else its one .onnx
    file); otherwise a hub repository id whose `file` is downloaded (huggingface_hub cache).
    ConfigError naming `setting` when none of these exists."""
    path = Path(model).expanduser()
    if path.is_file():
        return path
    if path.is_dir():
        if (path / file).is_file():
            return path / file
        found = sorted(path.glob("*.onnx"))
        if len(found) == 1:
            return found[0]
        raise ConfigError(f"{setting}: folder {model} holds {len(found)} .onnx files and no "
                          f"{file!r}; name the file (pose.dwpose.file)")
    if model.startswith((".", "/", "~")) or model.count("/") != 1:
        raise ConfigError(f"{setting}: {model} is neither an .onnx file, a folder nor a hub id")
    try:
        from huggingface_hub import hf_hub_download

        return Path(hf_hub_download(model, file))
    except Exception as exc:  # noqa: BLE001 - offline, missing repo or file: fix the setting
        first = (str(exc).strip().splitlines() or [repr(exc)])[0][:300]
        raise ConfigError(f"{setting}={model!r} (file {file!r}): cannot load: "
                          f"{type(exc).__name__}: {first}") from None


def providers(device: str, setting: str) -> list[Any]:
    """ONNX Runtime execution providers for 'cpu' or 'cuda[:N]' (CUDA needs the
    onnxruntime-gpu build in place of onnxruntime)."""
    import onnxruntime as ort

    if not device.startswith("cuda"):
        return ["CPUExecutionProvider"]
    if "CUDAExecutionProvider" not in ort.get_available_providers():
        raise ConfigError(f"{setting}={device}: this onnxruntime has no CUDA provider (it has "
                          f"{ort.get_available_providers()}); install onnxruntime-gpu of the "
                          "same version in place of onnxruntime, or set it to 'cpu'")
    return [("CUDAExecutionProvider", {"device_id": int(device.partition(":")[2] or 0)})]


def box_center_scale(box: np.ndarray, input_wh: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """mmpose's bbox_xyxy2cs (padding 1.25) then TopdownAffine's aspect fix, in float32."""
    box = np.asarray(box, np.float32)
    center = (box[:2] + box[2:]) * np.float32(0.5)
    w, h = (box[2:] - box[:2]) * np.float32(BOX_PADDING)
    aspect = np.float32(input_wh[0] / input_wh[1])
    scale = np.array([w, w / aspect] if w > h * aspect else [h * aspect, h], np.float32)
    return center, scale


def warp_matrix(center: np.ndarray, scale: np.ndarray, input_wh: tuple[int, int]) -> np.ndarray:
    """mmpose's get_warp_matrix without rotation: three point pairs, cv2.getAffineTransform."""
    import cv2

    dst_w, dst_h = input_wh
    src = np.zeros((3, 2), np.float32)
    dst = np.zeros((3, 2), np.float32)
    src[0] = center
    src[1] = center + np.array([0.0, scale[0] * -0.5], np.float32)
    dst[0] = [dst_w * 0.5, dst_h * 0.5]
    dst[1] = dst[0] + np.array([0.0, dst_w * -0.5], np.float32)
    for pts in (src, dst):  # the third point: the first edge turned 90 degrees
        d = pts[0] - pts[1]
        pts[2] = pts[1] + np.array([-d[1], d[0]], np.float32)
    return cv2.getAffineTransform(src, dst)


def crop(frame: np.ndarray, box: np.ndarray, input_wh: tuple[int, int],
         ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The normalised [3, H, W] float32 crop of an RGB uint8 frame for an xyxy box, with the
    box's center and scale (to map keypoints back)."""
    import cv2

    center, scale = box_center_scale(box, input_wh)
    img = cv2.warpAffine(frame, warp_matrix(center, scale, input_wh), input_wh,
                         flags=cv2.INTER_LINEAR)
    img = (img.astype(np.float32) - MEAN) / STD
    return np.ascontiguousarray(img.transpose(2, 0, 1)), center, scale


def decode_simcc(simcc_x: np.ndarray, simcc_y: np.ndarray, input_wh: tuple[int, int],
                 centers: np.ndarray, scales: np.ndarray) -> np.ndarray:
    """[N, K, 3] keypoints (x, y in frame pixels, score) from SimCC outputs, as mmpose's
    SimCCLabel.decode and TopdownPoseEstimator: locations whose score is <= 0 become -1 in the
    input before mapping back."""
    ratio = simcc_x.shape[-1] / input_wh[0]
    locs = np.stack([simcc_x.argmax(-1), simcc_y.argmax(-1)], -1).astype(np.float32)
    scores = np.minimum(simcc_x.max(-1), simcc_y.max(-1)).astype(np.float32)
    locs[scores <= 0] = -1
    locs /= np.float32(ratio)
    wh = np.array(input_wh, np.float32)
    xy = locs / wh * scales[:, None] + centers[:, None] - scales[:, None] * np.float32(0.5)
    return np.concatenate([xy, scores[..., None]], -1).astype(np.float32)


class SimCCPoseModel:
    """An ONNX SimCC pose model in an ONNX Runtime session: input [N, 3, H, W], outputs
    (simcc_x, simcc_y). A model exported with a fixed batch runs at that batch."""

    def __init__(self, path: Path, device: str, threads: int | None, setting: str) -> None:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads or 0  # 0: ONNX Runtime's default (all cores)
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3
        try:
            self.session = ort.InferenceSession(str(path), opts,
                                                providers=providers(device, setting))
        except ConfigError:
            raise
        except Exception as exc:  # noqa: BLE001 - not an ONNX model: fix the setting
            raise ConfigError(f"{setting}: {path} cannot be loaded by ONNX Runtime: "
                              f"{type(exc).__name__}: {str(exc)[:300]}") from None
        self.input = self.session.get_inputs()[0]
        shape = self.input.shape
        outs = self.session.get_outputs()
        if len(shape) != 4 or not all(isinstance(d, int) for d in shape[2:]) or len(outs) < 2:
            raise ConfigError(f"{setting}: {path} is not a SimCC pose model (input {shape}, "
                              f"{len(outs)} outputs; expected [N, 3, H, W] -> simcc_x, simcc_y)")
        self.input_wh = (int(shape[3]), int(shape[2]))
        self.fixed_batch = shape[0] if isinstance(shape[0], int) else None
        k = outs[0].shape[1] if len(outs[0].shape) == 3 else None
        self.num_keypoints = k if isinstance(k, int) else self._probe_keypoints()

    def _probe_keypoints(self) -> int:
        """K from one run on a blank crop (exporters may leave the K axis symbolic)."""
        x = np.zeros((self.fixed_batch or 1, 3, self.input_wh[1], self.input_wh[0]), np.float32)
        return int(self.session.run(None, {self.input.name: x})[0].shape[1])

    def __call__(self, frames: np.ndarray, jobs: Sequence[tuple[int, np.ndarray]],
                 batch: int) -> np.ndarray:
        """[len(jobs), K, 3] keypoints for (frame index, xyxy box) jobs, `batch` boxes a call."""
        step = self.fixed_batch or batch
        out = []
        for start in range(0, len(jobs), step):
            part = [crop(frames[t], box, self.input_wh) for t, box in jobs[start:start + step]]
            x = np.stack([p[0] for p in part])
            pad = step - len(part) if self.fixed_batch else 0
            if pad:
                x = np.concatenate([x, np.zeros((pad, *x.shape[1:]), np.float32)])
            sx, sy = self.session.run(None, {self.input.name: x})[:2]
            n = len(part)
            out.append(decode_simcc(sx[:n], sy[:n], self.input_wh,
                                    np.stack([p[1] for p in part]), np.stack([p[2] for p in part])))
        return (np.concatenate(out) if out
                else np.zeros((0, self.num_keypoints, 3), np.float32))


def export_simcc_onnx(module: Any, input_hw: tuple[int, int], path: Path) -> Path:
    """Export a torch module mapping [N, 3, H, W] crops to (simcc_x, simcc_y) to ONNX with a
    dynamic batch axis (used for the tiny model, the fidelity test and the benchmark). Uses
    torch's TorchScript exporter, which needs only the `onnx` package."""
    import warnings

    import torch

    x = torch.zeros(1, 3, *input_hw)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(module.eval(), (x,), str(path), input_names=["input"],
                          output_names=["simcc_x", "simcc_y"], dynamo=False, opset_version=17,
                          dynamic_axes={"input": {0: "batch"}, "simcc_x": {0: "batch"},
                                        "simcc_y": {0: "batch"}})
    return path
