"""Review queue store: enqueue policies, versions, leases, decisions, audit trail, export."""

from __future__ import annotations

import hashlib
import json
import sqlite3

import pyarrow.parquet as pq
import pytest
from pydantic import ValidationError
from review_helpers import Clock, make_caption, queue, write_merged

from any2capins.errors import InputError
from any2capins.io.arrow import from_table
from any2capins.models.captions import SECTIONS
from any2capins.models.review import ApprovedCaption, DecisionRecord, DecisionRequest
from any2capins.review.decisions import audit_trail, auto_accept, decide
from any2capins.review.enqueue import enqueue, parse_policy, read_merged
from any2capins.review.errors import (
    AnnotatorError,
    InvalidEditError,
    LeaseError,
    StaleDecisionError,
)
from any2capins.review.export import export
from any2capins.review.leases import claim, held, release
from any2capins.review.stats import compute_stats, word_distance


def _accept(store, item, who="alice"):
    return decide(store, DecisionRequest(item_id=item.item_id, version=item.version,
                                         action="accept"), who)


def test_enqueue_is_idempotent_and_new_versions_are_new_items(tmp_path):
    rows = [make_caption(f"c{i}") for i in range(6)]
    write_merged(tmp_path, {0: rows[:3], 1: rows[3:]})
    store = queue(tmp_path)
    first = enqueue(store, read_merged(str(tmp_path)), "all")
    again = enqueue(store, read_merged(str(tmp_path)), "all")
    assert (first.added, again.added, again.already_queued) == (6, 0, 6)
    assert store.counts_by_state() == {"pending": 6}

    # c0 decided, c1 pending: both captions regenerated.
    item = claim(store, "alice")
    assert item.clip_id == "c0"
    _accept(store, item)
    regen = [make_caption("c0", variant="v2"), make_caption("c1", variant="v2"), *rows[2:3]]
    write_merged(tmp_path, {0: regen, 1: rows[3:]})
    third = enqueue(store, read_merged(str(tmp_path)), "all")
    assert (third.added, third.superseded, third.already_queued) == (2, 1, 4)
    states = {(i.clip_id, i.version): i.state for i in store.items()}
    assert states[("c0", rows[0].version)] == "accepted"  # history kept, not overwritten
    assert states[("c1", rows[1].version)] == "superseded"
    assert states[("c0", regen[0].version)] == "pending"
    assert states[("c1", regen[1].version)] == "pending"


def test_policies_flagged_and_deterministic_sample(tmp_path):
    rows = [make_caption(f"clip-{i:03d}", flags=["camera_mismatch"] if i % 10 == 0 else [],
                         missing=["dense"] if i % 25 == 1 else []) for i in range(200)]
    attention = {r.clip_id for r in rows if r.flags or r.missing}
    write_merged(tmp_path, {0: rows})

    flagged = queue(tmp_path / "a")
    enqueue(flagged, read_merged(str(tmp_path)), "flagged")
    assert {i.clip_id for i in flagged.items()} == attention

    def drawn(cid: str) -> bool:
        return int(hashlib.sha256(cid.encode()).hexdigest()[:16], 16) < 0.3 * 16**16

    expected = attention | {r.clip_id for r in rows if drawn(r.clip_id)}
    for name in ("b", "c"):  # two independent queues draw the same sample
        sampled = queue(tmp_path / name)
        enqueue(sampled, read_merged(str(tmp_path)), "sample:0.3")
        assert {i.clip_id for i in sampled.items()} == expected
    assert 40 < len(expected - attention) < 80
    for bad in ("some", "sample:1.5", "sample:x"):
        with pytest.raises(InputError):
            parse_policy(bad)


def test_claim_serves_flagged_first_then_oldest(tmp_path):
    rows = [make_caption("a"), make_caption("b", flags=["people_count"]), make_caption("c"),
            make_caption("d", missing=["style"])]
    store = queue(tmp_path)
    enqueue(store, [(0, rows)], "all")
    order = [claim(store, "alice").clip_id for _ in rows]
    assert order == ["b", "d", "a", "c"]
    assert claim(store, "alice") is None


