"""Near-duplicates across a run: a re-encoded, downscaled and trimmed copy of a bundled clip is
found among the other bundled clips (real frames, real hashes), the keep rule (passed the
filters, longest, highest resolution, clip_id) decides which copy stays, embeddings add
semantic pairs, and the bucketing finds planted pairs among thousands of clips without
comparing all pairs."""

from __future__ import annotations

import random
from pathlib import Path

import curation_media as media
import numpy as np
import pytest

from any2capins.config.filter import DedupConfig, FilterConfig
from any2capins.curation.dedup import (
    DedupEntry,
    bucket_pairs,
    entries_from_tables,
    entry_of,
    find_duplicates,
    search,
)
from any2capins.curation.filters import mark_duplicate, quality_record
from any2capins.curation.signals import QualityScorer
from any2capins.io.arrow import to_table
from any2capins.io.frames import sample_frames
from any2capins.io.probe import probe
from any2capins.models.clips import ClipRecord
from any2capins.models.quality import QualityRecord

BUNDLED = sorted(p for p in media.EXAMPLES.iterdir() if p.suffix in (".mp4", ".webm"))  # demo too


def clip_row(path: Path) -> ClipRecord:
    p = probe(str(path))
    return ClipRecord(clip_id=path.stem, uri=str(path), size_bytes=path.stat().st_size,
                      content_sha256="0" * 64, container=p.container, codec=p.codec,
                      duration_s=p.duration_s, fps=p.fps, num_frames=p.num_frames,
                      width=p.width, height=p.height, has_audio=p.has_audio,
                      probe_backend=p.backend)


def quality_row(path: Path, scorer: QualityScorer, cfg: FilterConfig) -> QualityRecord:
    sampled = sample_frames(str(path), count=cfg.sampling.count, max_side=cfg.sampling.max_side)
    signals = scorer.score(sampled.frames, sampled.timestamps)
    return quality_record(path.stem, str(path), signals, cfg, frame_indices=sampled.indices,
                          timestamps=sampled.timestamps)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[QualityRecord, ClipRecord]]:
    """Quality rows and clip rows of the bundled clips plus built ones (hashes only)."""
    d = tmp_path_factory.mktemp("dedup-media")
    built = [media.duplicate_copy(d / "bear_reupload.mp4", "vp9_bear.webm"),
             media.frozen_clip(d / "bear_frozen.mp4", "vp9_bear.webm"),
             media.dark_clip(d / "friday_dark.mp4"),
             media.text_clip(d / "kids_text.mp4")]
    cfg = FilterConfig.model_validate({"embedding": {"enabled": False}})
    scorer = QualityScorer(cfg)
    return {p.stem: (quality_row(p, scorer, cfg), clip_row(p)) for p in [*BUNDLED, *built]}


def test_reupload_and_still_of_a_clip_are_its_duplicates(run: dict) -> None:
    entries = [entry_of(q, c) for q, c in run.values()]
    found = find_duplicates(entries, DedupConfig())
    # the trimmed, half-size, low-quality re-encode and a frozen still of the bear clip point at
    # the original; the dark clip has no hashes (flat frames), the text clip differs too much
    assert found == {"bear_reupload": "vp9_bear", "bear_frozen": "vp9_bear"}
    row = mark_duplicate(run["bear_frozen"][0], found["bear_frozen"])
    assert row.reasons == ["static", "duplicate"] and row.duplicate_of == "vp9_bear"
    assert not row.kept


def test_bundled_clips_have_no_duplicates_among_themselves(run: dict) -> None:
    # the demo clip (a 2x zoom of the flower clip under text) is new footage, not a copy
    entries = [entry_of(*run[p.stem]) for p in BUNDLED]
    assert len(entries) == 6 and all(len(e.hashes) == 12 for e in entries)
    assert find_duplicates(entries, DedupConfig()) == {}


def test_the_original_is_kept_even_when_listed_after_its_copy(run: dict) -> None:
    q, c = run["vp9_bear"]
    renamed = entry_of(q.model_copy(update={"clip_id": "zz"}), c)
    copy = entry_of(*run["bear_reupload"])
    assert copy.duration_s < renamed.duration_s and copy.width < renamed.width
    found = find_duplicates([DedupEntry(**{**vars(copy), "clip_id": "aa"}), renamed],
                            DedupConfig())
    assert found == {"aa": "zz"}


