"""Contact sheets: one PNG per clip that an annotator looks at.

Rows: the sampled frames with the pose skeletons drawn on them; the depth maps as a colour
map; then a top-down plot of the camera path (x right, z forward, headings as arrows) titled
with the camera status and motion sentence, next to the reference crops. Every panel reads
whatever condition shard exists for the clip (`conditions/{depth,pose,camera,refs}/` shard N,
where N is the clip's `clips/` shard) and is replaced by a short note when it is absent.

`render_sheet(run_dir, clip_id, cfg)` returns PNG bytes; `write_sheet(s)` store them at
`RUN_DIR/sheets/<clip_id>.png` (local or s3://). Matplotlib runs headless (Agg).
"""

from __future__ import annotations

import io
import logging
import textwrap
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from any2capins.config.sampling import DecodeSettings
from any2capins.config.sheet import SheetConfig
from any2capins.errors import InputError
from any2capins.io import fs
from any2capins.io.arrow import from_table
from any2capins.io.frames import SampledFrames
from any2capins.io.shards import ShardStore
from any2capins.models.camera import CameraRecord
from any2capins.models.clips import ClipRecord
from any2capins.models.conditions import DepthRecord, PoseRecord, RefsRecord

log = logging.getLogger(__name__)
CONDITIONS = {"depth": DepthRecord, "pose": PoseRecord, "camera": CameraRecord,
              "refs": RefsRecord}
# COCO-17 skeleton (keypoint index pairs), drawn when the pose model names 17 keypoints
COCO_EDGES = ((15, 13), (13, 11), (16, 14), (14, 12), (11, 12), (5, 11), (6, 12), (5, 6),
              (5, 7), (6, 8), (7, 9), (8, 10), (1, 2), (0, 1), (0, 2), (1, 3), (2, 4), (3, 5),
              (4, 6))


@dataclass
class ClipConditions:
    clip: ClipRecord
    shard: int
    records: dict[str, Any] = field(default_factory=dict)  # condition name -> record


def load_clip(run_dir: str, clip_id: str) -> ClipConditions:
    """The clip's row and every condition record that exists for it."""
    store = ShardStore(run_dir)
    for index in store.shard_indices("clips"):
        clips = [c for c in store.read_shard("clips", index, ClipRecord) if c.clip_id == clip_id]
        if clips:
            return load_shard(run_dir, index, only={clip_id})[0]
    raise InputError(f"clip {clip_id!r} is not in {run_dir}/clips/")


def load_shard(run_dir: str, index: int, only: set[str] | None = None) -> list[ClipConditions]:
    """Every clip of clips/ shard `index` (or those in `only`) with its condition records;
    each condition table is read once."""
    store = ShardStore(run_dir)
    out = {c.clip_id: ClipConditions(c, index) for c in store.read_shard("clips", index, ClipRecord)
           if only is None or c.clip_id in only}
    for name, model in CONDITIONS.items():
        loc = store.data_loc(f"conditions/{name}", index)
        if not fs.exists(loc):
            continue
        for rec in from_table(fs.read_table(loc), model):
            if rec.clip_id in out and name not in out[rec.clip_id].records:
                out[rec.clip_id].records[name] = rec
    return list(out.values())


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


def decode_sheet_frames(clip: ClipRecord, cfg: SheetConfig,
                        settings: DecodeSettings | None = None) -> SampledFrames:
    """The sheet's thumbnails decoded on their own (the `sheet` command; during extract they
    come from the clip's one decode pass). DecodeError when the clip does not decode."""
    import tempfile
    from pathlib import Path

    from any2capins.conditions.plan import sheet_request
    from any2capins.io.frames import decode_plan

    path = fs.local_copy(clip.uri, str(Path(tempfile.gettempdir()) / "any2capins-cache"))
    return decode_plan(path, clip, {"sheet": sheet_request(cfg)}, settings=settings)["sheet"]


def _nearest(indices: list[int], target: int) -> int:
    return int(np.argmin([abs(i - target) for i in indices]))