def test_lease_expiry_and_reclaim(tmp_path):
    clock = Clock()
    store = queue(tmp_path, lease_seconds=600, clock=clock)
    enqueue(store, [(0, [make_caption("x")])], "all")
    mine = claim(store, "alice")
    assert claim(store, "bob") is None  # held: nobody else gets it
    clock.advance(599)
    assert claim(store, "bob") is None
    assert [i.item_id for i in held(store, "alice")] == [mine.item_id]
    clock.advance(2)
    theirs = claim(store, "bob")
    assert theirs.item_id == mine.item_id and theirs.lease_owner == "bob"
    with pytest.raises(LeaseError, match="leased to bob"):
        _accept(store, mine, "alice")
    record = _accept(store, theirs, "bob")
    leases = store.conn.execute(
        "SELECT annotator, outcome FROM leases ORDER BY lease_id").fetchall()
    assert [tuple(r) for r in leases] == [("alice", "expired"), ("bob", "decided")]
    assert [d.decision_id for d in audit_trail(store)] == [record.decision_id]


def test_own_expired_lease_still_counts_until_reclaimed(tmp_path):
    clock = Clock()
    store = queue(tmp_path, lease_seconds=60, clock=clock)
    enqueue(store, [(0, [make_caption("x")])], "all")
    item = claim(store, "alice")
    clock.advance(3600)
    assert _accept(store, item, "alice").annotator == "alice"


def test_release_gives_item_back_and_only_the_holder_may(tmp_path):
    store = queue(tmp_path)
    enqueue(store, [(0, [make_caption("x"), make_caption("y")])], "all")
    item = claim(store, "alice")
    with pytest.raises(LeaseError):
        release(store, item.item_id, "bob")
    assert release(store, item.item_id, "alice").state == "pending"
    assert claim(store, "bob").item_id == item.item_id  # keeps its place in the order
    assert claim(store, "bob", exclude=[item.item_id + 1]) is None


def test_stale_version_and_double_decision_are_refused(tmp_path):
    store = queue(tmp_path)
    old = make_caption("x")
    enqueue(store, [(0, [old, make_caption("y")])], "all")
    item = claim(store, "alice")
    wrong = DecisionRequest(item_id=item.item_id, version="0" * 16, action="accept")
    with pytest.raises(StaleDecisionError, match="was made on version 0000"):
        decide(store, wrong, "alice")
    enqueue(store, [(0, [make_caption("x", variant="v2")])], "all")  # regenerated meanwhile
    with pytest.raises(StaleDecisionError, match="regenerated"):
        _accept(store, item, "alice")
    other = claim(store, "alice")
    _accept(store, other, "alice")
    with pytest.raises(StaleDecisionError, match="already decided"):
        decide(store, DecisionRequest(item_id=other.item_id, version=other.version,
                                      action="reject", reason="late"), "alice")
    assert len(audit_trail(store)) == 1
    assert store.item(other.item_id).state == "accepted"


def test_invalid_edits_are_refused_with_the_reason(tmp_path):
    store = queue(tmp_path)
    enqueue(store, [(0, [make_caption("x")])], "all")
    item = claim(store, "alice")
    for edits, reason in (({"camera": "   \n "}, "section 'camera': section text is empty"),
                          ({"style": "word " * 401}, "more than 400 words")):
        request = DecisionRequest(item_id=item.item_id, version=item.version, action="edit",
                                  edits=edits)
        with pytest.raises(InvalidEditError, match=reason):
            decide(store, request, "alice")
    with pytest.raises(ValidationError, match="unknown section"):
        DecisionRequest(item_id=1, version="v", action="edit", edits={"colour": "red"})
    with pytest.raises(ValidationError, match="needs a reason"):
        DecisionRequest(item_id=1, version="v", action="reject")
    assert audit_trail(store) == []
    assert store.item(item.item_id).state == "leased"


def test_accept_needs_complete_caption_and_edits_can_fill_missing(tmp_path):
    store = queue(tmp_path)
    enqueue(store, [(0, [make_caption("x", missing=["dense", "background"])])], "all")
    item = claim(store, "alice")
    with pytest.raises(InvalidEditError, match=r"missing section.*dense, background"):
        _accept(store, item)
    partial = DecisionRequest(item_id=item.item_id, version=item.version, action="edit",
                              edits={"dense": "A dog runs."})
    with pytest.raises(InvalidEditError, match="background"):
        decide(store, partial, "alice")
    full = DecisionRequest(item_id=item.item_id, version=item.version, action="edit",
                           edits={"dense": "A dog  runs\n on grass.", "background": "A park."})
    record = decide(store, full, "alice")
    assert record.edited_sections == ["dense", "background"]
    assert record.after["dense"] == "A dog runs on grass."  # normalised like StructuredCaption
    assert "dense" not in record.before and set(record.after) == set(SECTIONS)


