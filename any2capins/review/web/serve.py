"""Commands of the review server: `review serve`, `review users add|list|revoke`,
`review previews`, `review reopen` (the argparse wiring is in review/cli.py).

Starlette, uvicorn and Jinja2 are imported only by `serve`; `users` needs nothing but the
queue; `previews` needs PyAV (the pipeline extra)."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from any2capins.errors import InputError
from any2capins.review.store import local_run_dir

# review/cli.py's open_store (passed in: the CLI imports this module, not the reverse)
OpenStore = Callable[[argparse.Namespace], Any]


def previews_dir(run_dir: str, queue_path: Path) -> Path:
    """RUN_DIR/review/previews for a local run; beside the queue file for a remote one (the
    server streams previews from a local disk)."""
    root = local_run_dir(run_dir)
    return (root / "review" / "previews") if root is not None else queue_path.parent / "previews"


def build_context(run_dir: str, cfg: Any, queue_path: Path, *, clock: Any = None):
    """The server's shared state for `run_dir` (clips indexed once, decode settings read from
    run.json)."""
    import os
    import time

    from any2capins.review.web.context import ServerContext
    from any2capins.review.web.media import RunMedia

    media = RunMedia(run_dir, previews_dir(run_dir, queue_path),
                     max_side=cfg.web.preview_max_side, max_fps=cfg.web.preview_max_fps,
                     encoders=max(1, (os.cpu_count() or 2) // 2))
    return ServerContext(run_dir=run_dir, queue_path=queue_path, cfg=cfg, media=media,
                         clock=clock or time.time)


def run_serve(args: argparse.Namespace, open_store: OpenStore) -> int:
    from any2capins.review.web import accounts

    try:
        import uvicorn

        from any2capins.review.web.app import create_app
    except ImportError as exc:
        raise InputError(f"review serve needs starlette, uvicorn and jinja2 ({exc}): "
                         "pip install 'any2capins'") from None
    cfg, store = open_store(args)
    with store:
        accounts.ensure_schema(store)
        users = [u for u in accounts.list_users(store) if u["active"]]
        counts = store.counts_by_state()
    ctx = build_context(args.run, cfg, store.path)
    app = create_app(ctx)
    host, port = args.host or cfg.web.host, args.port or cfg.web.port
    _setup_logging()
    left = counts.get("pending", 0) + counts.get("leased", 0)
    print(f"review server for {args.run}: http://{host}:{port}/  ({left} items to review, "
          f"{len(ctx.media.index)} clips, {len(users)} active users; Ctrl-C stops it)",
          flush=True)
    if not users:
        print(f"no users yet: any2capins review users add NAME --run {args.run} --role lead",
              flush=True)
    if left == 0 and counts:
        print("every item is decided: leads reopen items on /dashboard or with "
              "`any2capins review reopen`", flush=True)
    uvicorn.run(app, host=host, port=port, log_level="info", access_log=True,
                server_header=False, log_config=None)
    return 0


def _setup_logging() -> None:
    root = logging.getLogger()
    if not root.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root.addHandler(handler)
    root.setLevel(logging.INFO)


def run_users(args: argparse.Namespace, open_store: OpenStore) -> int:
    from any2capins.review.web import accounts

    _cfg, store = open_store(args)
    with store:
        accounts.ensure_schema(store)
        if args.users_command == "add":
            token = accounts.add_user(store, args.name, args.role, new_token=args.new_token)
            name = store.check_annotator(args.name)
            if args.json:
                print(json.dumps({"name": name, "role": args.role, "token": token}))
            else:
                print(f"user {name} ({args.role}); login token, shown only now:\n{token}")
            return 0
        if args.users_command == "revoke":
            if not accounts.revoke_user(store, args.name):
                print(f"no active user {args.name!r}", file=sys.stderr)
                return 1
            print(f"revoked {args.name}: the token no longer logs in, sessions ended")
            return 0
        users = accounts.list_users(store)
    if args.json:
        print(json.dumps(users, default=str, indent=2))
    for u in [] if args.json else users:
        state = "active" if u["active"] else f"revoked {u['revoked']:%Y-%m-%d %H:%M}Z"
        last = f"{u['last_login']:%Y-%m-%d %H:%M}Z" if u["last_login"] else "never"
        print(f"{u['name']:<20} {u['role']:<10} {state:<24} last login {last}")
    return 0


def run_previews(args: argparse.Namespace, open_store: OpenStore) -> int:
    """Make the preview of every clip with a current queue item (made ones are kept)."""
    import time

    from any2capins.review.web.media import MediaError

    cfg, store = open_store(args)
    with store:
        clips = [r[0] for r in store.conn.execute(
            "SELECT DISTINCT clip_id FROM items WHERE state != 'superseded' ORDER BY clip_id")]
    media = build_context(args.run, cfg, store.path).media
    failed, made = [], 0
    for k, clip_id in enumerate(clips, start=1):
        start = time.perf_counter()
        existed = media.preview_path(clip_id).is_file()
        try:
            _path, info = media.preview(clip_id)
        except MediaError as exc:
            failed.append(clip_id)
            print(f"[{k}/{len(clips)}] {exc}", file=sys.stderr)
            continue
        made += not existed
        print(f"[{k}/{len(clips)}] {clip_id}: {info.frames} frames {info.width}x{info.height}"
              + ("" if existed else f", {time.perf_counter() - start:.1f} s"))
    print(f"previews: {made} made, {len(clips) - made - len(failed)} already there, "
          f"{len(failed)} failed; in {media.previews_dir}")
    return 1 if failed else 0


def run_reopen(args: argparse.Namespace, open_store: OpenStore) -> int:
    """Send decided items back to the queue: one (--item) or every automatic decision."""
    from any2capins.review.decisions import reopen

    if (args.item is None) == (not args.automatic):
        raise InputError("give --item ID or --automatic (every automatically decided item)")
    _cfg, store = open_store(args)
    with store:
        if args.item is not None:
            ids = [args.item]
        else:
            ids = [r[0] for r in store.conn.execute(
                "SELECT i.item_id FROM items i JOIN decisions d ON d.decision_id = "
                "i.decision_id JOIN current c ON c.clip_id = i.clip_id AND c.version = "
                "i.version WHERE d.automatic = 1 ORDER BY i.item_id")]
        for item_id in ids:
            reopen(store, item_id, args.annotator, args.reason)
    print(f"reopened {len(ids)} item(s): back in the queue for people")
    return 0
