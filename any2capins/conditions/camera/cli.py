"""`any2capins camera-txt --run RUN_DIR [--out DIR]`: RealEstate10K/CameraCtrl text files."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = subparsers.add_parser(
        "camera-txt", parents=[common], help="write the camera condition as RealEstate10K / "
        "CameraCtrl text files, one per clip",
        description="Read RUN_DIR/conditions/camera/ and write DIR/<clip_id>.txt per clip "
        "(first line the clip URI, then per frame: timestamp_us fx fy cx cy (normalised) 0 0 "
        "and the 3x4 world-to-camera matrix row-major). Failed clips are skipped unless "
        "--include-failed (then they have the URI line only).",
    )
    p.add_argument("--run", required=True, metavar="RUN_DIR", help="run folder (local or s3://)")
    p.add_argument("--out", metavar="DIR",
                   help="output folder (default RUN_DIR/conditions/camera_txt)")
    p.add_argument("--include-failed", action="store_true", help="also write failed clips")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from any2capins.conditions.camera.export import realestate10k_text
    from any2capins.errors import InputError
    from any2capins.io import fs
    from any2capins.io.shards import ShardStore
    from any2capins.models.camera import CameraRecord

    store = ShardStore(args.run)
    if not store.shard_indices("conditions/camera"):
        raise InputError(f"{args.run}: no conditions/camera/ shards; run `any2capins extract "
                         f"--run {args.run} --stages camera` first")
    out = fs.resolve(args.out) if args.out else store.root.join("conditions", "camera_txt")
    written = skipped = 0
    for rec in store.read_all("conditions/camera", CameraRecord):
        if rec.status == "failed" and not args.include_failed:
            skipped += 1
            continue
        fs.write_bytes_atomic(out.join(f"{rec.clip_id}.txt"), realestate10k_text(rec).encode())
        written += 1
    print(f"{written} file(s) -> {out.uri()}" + (f" ({skipped} failed clip(s) skipped)"
                                                 if skipped else ""))
    return 0
