"""Review server under load: N annotators over HTTP on one queue, plus a CLI annotator.

    .venv/bin/python bench/review_web.py [--items 400] [--annotators 20]

Starts the real `any2capins review serve` in its own process on a throwaway run folder with
`--items` merged captions, creates one login per annotator, and runs every annotator as a
thread of this process: log in, then `GET /api/next` -> `POST .../decision` (accept, edit or
reject, one in ten items skipped once: released and left to the others) until the server
answers 204. At the same time one annotator works the same queue through the queue code the
CLI uses (its own SQLite connection). Then checks the queue: every item decided exactly once,
none lost, no request refused (a 409 would mean two people got one item), and reads the
lead's /api/stats (caption quality included). Prints p50/p95 latency of `next` and
`decision` as the annotators saw them, and decisions per second.
"""

from __future__ import annotations

import argparse
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "bench")]

from results import write_results  # noqa: E402
from review_helpers import make_caption, write_merged  # noqa: E402
from review_web_helpers import Client  # noqa: E402

from any2capins.models.review import DecisionRequest  # noqa: E402
from any2capins.review.decisions import decide  # noqa: E402
from any2capins.review.enqueue import enqueue  # noqa: E402
from any2capins.review.leases import claim  # noqa: E402
from any2capins.review.store import ReviewStore  # noqa: E402
from any2capins.review.web import accounts  # noqa: E402


def _decision(item: dict, n: int) -> dict:
    kind = ("accept", "accept", "edit", "reject")[n % 4]
    body = {"version": item["version"], "action": kind}
    if kind == "edit":
        body["edits"] = {"camera": f"The camera pans slowly left, take {n}."}
    if kind == "reject":
        body["reason"] = "bench: too dark"
    return body


class Annotator(threading.Thread):
    def __init__(self, port: int, name: str, token: str, go: threading.Event) -> None:
        super().__init__(name=name, daemon=True)
        self.port, self.token, self.go = port, token, go
        self.next_ms: list[float] = []
        self.decision_ms: list[float] = []
        self.decided: list[int] = []
        self.refused: Counter = Counter()
        self.skipped: set[int] = set()

    def _timed(self, into: list[float], c: Client, *args, **kw):
        start = time.perf_counter()
        reply = c.request(*args, **kw)
        into.append((time.perf_counter() - start) * 1000)
        return reply

    def run(self) -> None:
        c = Client(self.port)
        assert c.login(self.token).status == 200
        self.go.wait()
        n = 0
        while True:
            query = f"?skip={','.join(map(str, sorted(self.skipped)))}" if self.skipped else ""
            got = self._timed(self.next_ms, c, "GET", f"/api/next{query}")
            if got.status == 204:
                break
            item = got.json()
            n += 1
            if n % 10 == 0 and item["item_id"] not in self.skipped:  # skip: give it back
                c.request("POST", f"/api/items/{item['item_id']}/release", {})
                self.skipped.add(item["item_id"])
                continue
            done = self._timed(self.decision_ms, c, "POST",
                               f"/api/items/{item['item_id']}/decision", _decision(item, n))
            if done.status == 200:
                self.decided.append(item["item_id"])
            else:
                self.refused[done.json().get("error")] += 1
        c.close()


def _cli_annotator(queue: Path, go: threading.Event, out: list[int]) -> None:
    """An annotator on the CLI's code path, at the same time as the web ones."""
    store = ReviewStore(queue)
    go.wait()
    while (item := claim(store, "cli-annie")) is not None:
        decide(store, DecisionRequest(item_id=item.item_id, version=item.version,
                                      action="accept"), "cli-annie")
        out.append(item.item_id)
        time.sleep(0.005)  # a person is slower still; keeps this thread from hogging the GIL
    store.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_server(run: Path, port: int, log: Path) -> subprocess.Popen:
    with log.open("w") as sink:
        proc = subprocess.Popen([sys.executable, "-m", "any2capins.cli", "review", "serve",
                                 "--run", str(run), "--port", str(port)],
                                stdout=sink, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while "Uvicorn running" not in log.read_text():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"server did not start: {log.read_text()}")
        time.sleep(0.1)
    return proc


