"""`review export`: approved captions back to Parquet.

Writes `RUN_DIR/review/decisions/shard-NNNNN.parquet` (rows of `ApprovedCaption`), one file
per captions/merged shard the queue has seen (empty files included, so shard N of later stages
still comes from shard N), and the whole audit trail to `RUN_DIR/review/audit.parquet`
(rows of `DecisionRecord`). A clip is exported only when the caption version that was accepted
is still the clip's current version: a regenerated caption must be reviewed again. The figures
of `review stats --json` (caption quality included) go to `RUN_DIR/review/stats.json`, for the
dataset card.
"""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

from any2capins.io.arrow import to_table
from any2capins.io.shards import ShardStore, shard_name
from any2capins.models.captions import SECTION_TITLES, SECTIONS, MergedCaption, StructuredCaption
from any2capins.models.review import ApprovedCaption, DecisionRecord
from any2capins.models.tables import folder
from any2capins.review.decisions import audit_trail, decision_from_row
from any2capins.review.stats import compute_stats
from any2capins.review.store import ReviewStore

DECISIONS_DIR = folder("review.decisions")
AUDIT_FILE = "review/audit.parquet"
STATS_FILE = "review/stats.json"

_APPROVED_SQL = """
SELECT d.*, i.caption_json, c.shard AS source_shard
FROM items i
JOIN current c ON c.clip_id = i.clip_id AND c.version = i.version
JOIN decisions d ON d.decision_id = i.decision_id
WHERE i.state IN ('accepted', 'edited')
ORDER BY i.clip_id
"""


def approved(store: ReviewStore) -> dict[int, list[ApprovedCaption]]:
    """Approved captions by source shard (every shard the queue has seen is a key)."""
    out: dict[int, list[ApprovedCaption]] = defaultdict(list)
    for (shard,) in store.conn.execute("SELECT shard FROM sources"):
        out[shard] = []
    for row in store.conn.execute(_APPROVED_SQL).fetchall():
        out[row["source_shard"]].append(_approved_row(row))
    return dict(sorted(out.items()))


def _approved_row(row: Any) -> ApprovedCaption:
    decision: DecisionRecord = decision_from_row(row)
    caption = MergedCaption.model_validate(json.loads(row["caption_json"]))
    missing = [s for s in SECTIONS if s not in decision.after]
    if missing:  # automatic demo accept of a partial caption
        sections = {s: decision.after.get(s) for s in SECTIONS}
        text = "\n".join(f"{i}. {SECTION_TITLES[s]}: {t}"
                         for i, (s, t) in enumerate(sections.items(), 1) if t)
    else:
        final = StructuredCaption(**{s: decision.after[s] for s in SECTIONS})
        sections, text = final.model_dump(), final.render()
    return ApprovedCaption(
        clip_id=caption.clip_id, uri=caption.uri, version=caption.version,
        decision=decision.action, reviewer=decision.annotator, automatic=decision.automatic,
        decided_at=decision.decided_at, decision_id=decision.decision_id,
        **sections, missing=missing, text=text, edited_sections=decision.edited_sections,
        flags=caption.flags, backend=caption.backend, model=caption.model,
        prompt_versions=caption.prompt_versions,
    )


def export(store: ReviewStore, run_dir: str) -> dict[str, Any]:
    """Write the decisions shards and the audit file; returns counts and locations."""
    shards = ShardStore(run_dir)
    by_shard = approved(store)
    for index, rows in by_shard.items():
        shards.write_table(f"{DECISIONS_DIR}/{shard_name(index)}", to_table(rows, ApprovedCaption))
    trail = audit_trail(store)
    shards.write_table(AUDIT_FILE, to_table(trail, DecisionRecord))
    shards.write_json(STATS_FILE, compute_stats(store))
    return {
        "approved": sum(len(r) for r in by_shard.values()),
        "shards": len(by_shard),
        "decisions_in_audit": len(trail),
        "decisions_dir": shards.root.join(DECISIONS_DIR).uri(),
        "audit": shards.root.join(AUDIT_FILE).uri(),
        "stats": shards.root.join(STATS_FILE).uri(),
    }
