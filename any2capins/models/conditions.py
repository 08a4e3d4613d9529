"""Records of the condition stages: `conditions/depth/`, `conditions/pose/`, `conditions/refs/`.

Coordinates (boxes, keypoints) are pixels of the clip's full-resolution display frame
(`ClipRecord.width` x `ClipRecord.height`), whatever resolution the stage decoded at.
Boxes are [x1, y1, x2, y2]. `frame_indices` are frame numbers of the source clip.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from any2capins.models.common import Record


class ConditionBase(Record):
    clip_id: str
    uri: str
    model: str = Field(description="Model id or folder that produced the output.")
    tiny_model: bool = Field(description="True when made with tiny random test models: "
                             "the values are meaningless.")
    frame_indices: list[int] = Field(description="Per sampled frame, its position in the clip: "
                                     "0-based, presentation order (inside the span for a shot "
                                     "clip).")
    timestamps: list[float] = Field(description="Per sampled frame, its presentation time in "
                                    "seconds from the start of the file's video stream (for a "
                                    "shot clip within [span_start_s, span_end_s), not from 0).")
    seconds: float = Field(description="Wall time spent on this clip (decode + models; "
                           "in extract the decode is shared, see `decode_seconds`).")
    frames_requested: int = Field(0, description="Frames the stage's sampling planned for the "
                                  "clip; `len(frame_indices)` is what it got.")
    decode_warnings: list[str] = Field(
        default_factory=list, description="What decoding reported for these frames (damaged "
        "packets, frames replaced by the nearest decoded one); empty when clean.")
    decode_seconds: float = Field(0.0, description="Wall time of the clip's decode pass "
                                  "(shared by every stage of one extract).")


class DepthStats(Record):
    """Statistics of the restored depth over all frames of a clip."""

    min: float = Field(description="Smallest value (relative inverse depth, no unit).")
    max: float = Field(description="Largest value (relative inverse depth, no unit).")
    mean: float = Field(description="Mean value (relative inverse depth, no unit).")
    std: float = Field(description="Standard deviation (relative inverse depth, no unit).")
    p05: float = Field(description="5th percentile (relative inverse depth, no unit).")
    p95: float = Field(description="95th percentile (relative inverse depth, no unit).")


class DepthRecord(ConditionBase):
    """Per clip: one 16-bit PNG per sampled frame. Restore frame i as
    `depth = scale_min[i] + png_u16 / 65535 * (scale_max[i] - scale_min[i])` (float32); the
    quantisation step is `(scale_max[i] - scale_min[i]) / 65535`. Depth Anything predicts
    relative inverse depth (larger = nearer), with no metric unit."""

    kind: str = Field("relative_inverse_depth", description="What the values mean.")
    encoding: str = Field("png16", description="'png16': 16-bit grayscale PNG per frame.")
    width: int = Field(description="Stored depth map width in pixels (the decoded frames' size "
                       "capped at depth.store_max_side on the longest side; not the clip's "
                       "width).")
    height: int = Field(description="Stored depth map height in pixels (see `width`).")
    depth_png: list[bytes] = Field(description="Per sampled frame, a 16-bit grayscale PNG "
                                   "(`width` x `height`) of the quantised depth; restore with "
                                   "`scale_min`/`scale_max`.")
    scale_min: list[float] = Field(description="Depth value of PNG level 0, per frame.")
    scale_max: list[float] = Field(description="Depth value of PNG level 65535, per frame.")
    stats: DepthStats = Field(description="Statistics of the predicted float depth maps (before "
                              "16-bit quantisation) over every pixel of every sampled frame.")


class PoseTrack(Record):
    """One person over time. Arrays are aligned with the clip's sampled frames (length T);
    frames where the track is absent have `present=False`, a zero box and zero keypoints."""

    track_id: int = Field(description="Stable within the clip, numbered from 0.")
    present: list[bool] = Field(description="[T] whether the person was detected in frame t.")
    boxes: list[list[float]] = Field(description="[T, 4] person box [x1, y1, x2, y2], pixels of "
                                     "the full-resolution display frame (`width` x `height`); "
                                     "zeros when absent.")
    box_scores: list[float] = Field(description="[T] detector score (0 when absent).")
    keypoints: list[list[list[float]]] = Field(
        description="[T, K, 3] x, y (pixels of the full-resolution display frame), score (model "
        "confidence clipped to 0..1); K in `keypoint_names` order; zeros when absent.")
    coverage: float = Field(description="Share of the clip's sampled frames with the person.")
    mean_box_score: float = Field(description="Mean detector score where present.")
    mean_keypoint_score: float = Field(description="Mean keypoint score where present.")
    quality: float = Field(description="coverage * mean_box_score * mean_keypoint_score.")


class PoseRecord(ConditionBase):
    """Per clip: pose tracks. Zero tracks (no people) is a valid result."""

    backend: str = Field(description="'dwpose', 'vitpose' or 'mmpose'.")
    detector: str = Field(description="Person detector model id or folder.")
    width: int = Field(description="Coordinate frame width (display pixels).")
    height: int = Field(description="Coordinate frame height (display pixels).")
    keypoint_names: list[str] = Field(description="[K] keypoint names in the order of the "
                                      "keypoints' K axis, from the pose model (the default "
                                      "DWPose: the 133 COCO-WholeBody keypoints; ViTPose: the "
                                      "17 COCO keypoints, nose first).")
    keypoint_layout: str = Field(
        "custom", description="Layout of `keypoint_names` (any2capins.models.skeleton): "
        "'coco_wholebody133' (K=133: 17 body, 6 feet, 68 face, 21 left hand, 21 right hand), "
        "'coco17' (K=17 body) or 'custom' (another list; rows written before this column read "
        "as 'custom' and are resolved from their names).")
    tracks: list[PoseTrack] = Field(description="One entry per tracked person, by track_id "
                                    "(order of first appearance); empty when nobody was found.")


class RefCrop(Record):
    """The best crop of one tracked subject."""

    track_id: int = Field(description="Id of the subject's track in this refs row (numbered "
                          "from 0 by first appearance; the refs stage tracks every detected "
                          "class, so the ids are not pose track ids).")
    label: str = Field(description="Detector class name, e.g. 'person'.")
    frame_index: int = Field(description="Position in the clip (0-based, presentation order) "
                             "of the frame the crop comes from.")
    timestamp: float = Field(description="Presentation time of that frame in seconds from the "
                             "start of the file's video stream (as `timestamps`).")
    box: list[float] = Field(description="Subject box [x1, y1, x2, y2], pixels of the "
                             "full-resolution display frame.")
    crop_box: list[float] = Field(description="Cropped region [x1, y1, x2, y2] (box plus "
                                  "refs.margin of its size each side, clipped to the frame), "
                                  "pixels of the full-resolution display frame.")
    score: float = Field(description="Detector score of the chosen box.")
    sharpness: float = Field(description="Laplacian variance of the crop (grayscale).")
    area_frac: float = Field(description="Box area / frame area.")
    edge_cut: bool = Field(description="Box touches the frame border.")
    quality: float = Field(description="Ranking score (size, sharpness, score, edge; halved "
                           "when the crop's mask is the box stand-in, `mask_source` 'box').")
    frames_seen: int = Field(description="Sampled frames the track was detected in.")
    jpeg: bytes = Field(description="JPEG of the crop (RGB, refs.jpeg_quality), cut from the "
                        "decoded frame: its size is `crop_width` x `crop_height`.")
    crop_width: int = Field(description="Width of the JPEG in pixels: the crop at the decoded "
                            "frames' resolution (longest side capped by the sampling's "
                            "max_side), not in display pixels.")
    crop_height: int = Field(description="Height of the JPEG in pixels (see `crop_width`).")
    cutout_jpeg: bytes | None = Field(
        None, description="JPEG of the subject cut out: the crop with every pixel outside "
        "`mask_rle` set to refs.cutout_color (same size as `jpeg`); None without a mask "
        "(refs.segment none, or a subject beyond refs.sam2.max_subjects).")
    mask_rle: str | None = Field(
        None, description="The subject's mask inside the crop, COCO compressed RLE counts of "
        "a [crop_height, crop_width] mask (the JPEG's pixels; decode with pycocotools "
        "`mask.decode({'size': [crop_height, crop_width], 'counts': mask_rle})`); None "
        "without a mask.")
    mask_area: int | None = Field(None, description="Pixels of `mask_rle` (mask pixels inside "
                                  "the crop); None without a mask.")
    mask_source: Literal["prompt", "propagated", "box"] | None = Field(
        None, description="Where the crop's mask comes from (as `masks[].sources`): 'prompt', "
        "'propagated' or 'box'; None without a mask.")


MaskSource = Literal["prompt", "propagated", "box", "none"]


class RefMasks(Record):
    """SAM2 masks of one subject over the clip's sampled frames: arrays of length T, aligned
    with `frame_indices`. Each mask is `mask_height` x `mask_width` (the decoded frames),
    stored as COCO compressed RLE, and lies inside the subject's box grown by
    refs.sam2.clip_margin; a frame with a box always has a non-empty mask."""

    track_id: int = Field(description="The subject's track id (as `crops[].track_id`).")
    rle: list[str | None] = Field(
        description="[T] COCO compressed RLE counts of the mask (decode with pycocotools "
        "`mask.decode({'size': [mask_height, mask_width], 'counts': rle[t]})`); None where "
        "the tracker has no box for the subject in frame t.")
    areas: list[int] = Field(description="[T] mask pixels (0 where `rle` is None).")
    scores: list[float] = Field(
        description="[T] SAM2's object score in frame t: the probability that the subject is "
        "visible; 0 where SAM2 did not run for the subject on that frame.")
    sources: list[MaskSource] = Field(
        description="[T] where the mask comes from: 'prompt' (SAM2's answer to that frame's "
        "box), 'propagated' (SAM2's video propagation from the prompted frame), 'box' (SAM2 "
        "gave no mask above refs.sam2.score_threshold inside the grown box: the box "
        "rectangle stands in), 'none' (no box in that frame: no mask).")


class RefsRecord(ConditionBase):
    """Per clip: best crop per subject (people first, then by quality) and one stitched image
    of the best `max_subjects` crops side by side (None when no subject was found)."""

    width: int = Field(description="Coordinate frame width (display pixels).")
    height: int = Field(description="Coordinate frame height (display pixels).")
    crops: list[RefCrop] = Field(description="One crop per kept track, ranked: people first, "
                                 "then by quality x sqrt(share of frames seen); empty when no "
                                 "subject was found.")
    stitched_jpeg: bytes | None = Field(None, description="JPEG of the best refs.max_subjects "
                                        "crops resized to refs.stitch_height pixels high and "
                                        "placed left to right; None when no subject was found.")
    stitched_track_ids: list[int] = Field(
        default_factory=list, description="Track ids in the stitched image, left to right.")
    segment: Literal["sam2", "none"] = Field(
        "none", description="How subjects were segmented (refs.segment): 'sam2', or 'none' "
        "(no masks, no cut-outs; rows written before masks existed read as 'none').")
    segment_model: str | None = Field(None, description="SAM2 model id or folder; None "
                                      "without segmentation.")
    mask_width: int = Field(0, description="Width of the per-frame masks in pixels: the "
                            "decoded frames' size, not display pixels (scale by "
                            "`width / mask_width`); 0 without segmentation.")
    mask_height: int = Field(0, description="Height of the per-frame masks (see `mask_width`).")
    masks: list[RefMasks] = Field(
        default_factory=list, description="Per segmented subject (in `crops` order), its "
        "masks over the sampled frames; empty without segmentation.")