def _entry(clip_id: str, hashes: list[int], duration: float = 5.0, size: tuple[int, int] =
           (640, 360), passed: bool = True, embedding: list[float] | None = None) -> DedupEntry:
    return DedupEntry(clip_id, duration, size[0], size[1], tuple(f"{h:016x}" for h in hashes),
                      tuple(embedding) if embedding is not None else None, passed)


def _flip(h: int, n: int, rng: random.Random) -> int:
    for bit in rng.sample(range(64), n):
        h ^= 1 << bit
    return h


def test_keep_rule_passed_then_longest_then_resolution_then_clip_id() -> None:
    rng = random.Random(1)
    base = [rng.getrandbits(64) for _ in range(8)]
    near = [_flip(h, 3, rng) for h in base]
    cfg = DedupConfig()
    longest = [_entry("b", base, 9.0), _entry("a", near, 5.0), _entry("c", base, 5.0)]
    assert find_duplicates(longest, cfg) == {"a": "b", "c": "b"}
    sharper = [_entry("b", base, 5.0, (320, 180)), _entry("c", near, 5.0, (1280, 720))]
    assert find_duplicates(sharper, cfg) == {"b": "c"}
    tie = [_entry("y", base), _entry("x", near)]
    assert find_duplicates(tie, cfg) == {"y": "x"}
    # a copy that passed the per-clip filters beats a longer one that did not
    filtered = [_entry("long", base, 30.0, passed=False), _entry("ok", near, 5.0)]
    assert find_duplicates(filtered, cfg) == {"long": "ok"}


def test_result_does_not_depend_on_input_order() -> None:
    rng = random.Random(2)
    entries = []
    for g in range(30):
        base = [rng.getrandbits(64) for _ in range(10)]
        for k in range(rng.randint(1, 3)):
            entries.append(_entry(f"g{g}c{k}", [_flip(h, rng.randint(0, 5), rng) for h in base],
                                  rng.choice([3.0, 4.0])))
    first = search(entries, DedupConfig())
    rng.shuffle(entries)
    assert search(entries, DedupConfig()).duplicate_of == first.duplicate_of
    assert len(first.duplicate_of) == len(entries) - 30 and first.groups <= 30


def test_trimmed_copy_matches_on_the_share_of_its_own_frames() -> None:
    rng = random.Random(3)
    frames = [rng.getrandbits(64) for _ in range(12)]
    trimmed = [_flip(h, 2, rng) for h in frames[3:9]] + [rng.getrandbits(64)]
    cfg = DedupConfig()
    # 6 of the copy's 7 frames are in the original: 0.86 >= 0.5
    assert find_duplicates([_entry("orig", frames, 6.0), _entry("trim", trimmed, 3.0)],
                           cfg) == {"trim": "orig"}
    strict = cfg.model_copy(update={"min_frame_share": 0.9})
    assert find_duplicates([_entry("orig", frames, 6.0), _entry("trim", trimmed, 3.0)],
                           strict) == {}
    far = cfg.model_copy(update={"hamming": 1})  # the copy's frames are 2 bits away
    assert find_duplicates([_entry("orig", frames, 6.0), _entry("trim", trimmed, 3.0)],
                           far) == {}


def test_planted_pairs_are_found_among_thousands_without_all_pairs() -> None:
    rng = random.Random(4)
    n, planted = 4000, 200
    entries = [_entry(f"c{i:05d}", [rng.getrandbits(64) for _ in range(12)]) for i in range(n)]
    pairs = {}
    for i in rng.sample(range(n), planted):
        orig = entries[i]
        hashes = [_flip(int(h, 16), rng.randint(0, 8), rng) for h in orig.hashes[2:11]]
        copy = _entry(f"d{i:05d}", hashes, duration=orig.duration_s - 1)
        entries.append(copy)
        pairs[copy.clip_id] = orig.clip_id
    result = search(entries, DedupConfig())
    assert result.duplicate_of == pairs
    all_pairs = len(entries) * (len(entries) - 1) // 2
    assert result.hash_candidates < all_pairs / 1000  # buckets, not a comparison of all pairs


