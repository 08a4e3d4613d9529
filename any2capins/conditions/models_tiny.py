"""Tiny randomly-initialised models for offline demos and tests (`any2capins models tiny DIR`).

Each model is built from a config, saved with `save_pretrained` (plus its image processor), and
is loaded later through the normal `from_pretrained(folder)` code path. Every folder holds a
marker file (`any2capins_tiny.json`) so that outputs made with it are flagged `tiny_model`.
Their outputs are meaningless; they exist to exercise the real code end to end.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from any2capins.models.modelrefs import TINY_MARKER, mark_tiny

COCO_KEYPOINTS = [
    "nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
    "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip",
    "left_knee", "right_knee", "left_ankle", "right_ankle",
]
# The 80 COCO detection classes in RT-DETR's label order (person first).
_COCO = (
    "person bicycle car motorcycle airplane bus train truck boat traffic_light fire_hydrant "
    "stop_sign parking_meter bench bird cat dog horse sheep cow elephant bear zebra giraffe "
    "backpack umbrella handbag tie suitcase frisbee skis snowboard sports_ball kite baseball_bat "
    "baseball_glove skateboard surfboard tennis_racket bottle wine_glass cup fork knife spoon "
    "bowl banana apple sandwich orange broccoli carrot hot_dog pizza donut cake chair couch "
    "potted_plant bed dining_table toilet tv laptop mouse remote keyboard cell_phone microwave "
    "oven toaster sink refrigerator book clock vase scissors teddy_bear hair_drier toothbrush"
)
COCO_CLASSES = [name.replace("_", " ") for name in _COCO.split()]


def _mark(folder: Path, kind: str, seed: int) -> None:
    info = {"kind": kind, "seed": seed, "random_weights": True,
            "note": "tiny random model written by `any2capins models tiny`; outputs meaningless"}
    mark_tiny(folder, info)


def tiny_depth(folder: Path, seed: int = 0) -> Path:
    """Depth Anything with a 4-layer DINOv2 backbone (4 feature maps, as DPT needs)."""
    import torch
    from transformers import (
        DepthAnythingConfig,
        DepthAnythingForDepthEstimation,
        Dinov2Config,
        DPTImageProcessor,
    )

    torch.manual_seed(seed)
    backbone = Dinov2Config(
        hidden_size=32, num_hidden_layers=4, num_attention_heads=2, intermediate_size=64,
        image_size=518, patch_size=14, reshape_hidden_states=False,
        out_features=["stage1", "stage2", "stage3", "stage4"],
    )
    config = DepthAnythingConfig(backbone_config=backbone, fusion_hidden_size=16,
                                 head_hidden_size=8, neck_hidden_sizes=[8, 16, 16, 32],
                                 reassemble_hidden_size=32)
    DepthAnythingForDepthEstimation(config).save_pretrained(folder)
    DPTImageProcessor(size={"height": 140, "width": 140}, keep_aspect_ratio=False,
                      ensure_multiple_of=14, do_pad=False).save_pretrained(folder)
    _mark(folder, "depth", seed)
    return folder


def tiny_detector(folder: Path, seed: int = 0) -> Path:
    """RT-DETR with a 4-stage basic ResNet, 1 encoder/decoder layer, COCO labels.

    A random RT-DETR scores every class near 0.01; the person logit bias is raised so that the
    tiny detector reports people (random boxes, but stable on similar frames), which lets the
    pose and crop code paths run end to end."""
    import torch
    from transformers import (
        RTDetrConfig,
        RTDetrForObjectDetection,
        RTDetrImageProcessor,
        RTDetrResNetConfig,
    )

    torch.manual_seed(seed)
    backbone = RTDetrResNetConfig(embedding_size=8, hidden_sizes=[8, 16, 24, 32],
                                  depths=[1, 1, 1, 1], layer_type="basic",
                                  out_features=["stage2", "stage3", "stage4"])
    config = RTDetrConfig(
        backbone_config=backbone, encoder_hidden_dim=16, encoder_in_channels=[16, 24, 32],
        encoder_ffn_dim=32, d_model=16, decoder_ffn_dim=32, num_queries=20, decoder_layers=1,
        encoder_layers=1, decoder_attention_heads=2, encoder_attention_heads=2, num_denoising=0,
        decoder_n_points=2, num_feature_levels=3, decoder_in_channels=[16, 16, 16],
        anchor_image_size=None, id2label=dict(enumerate(COCO_CLASSES)),
        label2id={n: i for i, n in enumerate(COCO_CLASSES)},
    )
    model = RTDetrForObjectDetection(config)
    with torch.no_grad():
        for name, module in model.named_modules():
            if name.endswith(("enc_score_head", *(f"class_embed.{i}" for i in range(4)))):
                module.bias[0] += 6.0
    model.save_pretrained(folder)
    RTDetrImageProcessor(size={"height": 160, "width": 160}).save_pretrained(folder)
    _mark(folder, "detector", seed)
    return folder


def tiny_vitpose(folder: Path, seed: int = 0) -> Path:
    """VitPose (simple decoder) with a 2-layer ViT on 64x48 person crops, 17 COCO keypoints."""
    import torch
    from transformers import (
        VitPoseBackboneConfig,
        VitPoseConfig,
        VitPoseForPoseEstimation,
        VitPoseImageProcessor,
    )

    torch.manual_seed(seed)
    backbone = VitPoseBackboneConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                     mlp_ratio=2, image_size=[64, 48], patch_size=[8, 8],
                                     out_indices=[2])
    config = VitPoseConfig(backbone_config=backbone, use_simple_decoder=True, num_labels=17,
                           id2label=dict(enumerate(COCO_KEYPOINTS)),
                           label2id={n: i for i, n in enumerate(COCO_KEYPOINTS)})
    VitPoseForPoseEstimation(config).save_pretrained(folder)
    VitPoseImageProcessor(size={"height": 64, "width": 48}).save_pretrained(folder)
    _mark(folder, "vitpose", seed)
    return folder


def tiny_sam2(folder: Path, seed: int = 0) -> Path:
    """SAM2 video (`Sam2VideoModel`) on 128x128 inputs: a 5-block Hiera (8..64 channels), a
    128-wide FPN, prompt encoder, mask decoder and one memory-attention layer (memory features
    stay 64 wide: transformers' SAM2 fixes them at 64 and needs the hidden size to be a
    multiple above it). The object-score bias is raised so that the tiny model reports the
    prompted subject as visible (random masks, but the mask code paths run)."""
    import torch
    from transformers import Sam2HieraDetConfig, Sam2VideoConfig, Sam2VideoModel, Sam2VisionConfig

    torch.manual_seed(seed)
    size, hidden = 128, 128
    hiera = Sam2HieraDetConfig(
        hidden_size=8, num_attention_heads=1, image_size=[size, size],
        blocks_per_stage=[1, 1, 2, 1], embed_dim_per_stage=[8, 16, 32, 64],
        num_attention_heads_per_stage=[1, 1, 1, 1], window_size_per_stage=[4, 4, 4, 2],
        global_attention_blocks=[3], window_positional_embedding_background_size=[2, 2])
    vision = Sam2VisionConfig(
        backbone_config=hiera, backbone_channel_list=[64, 32, 16, 8], fpn_hidden_size=hidden,
        backbone_feature_sizes=[[size // 4] * 2, [size // 8] * 2, [size // 16] * 2])
    config = Sam2VideoConfig(
        vision_config=vision, image_size=size, num_maskmem=3, max_object_pointers_in_encoder=4,
        prompt_encoder_config={"hidden_size": hidden, "image_size": size, "patch_size": 16,
                               "mask_input_channels": 4},
        mask_decoder_config={"hidden_size": hidden, "mlp_dim": 64, "num_attention_heads": 2,
                             "iou_head_hidden_dim": 32},
        memory_attention_hidden_size=hidden, memory_attention_num_layers=1,
        memory_attention_feed_forward_hidden_size=64,
        memory_attention_rope_feat_sizes=[size // 16] * 2, memory_encoder_hidden_size=hidden,
        memory_encoder_output_channels=64, mask_downsampler_embed_dim=hidden,
        memory_fuser_embed_dim=hidden, memory_fuser_intermediate_dim=64)
    model = Sam2VideoModel(config)
    with torch.no_grad():
        model.mask_decoder.pred_obj_score_head.proj_out.bias += 4.0
    model.save_pretrained(folder)
    _mark(folder, "sam2", seed)
    return folder


# A small RTMPose (CSPNeXt backbone + RTMCC SimCC head) on 64x64 crops, COCO-17 keypoints; the
# same model/pipeline structure as mmpose's rtmpose-t config, with mmpose's own CSPNeXt.
MMPOSE_TINY_CONFIG = """\
# tiny RTMPose written by `any2capins models tiny` (random weights; outputs are meaningless)
default_scope = 'mmpose'
codec = dict(type='SimCCLabel', input_size=(64, 64), sigma=(4.9, 5.66), simcc_split_ratio=2.0,
             normalize=False, use_dark=False)
