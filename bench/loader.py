"""Loader benchmark: InstanceDataset items per second with 0 and 2 DataLoader workers, and the
memory one item takes.

    nice .venv/bin/python bench/loader.py [--copies 6] [--frames 16] [--size 128x192]

The run is built like the loader tests' (tests/loader_builders.py): the bundled clips repeated
`copies` times under new ids, each with `frames` depth maps (72x128 16-bit PNGs), two pose
tracks, a camera with known poses and two reference crops, then the real short-prompt and
export stages (8 instances per clip). Items are decoded at `size` with pose images on: depth,
pose, skeleton renders, Plücker rays, crops. Each mode reads one full epoch (batch 4,
`collate_instances`) after the run is built; the 2-worker time includes starting the workers.
Per-item memory is the tensor payload of an item (bytes of every tensor, mean over items) and
the main process's resident memory after its 0-worker epoch (shard caches included).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def payload(item: dict) -> dict[str, int]:
    """Bytes of every tensor field of one item (lists of tensors summed)."""
    import torch

    out = {}
    for key, value in item.items():
        tensors = value if isinstance(value, list) else [value]
        n = sum(t.numel() * t.element_size() for t in tensors if isinstance(t, torch.Tensor))
        if n:
            out[key] = n
    return out


def epoch(ds, workers: int) -> tuple[int, float, float, float]:
    """(items, seconds for the epoch, seconds to the first batch, items/s after it)."""
    import torch

    from any2capins.data import collate_instances

    t0 = time.perf_counter()
    loader = iter(torch.utils.data.DataLoader(ds, batch_size=4, num_workers=workers,
                                              collate_fn=collate_instances))
    first = len(next(loader)["instance_id"])
    t1 = time.perf_counter()
    rest = sum(len(b["instance_id"]) for b in loader)
    t2 = time.perf_counter()
    return first + rest, t2 - t0, t1 - t0, rest / (t2 - t1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=6)
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--size", default="128x192", help="HxW of the decoded items")
    args = parser.parse_args()
    h, w = (int(v) for v in args.size.split("x"))

    import torch
    from loader_builders import build_known_run
    from results import write_results

    from any2capins.data import InstanceDataset

    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory(prefix="a2c-bench-loader-") as tmp:
        run = Path(tmp) / "run"
        build_known_run(run, Path(tmp), copies=args.copies, frames=args.frames,
                        depth_hw=(72, 128))
        ds = InstanceDataset(run, size=(h, w), pose_image=True)
        sizes = [payload(ds[i]) for i in range(len(ds))]
        rss_before = rss_mb()
        n0, s0, f0, r0 = epoch(ds, 0)
        rss_after = rss_mb()
        n2, s2, f2, r2 = epoch(ds, 2)
    per_item = sum(sum(s.values()) for s in sizes) / len(sizes) / 2**20
    fields = sorted({k for s in sizes for k in s}, key=lambda k: -sum(s.get(k, 0) for s in sizes))
    figures = {
        "instances": n0, "size": f"{h}x{w}", "frames": args.frames,
        "items_per_s_0_workers": round(n0 / s0, 2), "items_per_s_2_workers": round(n2 / s2, 2),
        "speedup_2_workers": round(s0 / s2, 2),
        "first_batch_s_0_workers": round(f0, 2), "first_batch_s_2_workers": round(f2, 2),
        "steady_items_per_s_0_workers": round(r0, 2),
        "steady_items_per_s_2_workers": round(r2, 2), "item_payload_mb": round(per_item, 2),
        "main_rss_mb_after_epoch": round(rss_after, 1),
        "main_rss_growth_mb": round(rss_after - rss_before, 1),
    }
    table = [["field", "MB per item (mean over items that have it)", "items with it"]]
    for key in fields:
        have = [s[key] for s in sizes if key in s]
        table.append([key, round(sum(have) / len(have) / 2**20, 3), len(have)])
    notes = (f"InstanceDataset over {n0} instances ({args.copies} copies of the 2 bundled clips, "
             f"{args.frames} condition frames each), decoded at {h}x{w} with pose images; one "
             "epoch per mode, batch 4, collate_instances; items/s over the whole epoch (2 workers: "
             "start-up included), steady = after the first batch. "
             "Payload = bytes of an item's tensors; RSS = the main process after its 0-worker "
             "epoch. On a shared 2-core machine the 2-worker figure is bounded by the cores.")
    write_results("loader", figures, table=table, notes=notes)
    for k, v in figures.items():
        print(f"{k:28s} {v}")


if __name__ == "__main__":
    main()