def test_annotator_identity_and_roster(tmp_path):
    store = queue(tmp_path, roster=["alice"])
    enqueue(store, [(0, [make_caption("x")])], "all")
    for name in ("", "   ", None):
        with pytest.raises(AnnotatorError, match="required"):
            claim(store, name)
    with pytest.raises(AnnotatorError, match="not on the roster"):
        claim(store, "mallory")
    assert claim(store, " alice ").lease_owner == "alice"


def test_audit_trail_is_append_only(tmp_path):
    store = queue(tmp_path)
    enqueue(store, [(0, [make_caption("x")])], "all")
    _accept(store, claim(store, "alice"))
    for sql in ("UPDATE decisions SET annotator = 'eve'", "DELETE FROM decisions"):
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            store.conn.execute(sql)
    assert audit_trail(store)[0].annotator == "alice"


def _decide_mix(store):
    """accept, edit, reject in turn over every item; returns the records."""
    out = []
    n = 0
    while (item := claim(store, "alice" if n % 2 else "bob")) is not None:
        who = item.lease_owner
        kind = ("accept", "edit", "reject")[n % 3]
        if item.caption.missing:
            kind = "edit"
        edits = {s: f"Filled {s} {n}." for s in item.caption.missing} if kind == "edit" else {}
        if kind == "edit" and not edits:
            edits = {"camera": f"The camera pans left slowly, take {n}."}
        out.append(decide(store, DecisionRequest(
            item_id=item.item_id, version=item.version, action=kind, edits=edits,
            reason="blurry" if kind == "reject" else None), who))
        n += 1
    return out


def test_export_round_trip_equals_sqlite(tmp_path):
    rows = [make_caption(f"c{i}", missing=["dense"] if i == 4 else [],
                         flags=["f"] if i == 5 else []) for i in range(12)]
    write_merged(tmp_path, {0: rows[:5], 1: rows[5:10], 2: rows[10:], 3: []})
    store = queue(tmp_path)
    enqueue(store, read_merged(str(tmp_path)), "all")
    records = _decide_mix(store)
    # c11's caption is regenerated after its review: its old approval is not exported.
    write_merged(tmp_path, {2: [rows[10], make_caption("c11", variant="v2")]})
    enqueue(store, read_merged(str(tmp_path)), "all")
    result = export(store, str(tmp_path))

    exported = {}
    for shard in range(4):
        table = pq.read_table(tmp_path / "review" / "decisions" / f"shard-{shard:05d}.parquet")
        for row in from_table(table, ApprovedCaption):
            exported[row.clip_id] = (shard, row)
    current = {r.clip_id: r.version for r in rows[:11]}
    sql = ("SELECT d.*, i.shard FROM decisions d JOIN items i ON i.decision_id = d.decision_id "
           "WHERE d.action != 'reject'")
    expected = {r["clip_id"]: r for r in store.conn.execute(sql)
                if current.get(r["clip_id"]) == r["version"]}
    assert set(exported) == set(expected) and result["approved"] == len(expected)
    assert "c11" not in exported and any(d.clip_id == "c11" for d in records)
    for cid, (shard, row) in exported.items():
        src = expected[cid]
        after = json.loads(src["after_json"])
        assert shard == src["shard"]
        assert {s: getattr(row, s) for s in SECTIONS} == after
        assert (row.reviewer, row.decision, row.decision_id, row.version) == (
            src["annotator"], src["action"], src["decision_id"], src["version"])
        assert row.edited_sections == json.loads(src["edited_json"])
        assert row.text.splitlines()[3] == f"4. Camera caption: {after['camera']}"
    audit = from_table(pq.read_table(tmp_path / "review" / "audit.parquet"), DecisionRecord)
    assert audit == audit_trail(store) and len(audit) == len(records)


