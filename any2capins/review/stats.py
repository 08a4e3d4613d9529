"""`review stats`: the queue's state and the reviewers' work, from the SQLite store.

Edit distance is word-level Levenshtein between the text before and after an edit (a missing
section counts as empty text), reported per section.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

from any2capins.models.captions import SECTIONS
from any2capins.review.decisions import audit_trail
from any2capins.review.store import ReviewStore


def word_distance(a: str, b: str) -> int:
    """Levenshtein distance between the word sequences of `a` and `b`."""
    x, y = a.split(), b.split()
    prev = list(range(len(y) + 1))
    for i, wx in enumerate(x, start=1):
        cur = [i]
        for j, wy in enumerate(y, start=1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (wx != wy)))
        prev = cur
    return prev[-1]


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
    return "\n".join(lines)


def _kv(d: dict[str, Any]) -> str:
    return "  ".join(f"{k} {v}" for k, v in d.items())


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}%"
