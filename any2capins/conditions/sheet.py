"""Contact sheets: one PNG per clip that an annotator looks at.

Rows: the sampled frames with the pose skeletons drawn on them; the depth maps as a colour
map; then a top-down plot of the camera path (x right, z forward, headings as arrows) titled
with the camera status and motion sentence, next to the reference crops. Every panel reads
the clip's row of each condition table (handed over by the runtime: see `sheet_stage.py`) and
is replaced by a short note when it is absent.

`render(conditions, cfg, frames)` returns PNG bytes. Matplotlib runs headless (Agg).
"""

from __future__ import annotations

import io
import logging
import textwrap
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from any2capins.config.sheet import SheetConfig
from any2capins.io.frames import SampledFrames
from any2capins.models.camera import CameraRecord
from any2capins.models.clips import ClipRecord
from any2capins.models.conditions import DepthRecord, PoseRecord, RefsRecord
from any2capins.models.skeleton import layout_for, strokes

log = logging.getLogger(__name__)
CONDITIONS = {"depth": DepthRecord, "pose": PoseRecord, "camera": CameraRecord,
              "refs": RefsRecord}


@dataclass
class ClipConditions:
    clip: ClipRecord
    records: dict[str, Any] = field(default_factory=dict)  # condition name -> record
    quality: dict[str, Any] | None = None  # the clip's quality/ row (curation), if any


def quality_line(q: dict[str, Any] | None) -> str:
    """The curation verdict and scores for the sheet's title ('' without a quality row)."""
    if q is None:
        return ""

    def num(key: str, fmt: str) -> str:
        return "-" if q.get(key) is None else format(q[key], fmt)

    verdict = "kept" if q.get("kept") else (
        "LEFT OUT: " + ", ".join(q.get("reasons") or [])
        + (f" (duplicate of {q['duplicate_of']})" if q.get("duplicate_of") else ""))
    return (f"\nquality: {verdict}; motion {num('motion', '.3f')}, brightness "
            f"{num('brightness', '.2f')}, black frames {num('black_frame_share', '.0%')}, "
            f"sharpness {num('sharpness', '.0f')}, text {num('text_coverage', '.1%')}")


def clip_conditions(clip: ClipRecord, rows: Mapping[str, dict[str, Any] | None]) -> ClipConditions:
    """The clip with its condition records, from the rows of each condition table (None:
    no row)."""
    records = {name: CONDITIONS[name].model_validate(row) for name, row in rows.items()
               if row is not None}
    return ClipConditions(clip, records)


def _frame_indices(cc: ClipConditions, count: int) -> list[int]:
    """Up to `count` frame positions, preferring those the pose/camera/depth stages sampled
    (used for the depth row when no frames could be decoded)."""
    for name in ("pose", "camera", "depth"):
        rec = cc.records.get(name)
        idx = ([f.frame_index for f in rec.frames] if name == "camera" and rec is not None
               else getattr(rec, "frame_indices", None))
        if idx:
            keep = np.linspace(0, len(idx) - 1, min(count, len(idx))).round().astype(int)
            return [idx[k] for k in sorted(set(keep.tolist()))]
    n = max(cc.clip.num_frames, 1)
    return sorted({int((i + 0.5) * n / count) for i in range(min(count, n))})


def _nearest(indices: list[int], target: int) -> int:
    return int(np.argmin([abs(i - target) for i in indices]))


def _draw_pose(ax: Any, pose: PoseRecord, frame_index: int, scale: float) -> None:
    if not pose.frame_indices:
        return
    t = _nearest(pose.frame_indices, frame_index)
    layout = layout_for(pose.keypoint_names, pose.keypoint_layout)  # skeleton: models/skeleton
    colours = ("#ff3b30", "#34c759", "#0a84ff", "#ffcc00", "#af52de", "#ff9500")
    for track in pose.tracks:
        if not track.present[t]:
            continue
        st = strokes(np.asarray(track.keypoints[t], float), layout)
        colour = colours[track.track_id % len(colours)]
        for lines, lw, alpha in ((st.body_limbs, 1.6, 0.6), (st.lines, 0.6, 1.0)):
            for ln in lines:
                ax.plot([ln.x1 * scale, ln.x2 * scale], [ln.y1 * scale, ln.y2 * scale],
                        color=np.array(ln.colour) / 255, lw=lw, alpha=alpha)
        for dots, size in ((st.body_joints, 4), (st.joints, 1.5), (st.face, 0.8)):
            if dots:
                ax.scatter([d.x * scale for d in dots], [d.y * scale for d in dots], s=size,
                           color=[np.array(d.colour) / 255 for d in dots], linewidths=0)
        x0, y0, x1, y1 = (v * scale for v in track.boxes[t])
        ax.add_patch(_rect(x0, y0, x1 - x0, y1 - y0, colour))
        ax.text(x0, y0, f"#{track.track_id}", color=colour, fontsize=6, va="bottom")