def test_auto_accept_is_marked_and_leaves_incomplete_items(tmp_path):
    store = queue(tmp_path)
    rows = [make_caption("a"), make_caption("b", missing=["camera"]),
            make_caption("c", flags=["people_count"])]
    enqueue(store, [(0, rows)], "all")
    assert auto_accept(store, "demo-bot", skip_flagged=True) == {"accepted": 1,
                                                                  "left_for_people": 2}
    assert auto_accept(store, "demo-bot") == {"accepted": 1, "left_for_people": 1}
    trail = audit_trail(store)
    assert [(d.clip_id, d.automatic, d.annotator) for d in trail] == [
        ("a", True, "demo-bot"), ("c", True, "demo-bot")]
    assert store.counts_by_state() == {"accepted": 2, "pending": 1}


def test_demo_policy_may_accept_incomplete_captions_and_export_lists_them(tmp_path):
    store = queue(tmp_path)
    partial = make_caption("p", missing=["dense", "main_object", "background"])
    enqueue(store, [(0, [make_caption("a"), partial])], "all")
    item = claim(store, "alice")
    with pytest.raises(InvalidEditError, match="only the automatic policy"):
        decide(store, DecisionRequest(item_id=item.item_id, version=item.version,
                                      action="accept"), "alice", allow_incomplete=True)
    release(store, item.item_id, "alice")
    assert auto_accept(store, "demo-bot", allow_incomplete=True) == {
        "accepted": 2, "left_for_people": 0}
    write_merged(tmp_path, {0: [make_caption("a"), partial]})
    export(store, str(tmp_path))
    rows = {r.clip_id: r for r in from_table(
        pq.read_table(tmp_path / "review" / "decisions" / "shard-00000.parquet"), ApprovedCaption)}
    assert rows["a"].missing == [] and rows["a"].dense
    p = rows["p"]
    assert p.missing == ["dense", "main_object", "background"] and p.dense is None
    assert p.automatic and p.text.splitlines()[0].startswith("4. Camera caption:")


def test_word_distance_and_stats(tmp_path):
    assert word_distance("a b c", "a b c") == 0
    assert word_distance("a b c", "a x c") == 1
    assert word_distance("", "one two") == 2
    assert word_distance("the dog runs", "dog runs fast") == 2
    store = queue(tmp_path)
    rows = [make_caption(f"c{i}", flags=["f1"] if i < 2 else [],
                         missing=["style"] if i in (3, 4) else []) for i in range(9)]
    rows[4] = rows[4].model_copy(update={"flags": ["missing:style"]})  # as captions/ flags it
    enqueue(store, [(0, rows)], "all")
    records = _decide_mix(store)
    stats = compute_stats(store)
    by_action = {a: sum(r.action == a for r in records) for a in ("accept", "edit", "reject")}
    assert stats["decisions"] == {k: v for k, v in by_action.items() if v}
    assert stats["acceptance_rate"] == round((by_action["accept"] + by_action["edit"]) / 9, 4)
    assert sum(a["decisions"] for a in stats["annotators"].values()) == 9
    assert set(stats["annotators"]) == {"alice", "bob"}
    assert stats["flags"] == {"f1": 2, "missing:style": 2}
    camera = [word_distance(r.before["camera"], r.after["camera"]) for r in records
              if "camera" in r.edited_sections]
    assert stats["edit_distance_words"]["camera"]["edits"] == len(camera)
    assert stats["edit_distance_words"]["camera"]["max_words"] == max(camera)
    assert stats["items_by_state"] == {
        "accepted": by_action["accept"], "edited": by_action["edit"],
        "rejected": by_action["reject"]}


def test_busy_queue_is_a_clear_error(tmp_path):
    from any2capins.review.errors import QueueUnavailableError

    store = queue(tmp_path)
    other = queue(tmp_path, busy_timeout_s=0.2)
    store.conn.execute("BEGIN IMMEDIATE")  # another writer holds the lock
    with pytest.raises(QueueUnavailableError, match="database is locked"):
        claim(other, "alice")
    store.conn.execute("ROLLBACK")
    assert claim(other, "alice") is None


def test_edit_that_changes_nothing_is_recorded_as_accept(tmp_path):
    store = queue(tmp_path)
    caption = make_caption("x")
    enqueue(store, [(0, [caption])], "all")
    item = claim(store, "alice")
    same = " ".join(caption.camera.split())  # the same words, whitespace normalised
    record = decide(store, DecisionRequest(item_id=item.item_id, version=item.version,
                                           action="edit", edits={"camera": f"  {same}\n"}),
                    "alice")
    assert (record.action, record.edited_sections) == ("accept", [])
    assert store.item(item.item_id).state == "accepted"
