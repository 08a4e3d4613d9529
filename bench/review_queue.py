"""Review-queue benchmark: is the SQLite store fast enough for a paper-sized queue?

    .venv/bin/python bench/review_queue.py [--items 20000] [--workers 4] [--decisions 2000]

Times, in one run on a throwaway queue:
  enqueue     N merged captions into an empty queue, then again (idempotent re-enqueue)
  claim       claim latency with N items pending (flagged-first ordering on a big queue)
  decide      claim + decide latency, one process
  parallel    claim + decide throughput with W processes on the same queue
  stats       `review stats` over the queue and its decisions
  export      `review export` (decisions Parquet + audit Parquet)
The paper's dataset is 337K instances; a human decides an item in tens of seconds, so the
store is never the bottleneck if claim + decide stays in the millisecond range at scale.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "bench")]

from results import write_results  # noqa: E402
from review_helpers import make_caption  # noqa: E402

from any2capins.models.review import DecisionRequest  # noqa: E402
from any2capins.review.decisions import decide  # noqa: E402
from any2capins.review.enqueue import enqueue  # noqa: E402
from any2capins.review.export import export  # noqa: E402
from any2capins.review.leases import claim  # noqa: E402
from any2capins.review.stats import compute_stats  # noqa: E402
from any2capins.review.store import ReviewStore  # noqa: E402


def _decide_one(store: ReviewStore, name: str, n: int) -> bool:
    item = claim(store, name)
    if item is None:
        return False
    action = ("accept", "edit", "reject")[n % 3]
    decide(store, DecisionRequest(
        item_id=item.item_id, version=item.version, action=action,
        edits={"camera": f"The camera pans left, take {n}."} if action == "edit" else {},
        reason="bench" if action == "reject" else None), name)
    return True


def _worker(path: str, name: str, count: int, ready: mp.Queue, go, out: mp.Queue) -> None:
    store = ReviewStore(path)
    ready.put(name)
    go.wait()
    done = sum(_decide_one(store, name, n) for n in range(count))
    out.put((done, time.perf_counter()))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--items", type=int, default=20000)
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--decisions", type=int, default=2000)
    args = ap.parse_args()
    rows = [make_caption(f"clip-{i:07d}", flags=["f"] if i % 9 == 0 else []) for i in range(
        args.items)]
    shards = [(k, rows[k * 1000:(k + 1) * 1000]) for k in range((len(rows) + 999) // 1000)]
    with tempfile.TemporaryDirectory() as tmp:
        store = ReviewStore(Path(tmp) / "queue.sqlite")
        t0 = time.perf_counter()
        enqueue(store, shards, "all")
        t1 = time.perf_counter()
        enqueue(store, shards, "all")
        t2 = time.perf_counter()
        fig = {"items": args.items, "enqueue_items_per_s": round(args.items / (t1 - t0)),
               "reenqueue_items_per_s": round(args.items / (t2 - t1))}
        print(f"enqueue     {args.items} items: {fig['enqueue_items_per_s']:,} items/s; "
              f"re-enqueue (all known) {fig['reenqueue_items_per_s']:,} items/s")

        lat = []
        for n in range(args.decisions):
            s = time.perf_counter()
            _decide_one(store, "solo", n)
            lat.append((time.perf_counter() - s) * 1000)
        fig["decide_median_ms"] = round(statistics.median(lat), 3)
        fig["decide_p95_ms"] = round(sorted(lat)[int(0.95 * len(lat))], 3)
        print(f"decide      claim+decide, 1 process, {args.decisions} items: median "
              f"{fig['decide_median_ms']:.2f} ms, p95 {fig['decide_p95_ms']:.2f} ms")
        fig.update(_parallel(store, args, lat))

        t0 = time.perf_counter()
        compute_stats(store)
        t1 = time.perf_counter()
        result = export(store, str(Path(tmp) / "run"))
        t2 = time.perf_counter()
        fig["stats_s"], fig["export_s"] = round(t1 - t0, 3), round(t2 - t1, 3)
        print(f"stats       {t1 - t0:.2f} s   export {result['approved']} approved + "
              f"{result['decisions_in_audit']} audit rows: {t2 - t1:.2f} s")
    write_results("review_queue", fig, notes=(
        f"The SQLite review queue on a throwaway queue of {args.items} merged captions (one in "
        f"nine flagged): enqueue and idempotent re-enqueue; claim + decide latency in one process "
        f"over {args.decisions} items; the same with {args.workers} processes racing on one queue "
        "(on a 2-core machine this measures contention, not a speed-up); `review stats` and "
        "`review export` over the result. A person needs tens of seconds per item: the store "
        "only has to stay in the millisecond range."),
        command=f"nice .venv/bin/python bench/review_queue.py --items {args.items} "
                f"--workers {args.workers} --decisions {args.decisions}")


def _parallel(store: ReviewStore, args: argparse.Namespace, lat: list[float]) -> dict:
    """claim + decide throughput of `args.workers` processes on the same queue."""
    ctx = mp.get_context("spawn")
    out, ready, go = ctx.Queue(), ctx.Queue(), ctx.Event()
    per = args.decisions // args.workers
    procs = [ctx.Process(target=_worker, args=(str(store.path), f"w{k}", per, ready, go, out))
             for k in range(args.workers)]
    for p in procs:
        p.start()
    for _ in procs:  # all started and connected: time only the contended work
        ready.get()
    t0 = time.perf_counter()
    go.set()
    results = [out.get() for _ in procs]
    wall = max(t for _, t in results) - t0
    done = sum(d for d, _ in results)
    for p in procs:
        p.join()
    fig = {"parallel_decisions_per_s": round(done / wall),
           "one_process_decisions_per_s": round(1000 / statistics.mean(lat))}
    print(f"parallel    {args.workers} processes, {done} claim+decide: "
          f"{fig['parallel_decisions_per_s']:,} decisions/s (1 process: "
          f"{fig['one_process_decisions_per_s']:,}/s)")
    return fig

if __name__ == "__main__":
    main()