def _rect(x: float, y: float, w: float, h: float, colour: str) -> Any:
    from matplotlib.patches import Rectangle

    return Rectangle((x, y), w, h, fill=False, ec=colour, lw=0.8)


def _depth_map(rec: DepthRecord, t: int) -> np.ndarray:
    from PIL import Image

    levels = np.asarray(Image.open(io.BytesIO(rec.depth_png[t])), dtype=np.float64)
    lo, hi = rec.scale_min[t], rec.scale_max[t]
    return lo + levels / 65535.0 * (hi - lo)


def _note(ax: Any, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", fontsize=8, color="#666",
            transform=ax.transAxes, wrap=True)
    ax.set_xticks([])
    ax.set_yticks([])


def camera_panel(ax: Any, cam: CameraRecord | None) -> str:
    """Top-down camera path: centres in the x-z plane, a heading arrow every few frames; a
    heading-over-time plot when the camera does not move. Returns what it drew: 'path',
    'heading' or 'note'."""
    if cam is None:
        _note(ax, "no camera condition")
        return "note"
    title = f"camera: {cam.status} ({cam.num_registered}/{cam.num_sampled} registered)"
    ax.set_title(title, fontsize=8, loc="left")
    if not cam.frames:
        _note(ax, textwrap.fill(cam.reason or "no poses", 40))
        return "note"
    poses = [np.reshape(f.cam_from_world, (3, 4)) for f in cam.frames]
    centres = np.array([-p[:, :3].T @ p[:, 3] for p in poses])
    heads = np.array([p[2, :3] for p in poses])  # camera z axis in world coordinates
    span = float(np.ptp(centres[:, [0, 2]], axis=0).max()) if len(centres) > 1 else 0.0
    if span < 1e-9:  # rotation_only / static: no path to draw, the heading over time says more
        _heading_plot(ax, cam, heads)
        return "heading"
    arrow = max(span * 0.3, 0.05)
    ax.plot(centres[:, 0], centres[:, 2], "-", color="#0a84ff", lw=1.2)
    step = max(1, len(poses) // 8)
    for c, h, reg in list(zip(centres, heads, [f.registered for f in cam.frames],
                              strict=True))[::step]:
        ax.arrow(c[0], c[2], h[0] * arrow, h[2] * arrow, head_width=arrow * 0.08,
                 head_length=arrow * 0.12, color="#ff9500" if reg else "#999",
                 length_includes_head=True, lw=0.6)
    ax.plot(centres[0, 0], centres[0, 2], "o", color="#34c759", ms=4, label="start")
    ax.plot(centres[-1, 0], centres[-1, 2], "s", color="#ff3b30", ms=4, label="end")
    ax.set_aspect("equal", adjustable="datalim")
    ax.tick_params(labelsize=6)
    ax.set_xlabel("x (right)", fontsize=6)
    ax.set_ylabel("z (forward)", fontsize=6)
    ax.legend(fontsize=6, loc="best")
    ax.text(0.0, -0.32, textwrap.fill(cam.description or cam.reason, 60), fontsize=7,
            transform=ax.transAxes, va="top")
    return "path"


def _heading_plot(ax: Any, cam: CameraRecord, heads: np.ndarray) -> None:
    """Pan (yaw, + right) and tilt (pitch, + up) of the viewing direction over time."""
    times = [f.timestamp for f in cam.frames]
    yaw = np.degrees(np.arctan2(heads[:, 0], heads[:, 2]))
    pitch = np.degrees(-np.arcsin(np.clip(heads[:, 1], -1, 1)))
    ax.plot(times, yaw, "-o", ms=2, color="#0a84ff", label="pan (+ right)")
    ax.plot(times, pitch, "-o", ms=2, color="#ff9500", label="tilt (+ up)")
    ax.axhline(0, color="#bbb", lw=0.5)
    ax.set_xlabel("time (s)", fontsize=6)
    ax.set_ylabel("heading (deg)", fontsize=6)
    ax.tick_params(labelsize=6)
    ax.legend(fontsize=6, loc="best")
    ax.text(0.0, -0.32, textwrap.fill(cam.description or cam.reason, 60), fontsize=7,
            transform=ax.transAxes, va="top")


def _refs_panel(ax: Any, refs: RefsRecord | None, height: int) -> None:
    from PIL import Image

    from any2capins.conditions.segment import decode_rle, draw_mask

    if refs is None:
        _note(ax, "no reference crops")
        return
    if not refs.crops:
        _note(ax, "no subjects found")
        return
    tiles, labels, x = [], [], 0
    for crop in sorted(refs.crops, key=lambda c: -c.quality)[:6]:
        img = Image.open(io.BytesIO(crop.jpeg)).convert("RGB")
        if crop.mask_rle is not None:  # the subject's mask: tinted, outlined
            mask = decode_rle(crop.mask_rle, crop.crop_height, crop.crop_width)
            if mask.shape == (img.height, img.width):
                img = Image.fromarray(draw_mask(np.asarray(img), mask))
        img = img.resize((max(1, round(img.width * height / max(img.height, 1))), height))
        tiles.append(np.asarray(img))
        mask_note = f" mask={crop.mask_source}" if crop.mask_source else ""
        labels.append((x, f"#{crop.track_id} {crop.label} q={crop.quality:.2f}{mask_note}"))
        tiles.append(np.full((height, 6, 3), 255, np.uint8))
        x += img.width + 6
    ax.imshow(np.concatenate(tiles, axis=1))
    for x0, text in labels:
        ax.text(x0 + 2, 4, text, fontsize=6, color="white", va="top",
                bbox={"facecolor": "black", "alpha": 0.5, "pad": 1, "lw": 0})
    ax.set_title(f"reference crops ({len(refs.crops)}; stitched: "
                 f"{refs.stitched_track_ids or '-'})", fontsize=8, loc="left")
    ax.axis("off")


def render(cc: ClipConditions, cfg: SheetConfig, frames: SampledFrames | str | None) -> bytes:
    """PNG bytes of a contact sheet from the clip's records and its thumbnails (`frames`, or
    a note saying why there are none). Works for clips of any length, 1 frame included."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ok = frames if isinstance(frames, SampledFrames) and len(frames.indices) else None
    indices = list(ok.indices) if ok is not None else _frame_indices(cc, cfg.frames)
    note = frames if isinstance(frames, str) else "frames unavailable"
    aspect = cc.clip.width / max(cc.clip.height, 1)
    # at least 3 columns: the bottom row splits them between the camera panel and the crops
    cols = max(len(indices), 3)
    fig_w = max(cols * cfg.thumb_height * aspect, 3 * cfg.thumb_height * 2) / cfg.dpi
    fig_h = (3 * cfg.thumb_height + 160) / cfg.dpi
    fig = plt.figure(figsize=(fig_w, fig_h), dpi=cfg.dpi)
    try:
        grid = fig.add_gridspec(3, cols, height_ratios=[1, 1, 1.4], hspace=0.35, wspace=0.04)
        _frames_row(fig, grid, cc, indices, frames=None if ok is None else ok.frames, note=note)
        _depth_row(fig, grid, cc, indices)
        split = max(1, cols // 3)
        camera_panel(fig.add_subplot(grid[2, :split]), cc.records.get("camera"))
        _refs_panel(fig.add_subplot(grid[2, split:]), cc.records.get("refs"), cfg.thumb_height)
        c = cc.clip
        tiny = sorted(n for n, r in cc.records.items() if getattr(r, "tiny_model", False))
        warn = f"\nTINY RANDOM TEST MODELS (meaningless values): {', '.join(tiny)}" if tiny else ""
        # a span clip is one shot of its file: say which part the sheet shows
        shot = (f"  [shot {c.span_start_s:.2f}-{c.span_end_s:.2f} s of the file]"
                if c.span_start_s is not None and c.span_end_s is not None else "")
        fig.suptitle(f"{c.clip_id}  {c.uri}{shot}\n{c.width}x{c.height}, {c.duration_s:.1f} s, "
                     f"{c.fps:.1f} fps; conditions: {', '.join(cc.records) or 'none'}{warn}"
                     f"{quality_line(cc.quality)}",
                     fontsize=8, x=0.01, ha="left", color="#a00000" if tiny else "black",
                     y=1.0, va="bottom")  # above the frame titles; the tight bbox grows
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=cfg.dpi, bbox_inches="tight")
    finally:
        plt.close(fig)
    return buf.getvalue()


def _frames_row(fig: Any, grid: Any, cc: ClipConditions, indices: list[int], *,
                frames: np.ndarray | None, note: str) -> None:
    pose = cc.records.get("pose")
    for k, idx in enumerate(indices):
        ax = fig.add_subplot(grid[0, k])
        if frames is None:
            if k == 0:
                _note(ax, textwrap.fill(note[:200], 30))
            else:
                ax.axis("off")
            continue
        ax.imshow(frames[k])
        if pose is not None:
            _draw_pose(ax, pose, idx, frames.shape[2] / max(pose.width, 1))
        ax.set_xlim(0, frames.shape[2])
        ax.set_ylim(frames.shape[1], 0)
        ax.set_title(f"frame {idx}", fontsize=7)
        ax.axis("off")


def _depth_row(fig: Any, grid: Any, cc: ClipConditions, indices: list[int]) -> None:
    depth = cc.records.get("depth")
    for k, idx in enumerate(indices):
        ax = fig.add_subplot(grid[1, k])
        if depth is None or not depth.depth_png:
            if k == 0:
                _note(ax, "no depth condition")
            else:
                ax.axis("off")
            continue
        t = _nearest(depth.frame_indices, idx)
        ax.imshow(_depth_map(depth, t), cmap="turbo")
        ax.set_title(f"depth @ {depth.frame_indices[t]}", fontsize=7)
        ax.axis("off")
