"""`review stats`: the queue's state and the reviewers' work, from the SQLite store.

Edit distance is word-level Levenshtein between the text before and after an edit (a missing
section counts as empty text), reported per section. Caption quality (share accepted unedited,
word edit rate, BLEU-2, ROUGE-L, chrF per section) comes from `quality`.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

from any2capins.models.captions import SECTIONS
from any2capins.review.decisions import audit_trail
from any2capins.review.quality import caption_quality, word_distance
from any2capins.review.store import ReviewStore

__all__ = ["compute_stats", "format_stats", "word_distance"]


def _annotators(decisions: list) -> dict[str, dict[str, Any]]:
    per: dict[str, dict[str, Any]] = defaultdict(lambda: {"decisions": 0, "accept": 0,
                                                          "edit": 0, "reject": 0, "seconds": 0.0})
    for d in decisions:
        row = per[d.annotator]
        row["decisions"] += 1
        row[d.action] += 1
        row["automatic"] = d.automatic
        if d.claimed_at is not None:
            row["seconds"] += (d.decided_at - d.claimed_at).total_seconds()
    for row in per.values():
        secs = row.pop("seconds")
        row["mean_seconds"] = round(secs / row["decisions"], 2)
        row["acceptance_rate"] = round((row["accept"] + row["edit"]) / row["decisions"], 4)
        row["items_per_hour"] = round(3600 * row["decisions"] / secs, 1) if secs > 0 else None
    return dict(sorted(per.items()))


def _edit_distances(decisions: list) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for name in SECTIONS:
        dists = [word_distance(d.before.get(name, ""), d.after.get(name, ""))
                 for d in decisions if d.action == "edit" and name in d.edited_sections]
        if dists:
            out[name] = {"edits": len(dists), "mean_words": round(sum(dists) / len(dists), 2),
                         "max_words": max(dists)}
    return out


_FLAGS_SQL = """
SELECT name, COUNT(*) FROM (
    SELECT items.item_id, j.value AS name
    FROM items, json_each(items.caption_json, '$.flags') j WHERE items.state != 'superseded'
    UNION
    SELECT items.item_id, 'missing:' || j.value
    FROM items, json_each(items.caption_json, '$.missing') j WHERE items.state != 'superseded'
) GROUP BY name ORDER BY COUNT(*) DESC, name
"""


def _flags(store: ReviewStore) -> dict[str, int]:
    """Items per flag kind over current items; a missing section counts as `missing:<name>`
    once per item, whether or not the captions stage also flagged it under that name."""
    return dict(store.conn.execute(_FLAGS_SQL).fetchall())


def compute_stats(store: ReviewStore) -> dict[str, Any]:
    """Everything `review stats` prints, as a JSON-ready dict."""
    decisions = audit_trail(store)
    actions = Counter(d.action for d in decisions)
    human = [d for d in decisions if not d.automatic]
    approved = actions["accept"] + actions["edit"]
    return {
        "items_by_state": dict(sorted(store.counts_by_state().items())),
        "decisions": dict(sorted(actions.items())),
        "automatic_decisions": len(decisions) - len(human),
        "acceptance_rate": round(approved / len(decisions), 4) if decisions else None,
        "human_acceptance_rate": (
            round(sum(d.action != "reject" for d in human) / len(human), 4) if human else None
        ),
        "annotators": _annotators(decisions),
        "edit_distance_words": _edit_distances(decisions),
        "flags": _flags(store),
        "caption_quality": caption_quality(decisions),
    }


def format_stats(stats: dict[str, Any]) -> str:
    """Plain-text rendering for people."""
    lines = ["items by state: " + _kv(stats["items_by_state"]),
             "decisions:      " + _kv(stats["decisions"])
             + f"  (automatic {stats['automatic_decisions']})",
             f"acceptance rate: {_pct(stats['acceptance_rate'])}  "
             f"(people only: {_pct(stats['human_acceptance_rate'])})", "annotators:"]
    for name, a in stats["annotators"].items():
        tag = " [automatic]" if a.get("automatic") else ""
        lines.append(f"  {name:<16} {a['decisions']:>6} decided  accept {a['accept']}  edit "
                     f"{a['edit']}  reject {a['reject']}  {a['mean_seconds']}s/item  "
                     f"{a['items_per_hour']} items/h{tag}")
    lines.append("edit distance (words) per section:")
    if not stats["edit_distance_words"]:
        lines.append("  no edits")
    for name, e in stats["edit_distance_words"].items():
        lines.append(f"  {name:<12} {e['edits']:>5} edits  mean {e['mean_words']}  "
                     f"max {e['max_words']}")
    lines.append("flags by kind:  " + (_kv(stats["flags"]) or "none"))
    lines += _format_quality(stats["caption_quality"])
    return "\n".join(lines)


def _format_quality(q: dict[str, Any]) -> list[str]:
    lines = [f"caption quality ({q['items']} human approvals; model text vs accepted text):"]
    if not q["items"]:
        return [*lines, "  no human approvals yet"]
    lines.append(f"  {'section':<12} {'approved':>8} {'unedited':>9} {'edit rate':>9} "
                 f"{'BLEU-2':>7} {'ROUGE-L':>7} {'chrF':>7}")
    for name, row in [*q["sections"].items(), ("all", q["all"])]:
        if row["approved"]:
            lines.append(f"  {name:<12} {row['approved']:>8} {_pct(row['unedited_share']):>9} "
                         f"{_num(row['word_edit_rate']):>9} {_num(row['bleu2']):>7} "
                         f"{_num(row['rouge_l']):>7} {_num(row['chrf']):>7}")
    return lines


def _num(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.2f}"


def _kv(d: dict[str, Any]) -> str:
    return "  ".join(f"{k} {v}" for k, v in d.items())


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}%"
