"""Gates: the items a pass leaves out of its stages by another table's verdict (curation's
`quality/` table), and how that verdict enters the completion records of gated stages."""

from __future__ import annotations

from dataclasses import dataclass

from any2capins.io import fs
from any2capins.io.shards import ShardStore
from any2capins.models.tables import TABLES


@dataclass(frozen=True)
class Gate:
    """Items a pass leaves out of its stages by another table's verdict: the clips whose row
    of `table` has `kept` false (the curation filters' `quality` table), counted as skipped,
    neither rows nor errors. Stages named in `exempt` see every item (the contact sheet)."""

    table: str
    exempt: frozenset[str] = frozenset()
    kept: str = "kept"
    reasons: str = "reasons"

    def applies(self, stage: str) -> bool:
        return stage not in self.exempt


# the upstream entry of a gated stage: the gate's verdicts for its shard, not the identity of
# the gate table's shard (a shard is redone when the clips it must leave out change, not when
# the table is rewritten with the same verdicts); a record without it had every clip kept
GATE_SUFFIX = ":kept"
ALL_KEPT = "all-kept"


def gate_left_out(store: ShardStore, gate: Gate | None, index: int) -> set[str]:
    """Clip ids the gate's table marks not kept on shard `index` (none without a gate or a
    shard): the items a gated pass leaves out."""
    if gate is None:
        return set()
    loc = store.data_loc(TABLES[gate.table].folder, index)
    if not fs.exists(loc):
        return set()
    t = fs.read_table(loc, columns=["clip_id", gate.kept])
    return {c for c, k in zip(t.column(0).to_pylist(), t.column(1).to_pylist(), strict=True)
            if k is False}