model = dict(
    type='TopdownPoseEstimator',
    data_preprocessor=dict(type='PoseDataPreprocessor', mean=[123.675, 116.28, 103.53],
                           std=[58.395, 57.12, 57.375], bgr_to_rgb=True),
    backbone=dict(type='CSPNeXt', arch='P5', expand_ratio=0.5, deepen_factor=0.167,
                  widen_factor=0.0625, out_indices=(4, ), channel_attention=True,
                  norm_cfg=dict(type='BN'), act_cfg=dict(type='SiLU', inplace=True)),
    head=dict(type='RTMCCHead', in_channels=64, out_channels=17, input_size=codec['input_size'],
              in_featuremap_size=(2, 2), simcc_split_ratio=codec['simcc_split_ratio'],
              final_layer_kernel_size=3,
              gau_cfg=dict(hidden_dims=32, s=16, expansion_factor=2, dropout_rate=0.,
                           drop_path=0., act_fn='SiLU', use_rel_bias=False, pos_enc=False),
              loss=dict(type='KLDiscretLoss', use_target_weight=True, beta=10.,
                        label_softmax=True),
              decoder=codec),
    test_cfg=dict(flip_test=False))
test_pipeline = [
    dict(type='LoadImage'),
    dict(type='GetBBoxCenterScale'),
    dict(type='TopdownAffine', input_size=codec['input_size']),
    dict(type='PackPoseInputs'),
]
train_dataloader = dict(dataset=dict(type='CocoDataset', data_mode='topdown',
                                     pipeline=test_pipeline))
