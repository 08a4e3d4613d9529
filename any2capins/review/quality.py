"""Caption quality measured from the review decisions: how far the model's text was from the
text people accepted, per section.

For every section, over the latest human decision of each item that approved the caption
(accept or edit; automatic decisions are left out, they change nothing):
    approved        decisions counted (the model wrote the section; sections an annotator had
                    to write from nothing are counted in `written` and left out of the rest)
    unedited_share  share of them that kept the model's text word for word
    word_edit_rate  word-level edit distance (Levenshtein over words) / words of the model's
                    text, summed over the decisions (0: untouched, 1: as many edits as words)
    bleu2, chrf     sacrebleu's corpus BLEU with n-grams up to 2 and corpus chrF, model text as
                    hypothesis, accepted text as reference (0-100)
    rouge_l         rouge-score's ROUGE-L F1, mean over decisions (x100, to read like the others)
These are the text measures of the paper's Table 2 that need no model; an untouched caption
scores 100 on all three. sacrebleu and rouge-score are imported on use.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from any2capins.models.captions import SECTIONS
from any2capins.models.review import DecisionRecord


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


def latest_human_approvals(decisions: Iterable[DecisionRecord]) -> list[DecisionRecord]:
    """The last human decision of every item (a lead may reopen an item), when it approved."""
    last: dict[int, DecisionRecord] = {}
    for d in sorted(decisions, key=lambda d: d.decision_id):
        if not d.automatic:
            last[d.item_id] = d
    return [d for d in last.values() if d.action in ("accept", "edit")]


def text_scores(hypotheses: Sequence[str], references: Sequence[str]) -> dict[str, float]:
    """BLEU-2, chrF (sacrebleu, corpus level) and mean ROUGE-L F1 (rouge-score), 0-100."""
    from rouge_score import rouge_scorer
    from sacrebleu.metrics import BLEU, CHRF

    bleu = BLEU(max_ngram_order=2).corpus_score(list(hypotheses), [list(references)])
    chrf = CHRF().corpus_score(list(hypotheses), [list(references)])
    scorer = rouge_scorer.RougeScorer(["rougeL"])
    rouge = [scorer.score(ref, hyp)["rougeL"].fmeasure for hyp, ref in zip(hypotheses, references,
                                                                          strict=True)]
    return {"bleu2": round(bleu.score, 2), "rouge_l": round(100 * sum(rouge) / len(rouge), 2),
            "chrf": round(chrf.score, 2)}


def _pairs(name: str, approvals: list[DecisionRecord]) -> list[tuple[str, str]]:
    """(model text, accepted text) of one section, where the model wrote it."""
    return [(d.before[name], d.after.get(name, "")) for d in approvals if name in d.before]


def _figures(pairs: list[tuple[str, str]], written: int) -> dict[str, Any]:
    row: dict[str, Any] = {"approved": len(pairs), "written": written}
    if not pairs:
        return {**row, "unedited_share": None, "word_edit_rate": None, "bleu2": None,
                "rouge_l": None, "chrf": None}
    unedited = sum(1 for b, a in pairs if b.split() == a.split())
    words = sum(len(b.split()) for b, _ in pairs)
    edits = sum(word_distance(b, a) for b, a in pairs)
    hyps, refs = zip(*pairs, strict=True)
    return {**row, "unedited_share": round(unedited / len(pairs), 4),
            "word_edit_rate": round(edits / words, 4) if words else None,
            **text_scores(hyps, refs)}


def caption_quality(decisions: Iterable[DecisionRecord]) -> dict[str, Any]:
    """Per section, and `all` (every section's pairs pooled into one corpus), the figures of
    the module docstring; `items` is the number of human approvals they come from."""
    approvals = latest_human_approvals(decisions)
    sections: dict[str, Any] = {}
    pooled: list[tuple[str, str]] = []
    written_total = 0
    for name in SECTIONS:
        pairs = _pairs(name, approvals)
        written = sum(1 for d in approvals if name not in d.before and name in d.after)
        sections[name] = _figures(pairs, written)
        pooled += pairs
        written_total += written
    return {"items": len(approvals), "sections": sections,
            "all": _figures(pooled, written_total)}