def test_embeddings_add_semantic_duplicates() -> None:
    rng = np.random.default_rng(5)
    emb = rng.standard_normal((300, 64))
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    near = emb[0] + 0.15 * rng.standard_normal(64) / 8  # cosine ~0.99
    far = emb[1] + 0.4 * rng.standard_normal(64) / 8  # cosine ~0.93
    entries = [_entry(f"e{i:03d}", [], embedding=list(v)) for i, v in enumerate(emb)]
    entries += [_entry("near", [], 2.0, embedding=list(near)),
                _entry("far", [], 2.0, embedding=list(far))]
    cos = lambda a, b: float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))  # noqa: E731
    assert cos(near, emb[0]) > 0.97 and 0.9 < cos(far, emb[1]) < 0.95
    assert find_duplicates(entries, DedupConfig()) == {"near": "e000"}
    assert find_duplicates(entries, DedupConfig(embedding_cosine=None)) == {}
    assert find_duplicates(entries, DedupConfig(embedding_cosine=0.9)) == {
        "near": "e000", "far": "e001"}


def test_bucketing_pairs_exactly_the_owners_that_share_a_key() -> None:
    rng = np.random.default_rng(6)
    codes = rng.integers(0, 4, size=(500, 1)).astype(np.uint8)  # 2-bit codes: 4 keys
    bits = np.unpackbits(codes, axis=1)[:, -2:]
    owner = np.arange(500, dtype=np.uint64) // 2  # two codes per owner
    got = bucket_pairs(bits, owner, tables=1, k=2, max_bucket=10_000, rng=rng)
    key = {}
    for o, c in zip(owner.tolist(), codes[:, 0].tolist(), strict=True):
        key.setdefault(c, set()).add(o)
    want = {(a << 32) | b for group in key.values() for a in group for b in group if a < b}
    assert set(got.tolist()) == want
    assert len(bucket_pairs(bits, owner, tables=1, k=2, max_bucket=10, rng=rng)) == 0


def test_mark_duplicate_is_idempotent_and_reversible(run: dict) -> None:
    row = run["vp9_bear"][0]
    assert row.kept and row.reasons == []
    dup = mark_duplicate(mark_duplicate(row, "other"), "other")
    assert dup.reasons == ["duplicate"] and dup.duplicate_of == "other" and not dup.kept
    back = mark_duplicate(dup, None)
    assert back == row


def test_entry_of_ignores_an_earlier_duplicate_verdict(run: dict) -> None:
    q, c = run["vp9_bear"]
    e = entry_of(mark_duplicate(q, "x"), c)
    assert e.passed and e.duration_s == c.duration_s and e.hashes == tuple(q.frame_hashes)
    assert not entry_of(*run["bear_frozen"]).passed


def test_disabled_search_finds_nothing(run: dict) -> None:
    entries = [entry_of(q, c) for q, c in run.values()]
    assert find_duplicates(entries, DedupConfig(enabled=False)) == {}


def test_entries_from_tables_match_the_rows(run: dict) -> None:
    rows = list(run.values())
    rng = np.random.default_rng(7)
    quality = [q.model_copy(update={"embedding": rng.standard_normal(8).tolist(),
                                    "tiny_model": i % 4 == 3})
               if i % 2 else q for i, (q, _) in enumerate(rows)]
    q_table = to_table(quality, QualityRecord)
    c_table = to_table([c for _, c in rows[1:]], ClipRecord)  # first clip's row missing
    got = entries_from_tables(q_table, c_table)
    want = [entry_of(q, c) for q, (_, c) in zip(quality[1:], rows[1:], strict=True)]
    assert [e.clip_id for e in got] == [e.clip_id for e in want]
    assert sum(e.embedding is not None for e in got) == sum(
        q.embedding is not None and not q.tiny_model for q in quality[1:]) > 0
    for g, w in zip(got, want, strict=True):
        assert (g.duration_s, g.width, g.height, g.hashes, g.passed) == (
            w.duration_s, w.width, w.height, w.hashes, w.passed)
        if w.embedding is None:  # none, or one of a tiny random model: never used
            assert g.embedding is None
        else:
            assert np.allclose(g.embedding, w.embedding, atol=1e-6)