val_dataloader = dict(dataset=dict(type='CocoDataset', data_mode='topdown',
                                   pipeline=test_pipeline))
test_dataloader = val_dataloader
"""


def tiny_mmpose(folder: Path, seed: int = 0) -> Path:
    """`rtmpose-tiny.py` (config) and `rtmpose-tiny.pth` (random weights, mmengine checkpoint
    format) for the mmpose backend. Needs the mmpose extra (`make install-mmpose`)."""
    import torch

    from any2capins.conditions.mmpose_compat import init_pose_model

    torch.manual_seed(seed)
    config = folder / "rtmpose-tiny.py"
    config.write_text(MMPOSE_TINY_CONFIG, encoding="utf-8")
    model = init_pose_model(str(config), None, "cpu")
    meta = {"dataset_meta": model.dataset_meta}
    torch.save({"state_dict": model.state_dict(), "meta": meta}, folder / "rtmpose-tiny.pth")
    _mark(folder, "mmpose", seed)
    return folder


def tiny_dwpose(folder: Path, seed: int = 0) -> Path:
    """`dwpose-tiny.onnx`: DWPose's ONNX interface at 64x48 (input [N, 3, 64, 48] RGB crops;
    simcc_x [N, 133, 96], simcc_y [N, 133, 128]) on three strided convolutions and a SimCC head
    (RTMCC's final conv, MLP and two linear classifiers, without its GAU block), exported with
    torch's ONNX exporter; read by the `dwpose` backend like the released model."""
    import torch
    from torch import nn

    from any2capins.conditions.dwpose import export_simcc_onnx
    from any2capins.models.skeleton import WHOLEBODY133_NAMES

    class TinySimCC(nn.Module):
        def __init__(self, k: int, h: int, w: int) -> None:
            super().__init__()
            self.backbone = nn.Sequential(
                nn.Conv2d(3, 8, 3, 2, 1), nn.SiLU(), nn.Conv2d(8, 16, 3, 2, 1), nn.SiLU(),
                nn.Conv2d(16, 16, 3, 2, 1), nn.SiLU())
            self.final = nn.Conv2d(16, k, 1)
            self.mlp = nn.Linear((h // 8) * (w // 8), 32)
            self.cls_x, self.cls_y = nn.Linear(32, w * 2), nn.Linear(32, h * 2)

        def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            feats = self.mlp(self.final(self.backbone(x)).flatten(2))
            return self.cls_x(feats), self.cls_y(feats)

    torch.manual_seed(seed)
    model = TinySimCC(len(WHOLEBODY133_NAMES), 64, 48)
    with torch.no_grad():  # scores ~0.25 -> ~0.75 (argmax unchanged): the demo draws skeletons
        model.cls_x.bias += 0.5
        model.cls_y.bias += 0.5
    export_simcc_onnx(model, (64, 48), folder / "dwpose-tiny.onnx")
    _mark(folder, "dwpose", seed)
    return folder


def mmpose_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("mmpose") is not None


def write_tiny_models(root: str | Path, seed: int = 0,
                      extra: dict[str, Any] | None = None) -> dict[str, str]:
    """Write every tiny model below `root`; returns {name: folder}. Idempotent: a folder that
    already holds its marker is kept as is. 'mmpose' is written only when mmpose is installed;
    its config is `<folder>/rtmpose-tiny.py`, its checkpoint `<folder>/rtmpose-tiny.pth`."""
    root = Path(root)
    makers = {"depth": tiny_depth, "detector": tiny_detector, "vitpose": tiny_vitpose}
    makers["dwpose"] = tiny_dwpose
    makers["sam2"] = tiny_sam2
    if mmpose_available():  # optional extra; without it the mmpose tiny model is skipped
        makers["mmpose"] = tiny_mmpose
    makers.update(extra or {})  # other stage packages' models (curation's CLIP), same rules
    out: dict[str, str] = {}
    for name, make in makers.items():
        folder = root / name
        if not (folder / TINY_MARKER).is_file():
            folder.mkdir(parents=True, exist_ok=True)
            make(folder, seed)
        out[name] = str(folder)
    return out
