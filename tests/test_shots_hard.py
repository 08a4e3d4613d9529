"""Shot detection on the inputs that shred a frame-difference detector: fast motion at a low
frame rate (pans, a whip pan, zooms), camera flashes and a short dissolve. Each fixture is also
checked with `dense_cuts=keep` (every detector cut kept), so the tests show what resolving
changes and fail if the fixture stops being hard."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
from shots_media import (
    dissolve,
    fast_pan,
    flashes,
    low_fps_cuts,
    low_fps_pan,
    low_fps_zoom,
    multi_shot,
    whip_pan,
)

from any2capins.config import load_config
from any2capins.config.ingest import ShotsConfig
from any2capins.ingest.cuts import aligned_distance
from any2capins.ingest.run import run_ingest
from any2capins.ingest.shots import ShotScan, detect_shots
from any2capins.io.shards import ShardStore
from any2capins.models import ClipRecord

DETECTORS = ["content", "adaptive"]


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("hard")
    low_fps_pan(d / "pan6.mp4")
    low_fps_cuts(d / "cuts6.mp4")
    whip_pan(d / "whip12.mp4")
    low_fps_zoom(d / "zoom6.mp4")
    low_fps_zoom(d / "zoomcut6.mp4", (18, 18))
    flashes(d / "flash.mp4")
    dissolve(d / "dissolve.mp4")
    return {p.stem: p for p in d.iterdir()}


def starts(scan: ShotScan) -> list[int]:
    return [s.start_frame for s in scan.shots]


def assert_tiles(scan: ShotScan) -> None:
    """Kept and dropped shots cover every frame once: nothing is lost without a record."""
    pieces = sorted((s.start_frame, s.end_frame) for s in [*scan.shots, *scan.dropped])
    assert pieces[0][0] == 0 and pieces[-1][1] == scan.frames
    assert all(a[1] == b[0] for a, b in itertools.pairwise(pieces))


@pytest.mark.parametrize("detector", DETECTORS)
def test_low_fps_fast_pan_is_one_shot(media: dict[str, Path], detector: str) -> None:
    scan = detect_shots(str(media["pan6"]), ShotsConfig(detector=detector))
    assert (starts(scan), scan.frames, scan.dropped) == ([0], 36, [])
    if detector == "content":  # the detector fires at every frame; a shift explains each
        assert scan.detector_cuts >= 30 and scan.resolution.motion == scan.detector_cuts
        assert "explained by camera motion" in scan.note
        shredded = detect_shots(str(media["pan6"]), ShotsConfig(dense_cuts="keep"))
        assert (shredded.shots, len(shredded.dropped)) == ([], 36)


def test_low_fps_cuts_in_fast_motion_are_exact(media: dict[str, Path]) -> None:
    scan = detect_shots(str(media["cuts6"]), ShotsConfig())
    assert starts(scan) == [0, 12, 26] and [s.num_frames for s in scan.shots] == [12, 14, 10]
    assert scan.dropped == [] and scan.cuts == 2
    assert scan.shots[1].start_s == pytest.approx(12 / 6 - 0.001, abs=1e-6)


def test_adaptive_does_not_shred_low_fps_cuts(media: dict[str, Path]) -> None:
    """The adaptive detector's ratio test hides these cuts (measured: 0 of 2 found), but the
    video still comes out whole, never in pieces."""
    scan = detect_shots(str(media["cuts6"]), ShotsConfig(detector="adaptive"))
    assert scan.dropped == [] and len(scan.shots) <= 3
    assert_tiles(scan)


@pytest.mark.parametrize("detector", DETECTORS)
def test_whip_pan_at_12_fps_is_not_cut(media: dict[str, Path], detector: str) -> None:
    scan = detect_shots(str(media["whip12"]), ShotsConfig(detector=detector))
    assert (starts(scan), scan.dropped) == ([0], [])
    if detector == "content":
        assert len(detect_shots(str(media["whip12"]), ShotsConfig(dense_cuts="keep")).dropped)


def test_fast_zoom_is_one_shot_and_a_cut_in_it_is_kept(media: dict[str, Path]) -> None:
    """No shift explains a zoom; the detector fires on most frames and the cut is the one
    frame that stands out from that."""
    zoom = detect_shots(str(media["zoom6"]), ShotsConfig())
    assert (starts(zoom), zoom.dropped) == ([0], [])
    assert zoom.resolution.weak > 10
    cut = detect_shots(str(media["zoomcut6"]), ShotsConfig())
    assert (starts(cut), cut.dropped) == ([0, 18], [])
    assert len(detect_shots(str(media["zoomcut6"]), ShotsConfig(dense_cuts="keep")).dropped) > 10


@pytest.mark.parametrize("detector", DETECTORS)
def test_flashes_stay_inside_their_shot(media: dict[str, Path], detector: str) -> None:
    scan = detect_shots(str(media["flash"]), ShotsConfig(detector=detector))
    assert (starts(scan), scan.frames, scan.dropped) == ([0], 75, [])
    assert scan.resolution.flashes == scan.detector_cuts // 2 >= 1
    kept = detect_shots(str(media["flash"]), ShotsConfig(detector=detector, dense_cuts="keep"))
    assert len(kept.shots) >= 2 and kept.dropped  # what resolving avoids


def test_short_dissolve_is_one_boundary(media: dict[str, Path]) -> None:
    scan = detect_shots(str(media["dissolve"]), ShotsConfig())
    (_, second) = scan.shots
    assert 30 <= second.start_frame <= 32 and scan.dropped == []  # blends are frames 30-31
    assert (scan.detector_cuts, scan.cuts, scan.resolution.transitions) == (2, 1, 1)
    adaptive = detect_shots(str(media["dissolve"]), ShotsConfig(detector="adaptive"))
    assert len(adaptive.shots) <= 2 and adaptive.dropped == []


@pytest.mark.parametrize("name", ["pan6", "cuts6", "whip12", "zoom6", "zoomcut6", "flash",
                                  "dissolve"])
def test_every_frame_is_in_a_shot_or_recorded(media: dict[str, Path], name: str) -> None:
    for mode in ("resolve", "keep"):
        assert_tiles(detect_shots(str(media[name]), ShotsConfig(dense_cuts=mode)))


def test_ordinary_edits_are_untouched(tmp_path: Path) -> None:
    """Cuts with no short piece beside them are the detector's, resolved or not; a real short
    shot between two cuts is still dropped and recorded, not merged away."""
    multi_shot(tmp_path / "m.mp4", [30, 5, 20, 25])
    for detector in DETECTORS:
        got = [detect_shots(str(tmp_path / "m.mp4"), ShotsConfig(detector=detector,
                                                                  dense_cuts=mode))
               for mode in ("resolve", "keep")]
        assert starts(got[0]) == starts(got[1]) == [0, 35, 55]
        assert [d.start_frame for d in got[0].dropped] == [30]
    fast_pan(tmp_path / "pan.mp4")
    assert detect_shots(str(tmp_path / "pan.mp4"), ShotsConfig()).detector_cuts == 0


def test_a_shredded_video_is_never_silent(media: dict[str, Path], tmp_path: Path) -> None:
    """Resolved, the 6 fps pan is one whole-file clip; with every cut kept each piece is a
    ShotTooShort row and the video row says no_clips."""
    def ingest(run: Path, mode: str):
        return run_ingest(str(media["pan6"]), str(run), load_config([], [
            "runtime.executor=local", "runtime.progress=false",
            f"ingest.shots.dense_cuts={mode}"]))

    out = ingest(tmp_path / "a", "resolve")
    (clip,) = ShardStore(str(tmp_path / "a")).read_all("clips", ClipRecord)
    assert clip.span_start_s is None and [v.status for v in out.videos] == ["ok"]
    out = ingest(tmp_path / "b", "keep")
    store = ShardStore(str(tmp_path / "b"))
    assert store.read_all("clips", ClipRecord) == []
    errors = store.read_errors("ingest")
    assert len(errors) == 36 and {e.error_class for e in errors} == {"ShotTooShort"}
    assert [(v.status, v.shots_dropped) for v in out.videos] == [("no_clips", 36)]


def test_aligned_distance_explains_shifts_not_cuts() -> None:
    import cv2

    rng = np.random.default_rng(1)
    big = cv2.GaussianBlur(rng.integers(0, 256, (144, 400, 3), dtype=np.uint8), (7, 7), 0)
    other = cv2.GaussianBlur(rng.integers(0, 256, (144, 256, 3), dtype=np.uint8), (7, 7), 0)

    def planes(img: np.ndarray) -> tuple[np.ndarray, ...]:
        return tuple(cv2.split(cv2.cvtColor(np.ascontiguousarray(img), cv2.COLOR_BGR2HSV)))

    def plain(x: tuple[np.ndarray, ...], y: tuple[np.ndarray, ...]) -> float:
        return sum(np.abs(p.astype(int) - q.astype(int)).mean()
                   for p, q in zip(x, y, strict=True)) / 3

    a, shifted, b = planes(big[:, :256]), planes(big[:, 60:316]), planes(other)  # pan: 23 %
    assert aligned_distance(a, shifted) < 0.1 * plain(a, shifted)
    assert aligned_distance(a, b) == pytest.approx(plain(a, b), rel=0.2)  # no shift explains
    assert aligned_distance(a, a) == 0.0


def test_the_default_leaves_fingerprints_of_earlier_run_folders_alone() -> None:
    """`dense_cuts` came later: with its default it adds nothing to the ingest fingerprint, so
    a rerun on a folder ingested before does not redo ingest and every stage after it."""
    from any2capins.config.ingest import IngestConfig
    from any2capins.ingest.stage import ProbeStage

    default = ProbeStage(IngestConfig()).fingerprint()
    assert "dense_cuts" not in default["shots"]
    keep = ProbeStage(IngestConfig.model_validate({"shots": {"dense_cuts": "keep"}}))
    assert keep.fingerprint()["shots"]["dense_cuts"] == "keep"


@pytest.mark.parametrize("detector", ["content", "adaptive"])
def test_a_mid_stream_resolution_change_is_scanned_whole(detector: str) -> None:
    """Frames 10-19 are twice the size of frames 0-9: every frame goes to the detector at the
    first frame's scaled size (PySceneDetect compares same-size frames; this used to raise
    cv2.error and lose the video). Whether the splice reads as a cut is the detector's call."""
    path = Path(__file__).parent / "data" / "videos" / "h264_resolution_change.mkv"
    scan = detect_shots(str(path), ShotsConfig(detector=detector))
    assert scan.frames == 20 and scan.dropped == []
    assert scan.shots[0].start_frame == 0 and scan.shots[-1].end_frame == 20
    assert all(a.end_frame == b.start_frame for a, b in zip(scan.shots, scan.shots[1:],
                                                            strict=False))
