"""The JSON API under /api/ (the item page uses nothing else), as plain functions.

Each handler takes the server context, the calling thread's queue store, the session and the
request's parts, and returns `(status, payload)`; `app` turns refusals into status codes:
stale version or lost lease 409, refused edit 422 (with the reason per section), unknown item
404, missing or bad CSRF token 403, no valid session 401. Every state change goes through the
queue code the CLI uses (`leases.claim/release`, `decisions.decide/reopen`), so leases,
optimistic versions, validation and the append-only audit trail hold for both at once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from any2capins.models.captions import SECTION_TITLES, SECTIONS
from any2capins.models.review import DecisionRequest, QueueItem
from any2capins.review.decisions import decide, reopen, validate_edits
from any2capins.review.errors import InvalidEditError
from any2capins.review.leases import claim, held, release
from any2capins.review.store import ReviewStore

if TYPE_CHECKING:
    from any2capins.review.web.accounts import Session
    from any2capins.review.web.context import ServerContext

Reply = tuple[int, dict[str, Any] | None]


@dataclass
class Req:
    """The parts of a request a handler reads."""

    path: dict[str, Any] = field(default_factory=dict)
    query: dict[str, str] = field(default_factory=dict)
    body: dict[str, Any] | None = None


class BadRequestError(ValueError):
    """The request itself is malformed (422, message kept)."""


def progress(store: ReviewStore, name: str) -> dict[str, int]:
    """Your decisions, the team's (people only), what is left, and the total (current items)."""
    row = store.conn.execute(
        "SELECT SUM(state IN ('pending', 'leased')), SUM(state != 'superseded') FROM items"
    ).fetchone()
    you, team = store.conn.execute(
        "SELECT SUM(annotator = ?), COUNT(*) FROM decisions WHERE automatic = 0", (name,)
    ).fetchone()
    return {"you": you or 0, "team": team or 0, "left": row[0] or 0, "total": row[1] or 0}


def item_payload(store: ReviewStore, item: QueueItem) -> dict[str, Any]:
    """What the page shows of an item (texts as data: the page sets them as text, never
    as HTML)."""
    c = item.caption
    earlier = store.conn.execute(
        "SELECT action, annotator, version FROM decisions WHERE clip_id = ? AND item_id != ? "
        "ORDER BY decision_id DESC LIMIT 1", (c.clip_id, item.item_id)).fetchone()
    reopened = store.conn.execute(
        "SELECT r.lead, r.reason, d.action, d.annotator FROM reopens r JOIN decisions d ON "
        "d.decision_id = r.decision_id WHERE r.item_id = ? ORDER BY r.reopen_id DESC LIMIT 1",
        (item.item_id,)).fetchone()
    return {
        "item_id": item.item_id, "version": item.version, "clip_id": c.clip_id,
        "flagged": item.flagged, "flags": c.flags, "missing": c.missing,
        "sections": {s: getattr(c, s) for s in SECTIONS},
        "titles": dict(SECTION_TITLES), "backend": c.backend, "model": c.model,
        "lease_expires": item.lease_expires.isoformat() if item.lease_expires else None,
        "earlier": None if earlier is None else {"action": earlier[0], "annotator": earlier[1],
                                                 "version": earlier[2]},
        "reopened": None if reopened is None else {"by": reopened[0], "reason": reopened[1],
                                                   "action": reopened[2],
                                                   "annotator": reopened[3]},
        "media": f"/media/items/{item.item_id}/preview.mp4",
        "overlays": f"/api/items/{item.item_id}/overlays",
    }


def _skip_list(raw: str | None) -> list[int]:
    try:
        return [int(x) for x in (raw or "").split(",") if x.strip()][:1000]
    except ValueError:
        raise BadRequestError("skip must be comma-separated item ids") from None


def next_item(ctx: ServerContext, store: ReviewStore, sess: Session, req: Req) -> Reply:
    """The item this annotator holds (after a reload), else a newly claimed one; 204 when
    nothing is left. `?skip=3,7`: items skipped in this browser session."""
    skip = _skip_list(req.query.get("skip"))
    mine = [i for i in held(store, sess.name) if i.item_id not in skip]
    item = mine[0] if mine else claim(store, sess.name, exclude=skip)
    if item is None:
        return 204, None
    return 200, {**item_payload(store, item), "progress": progress(store, sess.name)}


def _request(req: Req) -> DecisionRequest:
    body = dict(req.body or {})
    body["item_id"] = req.path["item_id"]
    body.setdefault("edits", {})
    try:
        return DecisionRequest.model_validate(body)
    except ValidationError as exc:
        raise BadRequestError("; ".join(e["msg"].removeprefix("Value error, ")
                                   for e in exc.errors())) from None


def refusals_by_section(edits: dict[str, str]) -> dict[str, str]:
    """Why each edited section would be refused (validated one by one, as decide does)."""
    out: dict[str, str] = {}
    for name, text in edits.items():
        try:
            validate_edits({name: text})
        except InvalidEditError as exc:
            out[name] = str(exc).split(": ", 2)[-1]
    return out


def decision(ctx: ServerContext, store: ReviewStore, sess: Session, req: Req) -> Reply:
    """Apply {"version", "action", "edits", "reason"} to the item; the decision as JSON."""
    request = _request(req)
    refused = refusals_by_section(request.edits)
    if refused:  # said per section, so the page shows each refusal under its text
        message = "edit refused: " + "; ".join(f"section '{k}': {v}" for k, v in refused.items())
        return 422, {"ok": False, "error": "invalid", "message": message, "sections": refused}
    record = decide(store, request, sess.name)
    return 200, {"ok": True, "decision": record.model_dump(mode="json"),
                 "progress": progress(store, sess.name)}


def release_item(ctx: ServerContext, store: ReviewStore, sess: Session, req: Req) -> Reply:
    item = release(store, req.path["item_id"], sess.name)
    return 200, {"ok": True, "item_id": item.item_id, "state": item.state}


def reopen_item(ctx: ServerContext, store: ReviewStore, sess: Session, req: Req) -> Reply:
    """Leads only: send a decided item back to the queue, with a reason."""
    reason = str((req.body or {}).get("reason") or "")
    item = reopen(store, req.path["item_id"], sess.name, reason)
    return 200, {"ok": True, "item_id": item.item_id, "state": item.state}


def stats(ctx: ServerContext, store: ReviewStore, sess: Session, req: Req) -> Reply:
    """Progress for everyone; for leads also the queue, annotators and caption quality."""
    out: dict[str, Any] = {"name": sess.name, "role": sess.role,
                           "progress": progress(store, sess.name)}
    if sess.role == "lead":
        out["queue"] = ctx.full_stats(store)
    return 200, out


def overlays(ctx: ServerContext, store: ReviewStore, sess: Session, req: Req) -> Reply:
    """The clip's condition overlays and the preview's time offset (see web.media)."""
    from any2capins.review.web.media import MediaError

    item = store.item(req.path["item_id"])
    data = dict(ctx.media.overlays(item.clip_id))
    try:
        _path, info = ctx.media.preview(item.clip_id)
        data.update(time_offset=info.time_offset, preview_fps=info.fps, preview_error=None)
    except MediaError as exc:
        data.update(time_offset=data["span_start_s"] or 0.0, preview_fps=data["fps"],
                    preview_error=str(exc))
    if data.get("depth"):
        data["depth"] = {**data["depth"], "sprite": f"/media/items/{item.item_id}/depth.png"}
    return 200, data