def _pct(values: list[float], q: float) -> float:
    return round(statistics.quantiles(values, n=100, method="inclusive")[q - 1], 2)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--items", type=int, default=400)
    ap.add_argument("--annotators", type=int, default=20)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="a2c-bench-web-") as tmp:
        run = Path(tmp) / "run"
        rows = [make_caption(f"clip-{i:06d}", flags=["f"] if i % 9 == 0 else [])
                for i in range(args.items)]
        write_merged(run, {0: rows})
        queue = run / "review" / "queue.sqlite"
        with ReviewStore(queue) as store:
            enqueue(store, [(0, rows)], "all")
            accounts.ensure_schema(store)
            tokens = {f"ann{k:02d}": accounts.add_user(store, f"ann{k:02d}")
                      for k in range(args.annotators)}
            lead_token = accounts.add_user(store, "lead", "lead")
        port = _free_port()
        proc = _start_server(run, port, Path(tmp) / "serve.log")
        try:
            figures, table = _load(port, queue, tokens, lead_token, args)
        finally:
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=30)
    write_results("review_web", figures, table=table, notes=(
        f"`review serve` (uvicorn, one process) on a queue of {args.items} items; "
        f"{args.annotators} annotators as threads of the bench process, each looping GET "
        "/api/next -> POST decision (accept/edit/reject; one item in ten skipped once) over "
        "HTTP with its own session, and one more annotator on the CLI's code path on the "
        "same SQLite file. Checked: every item decided exactly once, none lost, no request "
        "refused. Latencies are what the annotators saw (client side, same 2-core machine as "
        "the server, so they include the clients' own load); a person needs tens of seconds "
        "per item."), command=f"nice .venv/bin/python bench/review_web.py --items "
        f"{args.items} --annotators {args.annotators}")


def _load(port: int, queue: Path, tokens: dict[str, str], lead_token: str,
          args: argparse.Namespace) -> tuple[dict, list[list]]:
    go = threading.Event()
    workers = [Annotator(port, name, token, go) for name, token in tokens.items()]
    for w in workers:
        w.start()
    cli_done: list[int] = []
    cli = threading.Thread(target=_cli_annotator, args=(queue, go, cli_done), daemon=True)
    cli.start()
    time.sleep(1.0)  # every annotator logged in
    start = time.perf_counter()
    go.set()
    for w in [*workers, cli]:
        w.join(600)
    wall = time.perf_counter() - start

    with ReviewStore(queue) as store:
        per_item = Counter(r[0] for r in store.conn.execute("SELECT item_id FROM decisions"))
        states = store.counts_by_state()
    web_decided = [i for w in workers for i in w.decided]
    decided = len(per_item)
    lead = Client(port)
    lead.login(lead_token)
    t = time.perf_counter()
    stats = lead.request("GET", "/api/stats").json()
    stats_ms = (time.perf_counter() - t) * 1000
    next_ms = [x for w in workers for x in w.next_ms]
    decision_ms = [x for w in workers for x in w.decision_ms]
    refused = sum((w.refused for w in workers), Counter())
    figures = {
        "items": args.items, "annotators": args.annotators,
        "decided_exactly_once": int(decided == args.items and max(per_item.values()) == 1),
        "lost": args.items - decided, "duplicates": sum(v - 1 for v in per_item.values()),
        "refused": sum(refused.values()), "left_in_queue": states.get("pending", 0)
        + states.get("leased", 0),
        "web_decisions": len(web_decided), "cli_decisions": len(cli_done),
        "next_p50_ms": _pct(next_ms, 50), "next_p95_ms": _pct(next_ms, 95),
        "decision_p50_ms": _pct(decision_ms, 50), "decision_p95_ms": _pct(decision_ms, 95),
        "decisions_per_s": round(decided / wall, 1), "wall_s": round(wall, 2),
        "lead_stats_ms": round(stats_ms, 1),
    }
    assert stats["queue"]["decisions"], stats
    table = [["request", "count", "p50 ms", "p95 ms", "max ms"],
             ["GET /api/next", len(next_ms), figures["next_p50_ms"], figures["next_p95_ms"],
              round(max(next_ms), 1)],
             ["POST decision", len(decision_ms), figures["decision_p50_ms"],
              figures["decision_p95_ms"], round(max(decision_ms), 1)]]
    print(f"{args.items} items, {args.annotators} web annotators + 1 CLI: decided "
          f"{decided} ({len(web_decided)} web, {len(cli_done)} CLI), lost {figures['lost']}, "
          f"duplicates {figures['duplicates']}, refused {dict(refused) or 0}, left "
          f"{figures['left_in_queue']}")
    print(f"next      p50 {figures['next_p50_ms']} ms  p95 {figures['next_p95_ms']} ms")
    print(f"decision  p50 {figures['decision_p50_ms']} ms  p95 {figures['decision_p95_ms']} ms")
    print(f"{figures['decisions_per_s']} decisions/s over {figures['wall_s']} s; lead's "
          f"/api/stats (with caption quality) {figures['lead_stats_ms']} ms")
    if not figures["decided_exactly_once"] or figures["refused"]:
        raise SystemExit("FAILED: not every item was decided exactly once")
    return figures, table


if __name__ == "__main__":
    main()
