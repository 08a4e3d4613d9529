"""Contact sheets: drawn from every condition present, panels skipped when one is absent,
written by the CLI and (when enabled) for every clip by extract."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from conditions_helpers import make_run, tiny_overrides
from PIL import Image

from any2capins.cli import main
from any2capins.conditions.sheet import camera_panel
from any2capins.conditions.sheet_stage import SheetStage
from any2capins.config.sheet import SheetConfig
from any2capins.io.shards import ShardStore
from any2capins.models.clips import ClipRecord
from any2capins.models.sheets import SheetRecord
from any2capins.runtime.once import find_item, process_items


def draw(run: Path, clip_id: str, cfg: SheetConfig) -> tuple[SheetRecord, bytes]:
    """The clip's sheet drawn through the runtime (its frames decoded, its condition rows
    read) to a file beside the run folder: (record, PNG bytes)."""
    index, clip = find_item(ShardStore(str(run)), "clips", ClipRecord, clip_id)
    out = run.parent / f"{clip_id}-{run.name}.png"
    rec = process_items(SheetStage(cfg, str(run), out=str(out)), [clip], index, str(run))[0]
    assert isinstance(rec, SheetRecord), rec
    return rec, out.read_bytes()


@pytest.fixture(scope="module")
def extracted(tmp_path_factory) -> tuple[Path, list[ClipRecord]]:
    """A run with every condition extracted (tiny models) and sheets written by extract."""
    run = make_run(tmp_path_factory.mktemp("sheet"), bad=False)
    sets = [f"--set={o}" for o in [*tiny_overrides(), "runtime.executor=local",
                                   "camera.count=6", "camera.max_side=192",
                                   "sheet.during_extract=true", "sheet.thumb_height=80"]]
    assert main(["extract", "--run", str(run), *sets]) == 0
    return run, ShardStore(str(run)).read_shard("clips", 0, ClipRecord)


def _png(data: bytes) -> np.ndarray:
    img = Image.open(io.BytesIO(data))
    assert img.format == "PNG"
    return np.asarray(img.convert("RGB"))


def test_extract_writes_a_sheet_per_clip_with_every_condition(extracted):
    run, clips = extracted
    records = {r.clip_id: r for r in ShardStore(str(run)).read_shard("sheets", 0, SheetRecord)}
    for clip in clips:
        assert set(records[clip.clip_id].conditions) == {"depth", "pose", "camera", "refs"}
        sheet = run / records[clip.clip_id].path
        img = _png(sheet.read_bytes())
        assert img.shape[0] > 200 and img.shape[1] > 300
        assert img.std() > 20  # drawn content, not a blank page


def test_cli_sheet_for_one_clip_and_missing_conditions(extracted, tmp_path):
    run, clips = extracted
    out = tmp_path / "one.png"
    assert main(["sheet", "--run", str(run), "--clip", clips[0].clip_id, "--out", str(out)]) == 0
    full = _png(out.read_bytes())
    # the same clip with no condition shards at all: frames only, no crash
    bare = tmp_path / "bare"
    (bare / "clips").mkdir(parents=True)
    for p in (run / "clips").iterdir():
        (bare / "clips" / p.name).write_bytes(p.read_bytes())
    rec, png = draw(bare, clips[0].clip_id, SheetConfig(thumb_height=80))
    assert rec.conditions == [] and rec.frames_note is None
    img = _png(png)
    assert img.std() > 20
    assert img.shape != full.shape or not np.array_equal(img, full)


def test_unknown_clip_is_an_input_error(extracted):
    run, _ = extracted
    assert find_item(ShardStore(str(run)), "clips", ClipRecord, "0" * 16) is None
    assert main(["sheet", "--run", str(run), "--clip", "0" * 16]) == 2


def test_sheet_draws_a_translating_camera_path(tmp_path):
    """Camera-only run whose record has a moving centre (the path plot, not the heading plot);
    the arrows and the sentence are drawn, and a missing video leaves a note, not a crash."""
    from conditions_helpers import probe_clip, write_clips

    from any2capins.conditions.camera.geometry import make_pose
    from any2capins.io.arrow import to_table
    from any2capins.models.camera import CameraFrame, CameraRecord, MotionSegment

    clip = probe_clip(Path(__file__).resolve().parents[1] / "examples/clips/vp9_bear.webm")
    run = tmp_path / "run"
    write_clips(run, [[clip]])
    frames = [CameraFrame(frame_index=k, timestamp=k / 10, fx=500, fy=500, cx=320, cy=180,
                          cam_from_world=make_pose(np.eye(3), np.array([0.1 * k, 0, 0.02 * k]))
                          .reshape(-1).tolist(), registered=True) for k in range(8)]
    rec = CameraRecord(clip_id=clip.clip_id, uri=clip.uri, status="ok", reason="8 of 8",
                       width=clip.width, height=clip.height, sfm_width=320, sfm_height=180,
                       frames=frames, num_sampled=8, num_registered=8,
                       segments=[MotionSegment(label="truck right", speed="slow", start_s=0,
                                               end_s=0.7, rate=3.0)],
                       description="The camera trucks slowly right.", seconds=1.0)
    ShardStore(str(run)).write_table("conditions/camera/shard-00000.parquet",
                                     to_table([rec], CameraRecord))
    img = _png(draw(run, clip.clip_id, SheetConfig(thumb_height=80, frames=4))[1])
    assert img.std() > 20
    # orange heading arrows are drawn in the camera panel (lower left of the sheet)
    lower_left = img[img.shape[0] // 2:, : img.shape[1] // 3].astype(int)
    orange = (lower_left[..., 0] > 200) & (abs(lower_left[..., 1] - 149) < 40) & \
        (lower_left[..., 2] < 80)
    assert orange.sum() > 20
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    still = rec.model_copy(update={"frames": [f.model_copy(update={
        "cam_from_world": [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0]}) for f in frames]})
    failed = rec.model_copy(update={"status": "failed", "frames": []})
    assert [camera_panel(ax, r) for r in (rec, still, failed, None)] == [
        "path", "heading", "note", "note"]
    plt.close(fig)
    gone = clip.model_copy(update={"uri": str(tmp_path / "missing.webm")})
    write_clips(run, [[gone]])
    rec, png = draw(run, clip.clip_id, SheetConfig(thumb_height=80))
    assert rec.frames_note and _png(png).std() > 20


@pytest.mark.parametrize("n", [1, 2, 6])
def test_sheet_of_a_tiny_clip(tmp_path, n):
    """1 to 6 frames: the grid keeps room for the camera panel and the crops (this raised
    'IndexError: GridSpec slice' for 1-2 frames)."""
    from conditions_helpers import probe_clip

    from any2capins.conditions.sheet import ClipConditions, render
    from any2capins.io.frames import SampledFrames

    clip = probe_clip(Path(__file__).resolve().parent / "data/videos/h264_1frame.mp4")
    frames = SampledFrames(list(range(n)), [k / 10 for k in range(n)],
                           np.full((n, 32, 48, 3), 200, np.uint8), (clip.width, clip.height))
    img = _png(render(ClipConditions(clip), SheetConfig(thumb_height=40), frames))
    assert img.shape[0] > 100 and img.std() > 5
    note = _png(render(ClipConditions(clip), SheetConfig(thumb_height=40), "decoder said no"))
    assert note.shape[0] > 100


def test_extract_sheet_problem_is_an_error_row_not_a_crash(tmp_path, capsys, monkeypatch):
    """A sheet that cannot be drawn is the clip's error row of the sheet stage (a failure is
    data): extract exits 0 without a traceback; once drawing works, --force draws it."""
    import any2capins.conditions.sheet_stage as sheet_stage

    run = make_run(tmp_path, bad=False, names=("people_selfie_1s.mp4",))

    def broken(*args, **kwargs):
        raise IndexError("GridSpec slice would result in no space allocated for subplot")

    monkeypatch.setattr(sheet_stage, "render", broken)
    args = ["extract", "--run", str(run), "--stages", "depth",
            *(f"--set={o}" for o in [*tiny_overrides(), "runtime.executor=local",
                                     "sheet.during_extract=true"])]
    assert main(args) == 0
    out = capsys.readouterr()
    assert "Traceback" not in out.err
    errors = ShardStore(str(run)).read_errors("sheet")
    assert [e.error_class for e in errors] == ["IndexError"]
    monkeypatch.undo()
    assert main([*args, "--force"]) == 0
    assert ShardStore(str(run)).read_errors("sheet") == []
    assert (run / "sheets" / f"{errors[0].clip_id}.png").stat().st_size > 1000