def _draw_pose(ax: Any, pose: PoseRecord, frame_index: int, scale: float) -> None:
    if not pose.frame_indices:
        return
    t = _nearest(pose.frame_indices, frame_index)
    edges = COCO_EDGES if len(pose.keypoint_names) == 17 else ()
    colours = ("#ff3b30", "#34c759", "#0a84ff", "#ffcc00", "#af52de", "#ff9500")
    for track in pose.tracks:
        if not track.present[t]:
            continue
        kp = np.asarray(track.keypoints[t], float)
        colour = colours[track.track_id % len(colours)]
        ok = kp[:, 2] > 0.2
        for a, b in edges:
            if a < len(kp) and b < len(kp) and ok[a] and ok[b]:
                ax.plot(kp[[a, b], 0] * scale, kp[[a, b], 1] * scale, color=colour, lw=1.2)
        ax.scatter(kp[ok, 0] * scale, kp[ok, 1] * scale, s=4, color=colour)
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

    if refs is None:
        _note(ax, "no reference crops")
        return
    if not refs.crops:
        _note(ax, "no subjects found")
        return
    tiles, labels, x = [], [], 0
    for crop in sorted(refs.crops, key=lambda c: -c.quality)[:6]:
        img = Image.open(io.BytesIO(crop.jpeg)).convert("RGB")
        img = img.resize((max(1, round(img.width * height / max(img.height, 1))), height))
        tiles.append(np.asarray(img))
        labels.append((x, f"#{crop.track_id} {crop.label} q={crop.quality:.2f}"))
        tiles.append(np.full((height, 6, 3), 255, np.uint8))
        x += img.width + 6
    ax.imshow(np.concatenate(tiles, axis=1))
    for x0, text in labels:
        ax.text(x0 + 2, 4, text, fontsize=6, color="white", va="top",
                bbox={"facecolor": "black", "alpha": 0.5, "pad": 1, "lw": 0})
    ax.set_title(f"reference crops ({len(refs.crops)}; stitched: "
                 f"{refs.stitched_track_ids or '-'})", fontsize=8, loc="left")
    ax.axis("off")


def render_sheet(run_dir: str, clip_id: str, cfg: SheetConfig | None = None,
                 settings: DecodeSettings | None = None) -> bytes:
    """PNG bytes of the clip's contact sheet (frames decoded here, with the run's `decode:`
    `settings`)."""
    cfg = cfg or SheetConfig()
    cc = load_clip(run_dir, clip_id)
    return render(cc, cfg, _own_frames(cc, cfg, settings))


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
                     f"{c.fps:.1f} fps; conditions: {', '.join(cc.records) or 'none'}{warn}",
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


def write_sheet(run_dir: str, clip_id: str, cfg: SheetConfig | None = None,
                out: str | None = None, settings: DecodeSettings | None = None) -> str:
    """Render and store one sheet (default RUN_DIR/sheets/<clip_id>.png); returns its URI."""
    loc = fs.resolve(out) if out else ShardStore(run_dir).root.join("sheets", f"{clip_id}.png")
    fs.write_bytes_atomic(loc, render_sheet(run_dir, clip_id, cfg, settings))
    return loc.uri()


def write_sheets(run_dir: str, cfg: SheetConfig | None = None,
                 settings: DecodeSettings | None = None) -> list[str]:
    """A sheet for every clip of the run (`sheet --all`); a clip whose sheet cannot be drawn
    is logged and left out, never stopping the others."""
    store = ShardStore(run_dir)
    cfg = cfg or SheetConfig()
    out = []
    for index in store.shard_indices("clips"):
        for cc in load_shard(run_dir, index):
            try:
                out.append(_store(run_dir, cc, cfg, _own_frames(cc, cfg, settings)))
            except Exception as exc:  # noqa: BLE001 - one bad clip must not stop the rest
                log.warning("sheet %s: %s: %s", cc.clip.clip_id, type(exc).__name__, exc)
    return out


def _own_frames(cc: ClipConditions, cfg: SheetConfig,
                settings: DecodeSettings | None = None) -> SampledFrames | str:
    try:
        return decode_sheet_frames(cc.clip, cfg, settings)
    except Exception as exc:  # noqa: BLE001 - a sheet shows what it can; the panel says why
        return f"frames unavailable: {exc}"


def _store(run_dir: str, cc: ClipConditions, cfg: SheetConfig,
           frames: SampledFrames | str | None) -> str:
    loc = ShardStore(run_dir).root.join("sheets", f"{cc.clip.clip_id}.png")
    fs.write_bytes_atomic(loc, render(cc, cfg, frames))
    return loc.uri()


def write_shard_sheets(run_dir: str, index: int, cfg: SheetConfig,
                       plans: Mapping[str, Any]) -> tuple[int, list[str]]:
    """Sheets of clips/ shard `index` during extract, thumbnails from each clip's decode pass
    (`plans`: clip id -> ClipPlan with a 'sheet' request). Returns (written, problems): a clip
    whose sheet cannot be drawn is a logged, counted problem, never an exception."""
    written, problems = 0, []
    for cc in load_shard(run_dir, index):
        plan = plans.get(cc.clip.clip_id)
        if plan is None:
            frames: SampledFrames | str | None = "not decoded in this run"
        elif plan.error is not None:
            frames = f"frames unavailable: {plan.error}"
        else:
            frames = plan.frames.get("sheet")
        try:
            _store(run_dir, cc, cfg, frames)
            written += 1
        except Exception as exc:  # noqa: BLE001 - a sheet is a convenience, never a crash
            msg = f"sheet {cc.clip.clip_id}: {type(exc).__name__}: {exc}"
            log.warning("%s", msg)
            problems.append(msg)
    return written, problems
