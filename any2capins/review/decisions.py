"""Decisions: accept, edit (per section) or reject one claimed item, with a full audit trail.

Optimistic versioning: a request names the caption version the annotator looked at; when the
item is no longer that version (the caption was regenerated), or was already decided, the
request is refused with a message saying why, and nothing is overwritten. Edited text is
validated by the same pydantic type as `StructuredCaption`'s sections; accept (with or without
edits) needs a complete caption: all six sections present and valid. The one exception is the
automatic demo policy `auto_accept(..., allow_incomplete=True)`: it may accept the offline
rules backend's partial captions, and the approved row then lists the `missing` sections.
"""

from __future__ import annotations

import json
import sqlite3

from pydantic import TypeAdapter, ValidationError

from any2capins.models.captions import SECTIONS, SectionText, StructuredCaption
from any2capins.models.review import DECIDED_STATES, DecisionRecord, DecisionRequest, QueueItem
from any2capins.review.errors import InvalidEditError, LeaseError, StaleDecisionError
from any2capins.review.leases import claim, describe_holder, release
from any2capins.review.store import ReviewStore, dumps, to_dt

_SECTION = TypeAdapter(SectionText)


def _reason(exc: ValidationError) -> str:
    return "; ".join(e["msg"].removeprefix("Value error, ") for e in exc.errors())


def validate_edits(edits: dict[str, str]) -> dict[str, str]:
    """Normalised new texts, or InvalidEditError naming every section that failed and why."""
    out: dict[str, str] = {}
    problems: list[str] = []
    for name in SECTIONS:
        if name not in edits:
            continue
        try:
            out[name] = _SECTION.validate_python(edits[name])
        except ValidationError as exc:
            problems.append(f"section '{name}': {_reason(exc)}")
    if problems:
        raise InvalidEditError("edit refused: " + "; ".join(problems))
    return out


def complete_caption(sections: dict[str, str]) -> StructuredCaption:
    """The validated caption; InvalidEditError when sections are missing or invalid."""
    missing = [s for s in SECTIONS if s not in sections]
    if missing:
        raise InvalidEditError(
            f"accept needs a complete caption; missing section(s): {', '.join(missing)}. "
            "Write them with an edit, or reject the item."
        )
    try:
        return StructuredCaption(**sections)
    except ValidationError as exc:
        raise InvalidEditError(f"caption does not validate: {_reason(exc)}") from None


def _check_current(conn: sqlite3.Connection, item: QueueItem, request: DecisionRequest) -> None:
    if request.version != item.version:
        raise StaleDecisionError(
            f"item {item.item_id} holds version {item.version} of clip {item.clip_id}, but the "
            f"decision was made on version {request.version}: refused, nothing was changed"
        )
    if item.state == "superseded":
        newer = conn.execute("SELECT item_id, version FROM items WHERE clip_id = ? AND "
                             "state != 'superseded' ORDER BY item_id DESC LIMIT 1",
                             (item.clip_id,)).fetchone()
        where = f" by version {newer[1]} (item {newer[0]})" if newer else ""
        raise StaleDecisionError(
            f"the caption of clip {item.clip_id} was regenerated: version {item.version} was "
            f"replaced{where}; review the new version. Nothing was changed."
        )
    if item.state in DECIDED_STATES.values():
        row = conn.execute("SELECT d.action, d.annotator, d.decided_at FROM decisions d JOIN "
                           "items i ON i.decision_id = d.decision_id WHERE i.item_id = ?",
                           (item.item_id,)).fetchone()
        raise StaleDecisionError(
            f"item {item.item_id} was already decided ({row[0]} by {row[1]} at "
            f"{to_dt(row[2]):%Y-%m-%d %H:%M:%SZ}); nothing was overwritten"
        )


def _check_lease(item: QueueItem, annotator: str) -> None:
    # An expired lease that nobody reclaimed still counts: no one else is working on it.
    if item.state != "leased" or item.lease_owner != annotator:
        raise LeaseError(f"{annotator} does not hold item {item.item_id} "
                         f"({describe_holder(item)}); claim it first")


