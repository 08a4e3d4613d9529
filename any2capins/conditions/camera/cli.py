"""`any2capins camera-txt --run RUN_DIR [--out DIR] [--include-unmeasured] [--include-failed]`:
RealEstate10K/CameraCtrl text files, measured (ok) clips only by default."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = subparsers.add_parser(
        "camera-txt", parents=[common], help="write the camera condition as RealEstate10K / "
        "CameraCtrl text files, one per clip",
        description="Read RUN_DIR/conditions/camera/ and write DIR/<clip_id>.txt per clip "
        "(first line the clip URI and `status=... measured=... focal=... unmeasured_frames=N`, "
        "then per frame: timestamp_us fx fy cx cy (normalised) 0 0 and the 3x4 world-to-camera "
        "matrix row-major). Only measured clips (status ok: SfM rotations and translations) by "
        "default; --include-unmeasured adds rotation_only (zero translation) and static "
        "(identity poses) clips, --include-failed adds failed ones (URI line only).",
    )
    p.add_argument("--run", required=True, metavar="RUN_DIR", help="run folder (local or s3://)")
    p.add_argument("--out", metavar="DIR",
                   help="output folder (default RUN_DIR/conditions/camera_txt)")
    p.add_argument("--include-unmeasured", action="store_true",
                   help="also write rotation_only and static clips (poses not fully measured; "
                   "the first line says so)")
    p.add_argument("--include-failed", action="store_true", help="also write failed clips")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from collections import Counter

    from any2capins.conditions.camera.export import realestate10k_text
    from any2capins.errors import InputError
    from any2capins.io import fs
    from any2capins.io.shards import ShardStore
    from any2capins.models.camera import CameraRecord
    from any2capins.models.tables import folder

    store = ShardStore(args.run)
    if not store.shard_indices(folder("conditions.camera")):
        raise InputError(f"{args.run}: no conditions/camera/ shards; run `any2capins extract "
                         f"--run {args.run} --stages camera` first")
    out = fs.resolve(args.out) if args.out else store.root.join("conditions", "camera_txt")
    wanted = {"ok"} | ({"rotation_only", "static"} if args.include_unmeasured else set()) | (
        {"failed"} if args.include_failed else set())
    written, skipped = 0, Counter()
    for rec in store.read_all(folder("conditions.camera"), CameraRecord):
        if rec.status not in wanted:
            skipped[rec.status] += 1
            continue
        fs.write_bytes_atomic(out.join(f"{rec.clip_id}.txt"), realestate10k_text(rec).encode())
        written += 1
    left = ", ".join(f"{n} {status}" for status, n in sorted(skipped.items()))
    hint = "" if not left else (f" (skipped: {left}; --include-unmeasured / --include-failed "
                                "write them)")
    print(f"{written} file(s) -> {out.uri()}{hint}")
    return 0
