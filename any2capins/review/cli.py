"""`any2capins review ...`: the annotators' commands.

    review --run RUN_DIR --annotator NAME            interactive, one item at a time
    review enqueue --run RUN_DIR [--policy P]        merged captions -> queue (idempotent)
    review claim / release / decide                  scriptable, JSON in and out
    review stats [--json]                            queue state and reviewer figures
    review audit [--clip ID]                         the audit trail, JSON lines
    review export --run RUN_DIR                      approved captions -> review/decisions/
    review auto-accept --run RUN_DIR --annotator N   demo policy: accept complete captions
    review serve --run RUN_DIR                       the review in the browser (a team, one server)
    review users add|list|revoke --run RUN_DIR       logins of the review server
    review previews --run RUN_DIR                    browser previews of the queued clips, ahead
    review reopen --run RUN_DIR --annotator LEAD     send decided items back to the queue

Only light imports (sqlite3, pydantic, pyarrow): annotators need no Ray or torch.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

ANNOTATOR_ENV = "ANY2CAPINS_ANNOTATOR"


def register(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = subparsers.add_parser(
        "review", parents=[common], help="review captions: interactive queue and scriptable "
        "commands", description=__doc__.split("\n\n")[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _identity(p, required=False)
    p.set_defaults(handler=run_interactive)
    sub = p.add_subparsers(dest="review_command", metavar="ACTION")

    def action(name: str, helptext: str, handler: Any, annotator: bool = False):
        q = sub.add_parser(name, parents=[common], help=helptext, description=helptext)
        _identity(q, required=True, annotator=annotator)
        q.set_defaults(handler=handler)
        return q

    q = action("enqueue", "add merged captions to the queue under a policy", run_enqueue)
    q.add_argument("--policy", default=None,
                   help="all | flagged | sample:F (default: review.policy from config)")
    action("claim", "lease the next item; prints it as JSON ({\"item\": null} when none)",
           run_claim, annotator=True)
    q = action("release", "give a claimed item back to the queue", run_release, annotator=True)
    q.add_argument("--item", type=int, required=True, help="item id")
    q = action("decide", "apply a decision read as JSON: {\"item_id\", \"version\", \"action\": "
               "accept|edit|reject, \"edits\": {section: text}, \"reason\"}; prints the "
               "decision as JSON", run_decide, annotator=True)
    q.add_argument("--input", default="-", metavar="FILE", help="JSON file, '-' for stdin")
    q = action("stats", "queue state, per-annotator figures, acceptance, edit distance, flags",
               run_stats)
    q.add_argument("--json", action="store_true", help="print JSON")
    q = action("audit", "print the audit trail as JSON lines (one decision per line)",
               run_audit)
    q.add_argument("--clip", default=None, help="only this clip's decisions")
    action("export", "write approved captions to RUN_DIR/review/decisions/ and the audit "
           "trail to RUN_DIR/review/audit.parquet", run_export)
    q = action("auto-accept", "demo policy: accept every complete caption automatically "
               "(marked automatic in the audit trail)", run_auto_accept, annotator=True)
    q.add_argument("--skip-flagged", action="store_true", help="leave flagged items to people")
    q.add_argument("--allow-incomplete", action="store_true",
                   help="also accept captions with missing sections (offline demo with the "
                   "rules backend; the approved rows list the missing sections)")
    _register_web(action, sub, common)


def _register_web(action: Any, sub: argparse._SubParsersAction,
                  common: argparse.ArgumentParser) -> None:
    """`review serve`, `users`, `previews`, `reopen` (handlers in review/web/serve.py)."""
    q = action("serve", "serve the review in the browser: one server holds the queue, "
               "annotators need a browser and a token (review users add)", _web("run_serve"))
    q.add_argument("--host", default=None, help="address to bind (default review.web.host: "
                   "127.0.0.1, this host only)")
    q.add_argument("--port", type=int, default=None, help="TCP port (default review.web.port)")
    action("previews", "make the browser preview of every queued clip now (the server makes "
           "missing ones on first request)", _web("run_previews"))
    q = action("reopen", "send decided items back to the queue (a lead's call; recorded with "
               "the reason)", _web("run_reopen"), annotator=True)
    q.add_argument("--item", type=int, default=None, help="the item to reopen")
    q.add_argument("--automatic", action="store_true",
                   help="reopen every item decided by an automatic policy (auto-accept)")
    q.add_argument("--reason", required=True, help="why (kept in the queue's reopens table)")
    users = sub.add_parser("users", help="logins of the review server: add, list, revoke",
                           description="Logins of the review server (tokens are shown once "
                           "and stored hashed).")
    users_sub = users.add_subparsers(dest="users_command", metavar="ACTION", required=True)
    for name, helptext in (("add", "create a user and print their login token once"),
                           ("list", "list users (never their tokens)"),
                           ("revoke", "revoke a user's token and end their sessions")):
        u = users_sub.add_parser(name, parents=[common], help=helptext, description=helptext)
        _identity(u, required=True, annotator=False)
        u.set_defaults(handler=_web("run_users"))
        if name != "list":
            u.add_argument("name", metavar="NAME", help="the user (recorded with decisions)")
        if name == "add":
            u.add_argument("--role", choices=("annotator", "lead"), default="annotator",
                           help="leads also see the dashboard and may reopen items")
            u.add_argument("--new-token", action="store_true",
                           help="replace an existing user's token (their sessions end)")
        if name != "revoke":
            u.add_argument("--json", action="store_true", help="print JSON")


def _web(name: str) -> Any:
    def handler(args: argparse.Namespace) -> int:
        from any2capins.review.web import serve

        return getattr(serve, name)(args, open_store)

    return handler


def _identity(p: argparse.ArgumentParser, required: bool, annotator: bool = True) -> None:
    p.add_argument("--run", required=required, default=None, metavar="RUN_DIR",
                   help="run folder (its captions/merged/ feeds the queue)")
    if annotator:
        p.add_argument("--annotator", default=os.environ.get(ANNOTATOR_ENV), metavar="NAME",
                       help=f"your name, recorded with every decision (default ${ANNOTATOR_ENV})")


def open_store(args: argparse.Namespace, create: bool = False):
    """The review config and the opened queue of the run. Only `create` (enqueue) may make a
    new queue; every other command refuses a run without one (InputError, exit 2) and creates
    nothing, so a mistyped --run never leaves an empty queue behind."""
    from pathlib import Path

    from any2capins.config import load_config
    from any2capins.errors import InputError
    from any2capins.review.store import ReviewStore, local_run_dir

    cfg = load_config(args.config, args.overrides).review
    if not args.run:
        raise InputError("--run RUN_DIR is required")
    path = cfg.queue_path
    root = local_run_dir(args.run)
    if path is None:
        if root is None:
            raise InputError("the queue is a local SQLite file: set review.queue_path when "
                             "RUN_DIR is remote")
        path = root / "review" / "queue.sqlite"
    if not create and not Path(path).is_file():
        if root is not None and not root.is_dir():
            raise InputError(f"{args.run}: no such run folder (check --run)")
        raise InputError(f"{args.run}: no review queue at {path}; run `any2capins review "
                         f"enqueue --run {args.run}` first")
    store = ReviewStore(path, lease_seconds=cfg.lease_minutes * 60, roster=cfg.roster,
                        busy_timeout_s=cfg.busy_timeout_s)
    return cfg, store


def _print_json(obj: object) -> None:
    print(json.dumps(obj, indent=2, ensure_ascii=False, default=str))


def run_interactive(args: argparse.Namespace) -> int:
    from any2capins.review.interactive import Session

    cfg, store = open_store(args)
    with store:
        return Session(store, args.annotator, args.run, cfg).run()


def run_enqueue(args: argparse.Namespace) -> int:
    import itertools

    from any2capins.review.enqueue import enqueue, read_merged

    shards = read_merged(args.run)
    first = next(shards)  # no merged captions: InputError before a queue is created
    cfg, store = open_store(args, create=True)
    with store:
        summary = enqueue(store, itertools.chain([first], shards), args.policy or cfg.policy)
        counts = store.counts_by_state()
    print(f"enqueue ({summary.policy}): {summary.seen} captions seen, {summary.added} added, "
          f"{summary.already_queued} already queued, {summary.not_selected} not selected, "
          f"{summary.superseded} superseded by a new version")
    print("queue: " + "  ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    return 0


def run_claim(args: argparse.Namespace) -> int:
    from any2capins.review.interactive import sheet_location
    from any2capins.review.leases import claim

    _cfg, store = open_store(args)
    with store:
        item = claim(store, args.annotator)
    if item is None:
        _print_json({"item": None})
        return 0
    sheet, _path = sheet_location(args.run, item.clip_id)
    _print_json({"item": item.model_dump(mode="json"), "version": item.version,
                 "sheet": sheet})
    return 0


def run_release(args: argparse.Namespace) -> int:
    from any2capins.review.errors import ReviewError
    from any2capins.review.leases import release

    _cfg, store = open_store(args)
    with store:
        try:
            item = release(store, args.item, args.annotator)
        except ReviewError as exc:
            _print_json({"ok": False, "error": exc.kind, "message": str(exc)})
            return 1
    _print_json({"ok": True, "item_id": item.item_id, "state": item.state})
    return 0


def run_decide(args: argparse.Namespace) -> int:
    from pathlib import Path

    from pydantic import ValidationError

    from any2capins.errors import InputError
    from any2capins.models.review import DecisionRequest
    from any2capins.review.decisions import decide
    from any2capins.review.errors import ReviewError

    try:
        raw = sys.stdin.read() if args.input == "-" else Path(args.input).read_text("utf-8")
    except OSError as exc:
        raise InputError(f"cannot read the decision: {exc}") from None
    try:
        request = DecisionRequest.model_validate_json(raw)
    except ValidationError as exc:
        _print_json({"ok": False, "error": "invalid_request",
                     "message": "; ".join(e["msg"] for e in exc.errors())})
        return 2
    _cfg, store = open_store(args)
    with store:
        try:
            record = decide(store, request, args.annotator)
        except ReviewError as exc:
            _print_json({"ok": False, "error": exc.kind, "message": str(exc)})
            return 1
    _print_json({"ok": True, "decision": record.model_dump(mode="json")})
    return 0


def run_stats(args: argparse.Namespace) -> int:
    from any2capins.review.stats import compute_stats, format_stats

    _cfg, store = open_store(args)
    with store:
        stats = compute_stats(store)
    if args.json:
        _print_json(stats)
    else:
        print(format_stats(stats))
    return 0


def run_audit(args: argparse.Namespace) -> int:
    from any2capins.review.decisions import audit_trail

    _cfg, store = open_store(args)
    with store:
        trail = audit_trail(store, clip_id=args.clip)
    for record in trail:
        print(record.model_dump_json())
    return 0


def run_export(args: argparse.Namespace) -> int:
    from any2capins.review.export import export

    _cfg, store = open_store(args)
    with store:
        result = export(store, args.run)
    print(f"exported {result['approved']} approved captions in {result['shards']} shard(s) to "
          f"{result['decisions_dir']}; audit trail ({result['decisions_in_audit']} decisions): "
          f"{result['audit']}")
    return 0


def run_auto_accept(args: argparse.Namespace) -> int:
    from any2capins.review.decisions import auto_accept

    _cfg, store = open_store(args)
    with store:
        result = auto_accept(store, args.annotator, skip_flagged=args.skip_flagged,
                             allow_incomplete=args.allow_incomplete)
    kind = "captions (incomplete ones included)" if args.allow_incomplete else "complete captions"
    left = ("" if args.allow_incomplete else "incomplete captions need their missing sections "
            "written before they can be accepted")
    if args.skip_flagged:
        left += ("; " if left else "") + "flagged ones skipped"
    print(f"AUTOMATIC REVIEW as {args.annotator}: {result['accepted']} {kind} accepted without "
          f"human review (marked automatic in the audit trail); {result['left_for_people']} "
          f"left in the queue for people" + (f" ({left})" if left else ""))
    return 0