def decide(
    store: ReviewStore, request: DecisionRequest, annotator: str, *, automatic: bool = False,
    allow_incomplete: bool = False,
) -> DecisionRecord:
    """Apply one decision atomically and append it to the audit trail. `allow_incomplete`
    (automatic decisions only) accepts a caption with missing sections."""
    if allow_incomplete and not automatic:
        raise InvalidEditError("only the automatic policy may accept an incomplete caption")
    name = store.check_annotator(annotator)
    with store.write() as conn:
        item = store.item(request.item_id)
        _check_current(conn, item, request)
        _check_lease(item, name)
        before = item.sections()
        after = dict(before)
        edited: list[str] = []
        if request.action == "edit":
            new = validate_edits(request.edits)
            # Compared word by word: re-wrapping a text in the editor is not an edit.
            edited = [s for s in SECTIONS
                      if s in new and new[s].split() != before.get(s, "").split()]
            after.update(new)
        if request.action != "reject":
            after = (validate_edits(after) if allow_incomplete
                     else complete_caption(after).model_dump())
        # An "edit" that changes no text is recorded as what it is: an accept.
        action = "accept" if request.action == "edit" and not edited else request.action
        now = store.now()
        lease = conn.execute("SELECT l.lease_id, l.claimed_at FROM leases l JOIN items i ON "
                             "i.lease_id = l.lease_id WHERE i.item_id = ?",
                             (item.item_id,)).fetchone()
        decision_id = conn.execute(
            "INSERT INTO decisions (item_id, clip_id, version, action, annotator, automatic, "
            "decided_at, lease_id, claimed_at, reason, before_json, after_json, edited_json) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (item.item_id, item.clip_id, item.version, action, name, int(automatic),
             now, lease[0], lease[1], request.reason, dumps(before), dumps(after), dumps(edited)),
        ).lastrowid
        conn.execute("UPDATE leases SET ended_at = ?, outcome = 'decided' WHERE lease_id = ?",
                     (now, lease[0]))
        conn.execute("UPDATE items SET state = ?, decision_id = ?, lease_id = NULL, "
                     "lease_owner = NULL, lease_expires = NULL WHERE item_id = ?",
                     (DECIDED_STATES[action], decision_id, item.item_id))
    return decision(store, decision_id)


def decision_from_row(row: sqlite3.Row) -> DecisionRecord:
    return DecisionRecord(
        decision_id=row["decision_id"], item_id=row["item_id"], clip_id=row["clip_id"],
        version=row["version"], action=row["action"], annotator=row["annotator"],
        automatic=bool(row["automatic"]), decided_at=to_dt(row["decided_at"]),
        claimed_at=to_dt(row["claimed_at"]), reason=row["reason"],
        before=json.loads(row["before_json"]), after=json.loads(row["after_json"]),
        edited_sections=json.loads(row["edited_json"]),
    )


def decision(store: ReviewStore, decision_id: int) -> DecisionRecord:
    row = store.conn.execute("SELECT * FROM decisions WHERE decision_id = ?",
                             (decision_id,)).fetchone()
    return decision_from_row(row)


def audit_trail(store: ReviewStore, clip_id: str | None = None) -> list[DecisionRecord]:
    """Every decision ever made (or those of one clip), oldest first."""
    where, params = ("WHERE clip_id = ?", (clip_id,)) if clip_id else ("", ())
    rows = store.conn.execute(f"SELECT * FROM decisions {where} ORDER BY decision_id",  # noqa: S608
                              params).fetchall()
    return [decision_from_row(r) for r in rows]


def reopen(store: ReviewStore, item_id: int, lead: str, reason: str) -> QueueItem:
    """Send a decided item back to the queue (pending, served again like any other), keeping
    its decision in the audit trail and recording who reopened it and why (`reopens`). Only
    the clip's current caption version can be reopened: export approves nothing else."""
    name = store.check_annotator(lead)
    if not reason.strip():
        raise InvalidEditError("reopening an item needs a reason")
    with store.write() as conn:
        item = store.item(item_id)
        if item.state not in DECIDED_STATES.values():
            raise LeaseError(f"item {item_id} is not decided ({describe_holder(item)}): "
                             "nothing to reopen")
        current = conn.execute("SELECT version FROM current WHERE clip_id = ?",
                               (item.clip_id,)).fetchone()
        if current is not None and current[0] != item.version:
            raise StaleDecisionError(f"item {item_id} holds version {item.version} of clip "
                                     f"{item.clip_id}, but its current caption is version "
                                     f"{current[0]}: reopen that item instead")
        decision_id = conn.execute("SELECT decision_id FROM items WHERE item_id = ?",
                                   (item_id,)).fetchone()[0]
        conn.execute("INSERT INTO reopens (item_id, decision_id, lead, reopened_at, reason) "
                     "VALUES (?, ?, ?, ?, ?)", (item_id, decision_id, name, store.now(),
                                                reason.strip()))
        conn.execute("UPDATE items SET state = 'pending', decision_id = NULL WHERE item_id = ?",
                     (item_id,))
    return store.item(item_id)


def auto_accept(store: ReviewStore, annotator: str, *, skip_flagged: bool = False,
                allow_incomplete: bool = False) -> dict:
    """Accept every claimable complete caption as `annotator`, marked automatic in the audit
    trail. Incomplete captions (and flagged ones with `skip_flagged`) stay for people, unless
    `allow_incomplete` (the offline demo: rules-backend captions lack the sections only a
    model can write; the approved rows then list them as missing)."""
    left: list[int] = []
    accepted = 0
    while (item := claim(store, annotator, exclude=left)) is not None:
        if (item.caption.missing and not allow_incomplete) or (skip_flagged and item.flagged):
            release(store, item.item_id, annotator)
            left.append(item.item_id)
            continue
        request = DecisionRequest(item_id=item.item_id, version=item.version,
                                  action="accept", reason="automatic policy")
        try:
            decide(store, request, annotator, automatic=True,
                   allow_incomplete=allow_incomplete)
        except InvalidEditError:  # e.g. a section over the word limit: a person must fix it
            release(store, item.item_id, annotator)
            left.append(item.item_id)
            continue
        accepted += 1
    return {"accepted": accepted, "left_for_people": len(left)}
