"""Where the clips went: every clip of `clips/` is counted once, either in the dataset or at
the first step that left it out, with the reason. Instances lost after planning (short-prompt
and export error rows) are counted apart, by error class.

Buckets, in pipeline order (a clip lands in the first that applies):

    filtered:<reason>    the curation filters left it out (quality/ table; the first of its
                         reasons: dark, static, blur, text, aesthetic, duplicate)
    caption_error        the captions stage wrote an error row for it
    no_caption           no merged caption row (captions not run for its shard)
    rejected             the latest review decision rejected it
    incomplete_caption   its caption misses sections and was not approved
    not_reviewed         merged but not (yet) approved or rejected
    no_condition_set     approved, but none of the recipe's condition sets is available
    shortprompt_failed   approved with condition sets, but every short prompt failed
    export_failed        short prompts written, but every instance failed in export
    not_exported         short prompts written, export not run for its shard
    exported             in instances/

Only columns are read (clip ids, `missing`, actions), never images or depth maps.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from any2capins.io import fs
from any2capins.io.shards import ShardStore
from any2capins.models.tables import folder

FILTER_REASONS: dict[str, str] = {
    "dark": "dark or mostly black frames",
    "static": "no motion (frozen or near-static)",
    "blur": "blurry",
    "text": "covered in burned-in text",
    "aesthetic": "below the aesthetic threshold",
    "duplicate": "a near-duplicate of a clip kept",
}
BUCKETS: dict[str, str] = {
    **{f"filtered:{k}": f"left out by the filters: {v}" for k, v in FILTER_REASONS.items()},
    "caption_error": "caption failed (error rows in _errors/captions)",
    "no_caption": "no merged caption (captions not run for its shard)",
    "rejected": "rejected in review",
    "incomplete_caption": "caption incomplete (missing sections) and not approved",
    "not_reviewed": "not reviewed yet (not approved or rejected)",
    "no_condition_set": "approved, but no condition set of the recipe is available",
    "shortprompt_failed": "every short prompt failed (error rows in _errors/shortprompts)",
    "export_failed": "every instance failed in export (error rows in _errors/export)",
    "not_exported": "short prompts written, export not run for its shard",
}


def _column(store: ShardStore, rel: str, columns: list[str]) -> list[dict[str, Any]]:
    """Rows (only `columns`) of every Parquet shard under `rel`; [] when there is none."""
    import pyarrow.dataset as ds

    loc = store.root.join(rel)
    files = [p for p in fs.list_files(loc, ".parquet") if "/_" not in p[len(loc.path):]]
    if not files:
        return []
    dataset = ds.dataset(files, filesystem=loc.fs, format="parquet")
    cols = [c for c in columns if c in dataset.schema.names]
    return dataset.to_table(columns=cols).to_pylist()


def _errors(store: ShardStore, stage: str) -> list[dict[str, Any]]:
    return _column(store, f"_errors/{stage}", ["clip_id", "error_class"])


def _review(store: ShardStore) -> tuple[set[str], set[str]]:
    """(approved clip ids, rejected clip ids: latest decision is a reject)."""
    approved = {r["clip_id"] for r in _column(store, folder("review.decisions"), ["clip_id"])}
    latest: dict[str, tuple[int, str]] = {}
    loc = store.root.join("review", "audit.parquet")
    if fs.exists(loc):
        table = fs.read_table(loc).select(["clip_id", "decision_id", "action"])
        for row in table.to_pylist():
            if row["clip_id"] not in latest or row["decision_id"] > latest[row["clip_id"]][0]:
                latest[row["clip_id"]] = (row["decision_id"], row["action"])
    rejected = {c for c, (_, a) in latest.items() if a == "reject" and c not in approved}
    return approved, rejected


def _bucket(cid: str, s: dict[str, Any]) -> str:
    """The first step that left clip `cid` out (see the module docstring), or 'exported'."""
    if cid in s["exported"]:
        return "exported"
    if cid in s["filtered"]:
        return f"filtered:{s['filtered'][cid]}"
    rules = [("caption_error", cid in s["cap_err"]), ("no_caption", cid not in s["merged"]),
             ("rejected", cid in s["rejected"]),
             ("incomplete_caption", cid in s["incomplete"] and cid not in s["approved"]),
             ("not_reviewed", cid not in s["approved"]),
             ("no_condition_set", cid not in s["prompted"] and cid not in s["sp_err"]),
             ("shortprompt_failed", cid not in s["prompted"]),
             ("export_failed", cid in s["ex_err"])]
    return next((name for name, hit in rules if hit), "not_exported")


def left_out(store: ShardStore) -> dict[str, Any]:
    """Clip counts per bucket, and instances lost to short-prompt / export error rows."""
    clips = [r["clip_id"] for r in _column(store, folder("clips"), ["clip_id"])]
    merged = _column(store, folder("captions.merged"), ["clip_id", "missing"])
    approved, rejected = _review(store)
    sp_errors, ex_errors = _errors(store, "shortprompts"), _errors(store, "export")
    quality = _column(store, folder("quality"), ["clip_id", "kept", "reasons"])
    sets = {
        "filtered": {r["clip_id"]: (r["reasons"] or ["unknown"])[0] for r in quality
                     if r.get("kept") is False},
        "exported": {r["clip_id"] for r in _column(store, folder("instances"), ["clip_id"])},
        "cap_err": {r["clip_id"] for r in _errors(store, "captions")},
        "merged": {r["clip_id"] for r in merged},
        "incomplete": {r["clip_id"] for r in merged if r.get("missing")},
        "approved": approved, "rejected": rejected,
        "prompted": {r["clip_id"] for r in _column(store, folder("shortprompts"), ["clip_id"])},
        "sp_err": {r["clip_id"] for r in sp_errors},
        "ex_err": {r["clip_id"] for r in ex_errors},
    }
    counts = Counter(_bucket(c, sets) for c in clips)
    return {
        "clips": len(clips),
        "exported_clips": counts.pop("exported", 0),
        "left_out": {k: counts[k] for k in BUCKETS if counts.get(k)},
        "ingest_errors": len(_errors(store, "ingest")),
        "instances_failed": {
            "shortprompts": dict(Counter(r["error_class"] for r in sp_errors)),
            "export": dict(Counter(r["error_class"] for r in ex_errors)),
        },
    }


def left_out_lines(report: dict[str, Any]) -> list[str]:
    """Markdown lines for the dataset card and the export summary."""
    lines = [f"{report['exported_clips']} of {report['clips']} clips are in the dataset."]
    for key, n in report["left_out"].items():
        lines.append(f"- {n} left out: {BUCKETS.get(key, key)}")
    if report["ingest_errors"]:
        lines.append(f"- {report['ingest_errors']} source file(s) never became clips "
                     "(error rows in _errors/ingest)")
    for step, classes in report["instances_failed"].items():
        if classes:
            detail = ", ".join(f"{k} {v}" for k, v in classes.items())
            lines.append(f"- {sum(classes.values())} instance(s) failed in {step} ({detail})")
    return lines
