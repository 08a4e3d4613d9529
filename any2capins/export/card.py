"""The dataset card: `RUN_DIR/README.md` with the paper-style statistics table, `stats.json`,
and PNG plots (condition mix, caption and prompt length histograms, camera motion labels).

Statistics are computed from the instance shards (crop bytes are not read) and the camera
condition table (motion labels).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from any2capins.io import fs
from any2capins.io.shards import ShardStore
from any2capins.models.instances import CONDITION_TYPES
from any2capins.models.tables import folder

_COLUMNS = ["instance_id", "clip_id", "duration_s", "conditions", "condition_set",
            "n_ref", "short_prompt_words", "caption_words", "caption_complete", "split",
            "shortprompt_backend", "caption_backend", "tiny_models"]


def _instances(store: ShardStore) -> list[dict[str, Any]]:
    import pyarrow.compute as pc
    import pyarrow.dataset as ds

    loc = store.root.join(folder("instances"))
    files = [p for p in fs.list_files(loc, ".parquet") if "/_" not in p[len(loc.path):]]
    if not files:
        return []
    table = ds.dataset(files, filesystem=loc.fs, format="parquet").to_table(columns=[
        "instance_id", "clip_id", "duration_s", "conditions", "condition_set", "ref_images",
        "short_prompt_words", "caption_words", "caption_complete", "split", "provenance"])
    n_ref = pc.list_value_length(table.column("ref_images")).to_pylist()
    prov = table.column("provenance").to_pylist()
    rows = table.drop_columns(["ref_images", "provenance"]).to_pylist()
    for row, k, p in zip(rows, n_ref, prov, strict=True):
        row.update(n_ref=k or 0, shortprompt_backend=p["shortprompt_backend"],
                   caption_backend=p["caption_backend"], tiny_models=p["tiny_models"])
    return rows


def _motion_labels(store: ShardStore) -> Counter[str]:
    import pyarrow.dataset as ds

    loc = store.root.join("conditions", "camera")
    files = fs.list_files(loc, ".parquet")
    if not files:
        return Counter()
    table = ds.dataset(files, filesystem=loc.fs, format="parquet").to_table(columns=["segments"])
    return Counter(seg["label"] for segs in table.column("segments").to_pylist()
                   for seg in (segs or []))


def _mean(xs: list[float]) -> float:
    return round(sum(xs) / len(xs), 2) if xs else 0.0


def compute_stats(store: ShardStore) -> dict[str, Any]:
    """Paper-style statistics of the exported instances."""
    rows = _instances(store)
    per_type = {}
    for t in CONDITION_TYPES:
        sel = [r for r in rows if t in r["conditions"]]
        durations = [r["duration_s"] for r in sel]
        per_type[t] = {
            "instances": len(sel),
            "conditions": sum(r["n_ref"] for r in sel) if t == "identity" else len(sel),
            "avg_duration_s": _mean(durations),
            "total_duration_h": round(sum(durations) / 3600, 4),
        }
    clips = {r["clip_id"]: r["duration_s"] for r in rows}
    return {
        "instances": len(rows),
        "clips": len(clips),
        "total_clip_duration_h": round(sum(clips.values()) / 3600, 4),
        "by_condition_type": per_type,
        "by_condition_set": dict(Counter(r["condition_set"] for r in rows).most_common()),
        "avg_short_prompt_words": _mean([r["short_prompt_words"] for r in rows]),
        "avg_caption_words": _mean([r["caption_words"] for r in rows]),
        "captions_complete": sum(bool(r["caption_complete"]) for r in rows),
        "splits": dict(Counter(r["split"] for r in rows)),
        "shortprompt_backends": dict(Counter(r["shortprompt_backend"] for r in rows)),
        "caption_backends": dict(Counter(r["caption_backend"] for r in rows)),
        "tiny_model_instances": sum(bool(r["tiny_models"]) for r in rows),
        "camera_motion_labels": dict(_motion_labels(store).most_common()),
        "short_prompt_words": [r["short_prompt_words"] for r in rows],
        "caption_words": [r["caption_words"] for r in rows],
    }


def stats_table(stats: dict[str, Any]) -> str:
    """The paper-style table as Markdown."""
    lines = ["| condition | instances | conditions | avg duration (s) | total duration (h) |",
             "|---|---:|---:|---:|---:|"]
    for t, s in stats["by_condition_type"].items():
        lines.append(f"| {t} | {s['instances']} | {s['conditions']} | {s['avg_duration_s']} | "
                     f"{s['total_duration_h']} |")
    n_cond = sum(s["conditions"] for s in stats["by_condition_type"].values())
    avg = round(stats["total_clip_duration_h"] * 3600 / stats["clips"], 2) if stats["clips"] else 0
    lines.append(f"| **all** ({stats['clips']} clips) | {stats['instances']} | {n_cond} | {avg} | "
                 f"{stats['total_clip_duration_h']} |")
    lines.append("")
    lines.append(f"Average short prompt: {stats['avg_short_prompt_words']} words; average "
                 f"structured caption: {stats['avg_caption_words']} words "
                 f"(paper: ~55 and ~231).")
    return "\n".join(lines)


PLOTS = ("condition_mix.png", "caption_words.png", "short_prompt_words.png", "camera_motion.png")


def _bar(ax: Any, counts: dict[str, int], title: str) -> None:
    ax.bar(list(counts) or ["(none)"], list(counts.values()) or [0], color="#4c72b0")
    ax.set_title(title)
    ax.tick_params(axis="x", rotation=30, labelsize=8)


def _hist(ax: Any, values: list[int], title: str, mark: int) -> None:
    ax.hist(values or [0], bins=20, color="#55a868")
    ax.axvline(mark, color="#c44e52", linestyle="--", label=f"paper avg {mark}")
    ax.set_title(title)
    ax.legend()


def write_plots(store: ShardStore, stats: dict[str, Any]) -> list[str]:
    """PNG plots under RUN_DIR/card/; returns their relative paths."""
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    makers = {
        PLOTS[0]: lambda ax: _bar(ax, stats["by_condition_set"], "instances per condition set"),
        PLOTS[1]: lambda ax: _hist(ax, stats["caption_words"], "structured caption words", 231),
        PLOTS[2]: lambda ax: _hist(ax, stats["short_prompt_words"], "short prompt words", 55),
        PLOTS[3]: lambda ax: _bar(ax, stats["camera_motion_labels"], "camera motion labels"),
    }
    out = []
    for name, draw in makers.items():
        fig, ax = plt.subplots(figsize=(6, 3.6), dpi=100)
        draw(ax)
        fig.tight_layout()
        buf = io.BytesIO()
        fig.savefig(buf, format="png")
        plt.close(fig)
        fs.write_bytes_atomic(store.root.join("card", name), buf.getvalue())
        out.append(f"card/{name}")
    return out


def write_card(store: ShardStore, *, plots: bool = True) -> dict[str, Any]:
    """Write README.md, stats.json (and plots) into the run folder; returns the stats (with
    `left_out`: where every clip that is not in the dataset was left out, and why)."""
    from any2capins.export.leftout import left_out, left_out_lines

    stats = compute_stats(store)
    stats["left_out"] = left_out(store)
    stats["caption_quality"] = _review_quality(store)
    public = {k: v for k, v in stats.items() if k not in ("short_prompt_words", "caption_words")}
    store.write_json("stats.json", public)
    images = write_plots(store, stats) if plots else []
    notes = []
    if stats["caption_backends"].get("rules"):
        notes.append("Captions from the offline `rules` backend: sections a model must write "
                     "(dense, main object, background) are empty; configure an LLM server "
                     "(`captions.backend: openai`) for complete captions.")
    if stats["tiny_model_instances"]:
        notes.append(f"{stats['tiny_model_instances']} instance(s) use conditions from tiny "
                     "random test models: not for training.")
    body = [
        "# Any2CapIns-style dataset", "",
        f"{stats['instances']} instances from {stats['clips']} clips "
        f"(splits: {stats['splits']}). Load `instances/*.parquet` with pyarrow, Hugging Face "
        "`datasets` (`load_dataset('parquet', data_files=...)`), polars, DuckDB or Ray Data.", "",
        stats_table(stats), "",
        "## Clips left out", "",
        *left_out_lines(stats["left_out"]), "",
        *caption_quality_lines(stats["caption_quality"]),
        "## Condition sets", "",
        *[f"- {k}: {v}" for k, v in stats["by_condition_set"].items()], "",
        *([f"> {n}" for n in notes] + [""] if notes else []),
        *[f"![{Path(p).stem}]({p})" for p in images],
    ]
    fs.write_bytes_atomic(store.root.join("README.md"), "\n".join(body).encode())
    return stats


def _review_quality(store: ShardStore) -> dict[str, Any] | None:
    """The caption-quality figures `review export` left in review/stats.json (None without)."""
    if not store.exists("review/stats.json"):
        return None
    try:
        return store.read_json("review/stats.json").get("caption_quality")
    except (OSError, ValueError, AttributeError):
        return None


def caption_quality_lines(q: dict[str, Any] | None) -> list[str]:
    """The card's caption-quality section: per section, how far the model's text was from what
    people accepted (the paper's Table 2 text measures), from human review decisions only."""
    if not q or not q.get("items"):
        return []
    out = ["## Caption quality (human review)", "",
           f"Model text against the text reviewers accepted, over {q['items']} human "
           "approvals (automatic decisions left out).", "",
           "| section | approved | unedited | word edit rate | BLEU-2 | ROUGE-L | chrF |",
           "|---|---:|---:|---:|---:|---:|---:|"]
    rows = [*q.get("sections", {}).items(), ("**all**", q.get("all") or {})]
    for name, r in rows:
        if r.get("approved"):
            share = r.get("unedited_share")
            out.append(f"| {name} | {r['approved']} | "
                       f"{'-' if share is None else f'{share:.0%}'} | "
                       + " | ".join("-" if r.get(k) is None else f"{r[k]:.2f}"
                                    for k in ("word_edit_rate", "bleu2", "rouge_l", "chrf"))
                       + " |")
    return [*out, ""]
