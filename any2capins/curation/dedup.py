"""Near-duplicates across a whole run, without comparing all pairs.

Input: one lightweight `DedupEntry` per clip (its frame hashes, optionally its embedding, its
duration and resolution); output: {clip_id: duplicate_of} for every clip that is not kept.

1. Candidates by bucketing (bit-sampling locality-sensitive hashing): each of `tables` tables
   keys every frame hash by `bits_per_table` of its bits chosen at random (seeded); clips
   sharing a key in any table are candidate pairs. Two frames d bits apart share a table's key
   with probability C(n-d, k) / C(n, k), so near frames collide in some table while the
   expected number of unrelated pairs per table is (frames^2 / 2) / 2^k: the work grows with
   the clips, not with their pairs. Embeddings get 256-bit SimHash signatures (random
   hyperplanes through the run's mean embedding) bucketed the same way.
2. Verification, exact: frame hashes match when at most `hamming` bits apart; two clips are
   near-duplicates when at least `min_frame_share` of the hashed frames of the one with fewer
   has a match in the other (a trimmed copy's frames all lie inside the original). With
   embeddings, a cosine of at least `embedding_cosine` makes a pair too.
3. Groups are the connected components of the verified pairs. Per group one clip is kept: one
   that passed the per-clip filters first, then the longest, then the highest resolution, then
   the smallest clip_id; every other member gets `duplicate_of` = the kept clip.

Deterministic: entries are ordered by clip_id and the random choices come from `seed`.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from any2capins.config.filter import DedupConfig
from any2capins.models.clips import ClipRecord
from any2capins.models.quality import QualityRecord

SIMHASH_BITS = 256
_CHUNK = 20_000  # candidate pairs verified at once (bounds memory)


@dataclass(frozen=True)
class DedupEntry:
    """What dedup needs of one clip. `passed`: the clip passed the per-clip filters (such a
    clip is preferred as the one kept of its group)."""

    clip_id: str
    duration_s: float
    width: int
    height: int
    hashes: tuple[str, ...] = ()
    embedding: np.ndarray | tuple[float, ...] | None = None
    passed: bool = True


def entry_of(record: QualityRecord, clip: ClipRecord) -> DedupEntry:
    """The dedup entry of a clip from its quality row and its clip row. An embedding made by
    a tiny random test model is left out: its values are meaningless (unrelated clips reach
    cosines above 0.95) and must not make duplicates."""
    passed = not [r for r in record.reasons if r != "duplicate"]
    usable = record.embedding if record.embedding and not record.tiny_model else None
    return DedupEntry(clip_id=record.clip_id, duration_s=clip.duration_s, width=clip.width,
                      height=clip.height, hashes=tuple(record.frame_hashes),
                      embedding=tuple(usable) if usable else None, passed=passed)


def entries_from_tables(quality: pa.Table, clips: pa.Table) -> list[DedupEntry]:
    """Dedup entries of a whole run from its `quality/` and `clips/` tables (all shards
    concatenated; only the columns dedup needs are read). Column access and numpy keep this
    cheap at hundreds of thousands of clips; a quality row without a clip row is skipped, and
    embeddings of tiny random models are left out (as in `entry_of`)."""
    size = {cid: (d, w, h) for cid, d, w, h in zip(
        *(clips.column(c).to_pylist() for c in ("clip_id", "duration_s", "width", "height")),
        strict=True)}
    ids = quality.column("clip_id").to_pylist()
    reasons = quality.column("reasons").to_pylist()
    hashes = quality.column("frame_hashes").to_pylist()
    vectors = _embedding_rows(quality.column("embedding"))
    tiny = quality.column("tiny_model").to_pylist()
    out = []
    for i, cid in enumerate(ids):
        if cid not in size:
            continue
        d, w, h = size[cid]
        out.append(DedupEntry(cid, d, w, h, tuple(hashes[i]), None if tiny[i] else vectors[i],
                              passed=not [r for r in reasons[i] if r != "duplicate"]))
    return out


def _embedding_rows(column: pa.ChunkedArray) -> list[np.ndarray | None]:
    out: list[np.ndarray | None] = []
    for chunk in column.chunks:
        valid = chunk.is_valid().to_numpy(zero_copy_only=False)
        offsets = chunk.offsets.to_numpy()
        values = chunk.values.to_numpy(zero_copy_only=False).astype(np.float32)
        out.extend(values[offsets[i]:offsets[i + 1]] if valid[i] else None
                   for i in range(len(chunk)))
    return out


@dataclass
class DedupResult:
    """What `search` found: duplicate_of per left-out clip, and counts for logs and benches."""

    duplicate_of: dict[str, str] = field(default_factory=dict)
    groups: int = 0
    hash_candidates: int = 0
    embedding_candidates: int = 0
    duplicate_pairs: int = 0
    seconds: float = 0.0


def find_duplicates(entries: Sequence[DedupEntry], cfg: DedupConfig) -> dict[str, str]:
    """{clip_id: clip_id kept in its place} for every near-duplicate that is not kept."""
    return search(entries, cfg).duplicate_of


def search(entries: Sequence[DedupEntry], cfg: DedupConfig) -> DedupResult:
    """Near-duplicate groups of `entries` (module doc); empty when `cfg.enabled` is false."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    t0 = time.perf_counter()
    result = DedupResult()
    order = sorted(entries, key=lambda e: e.clip_id)
    if not cfg.enabled or len(order) < 2:
        return result
    rng = np.random.default_rng(cfg.seed)
    pairs = _hash_pairs(order, cfg, rng, result)
    if cfg.embedding_cosine is not None:
        pairs = sorted_unique(np.concatenate([pairs, _embedding_pairs(order, cfg, rng, result)]))
    result.duplicate_pairs = len(pairs)
    a, b = (pairs >> np.uint64(32)).astype(np.int64), (pairs & np.uint64(0xFFFFFFFF)).astype(
        np.int64)
    graph = coo_matrix((np.ones(len(a), np.int8), (a, b)), shape=(len(order), len(order)))
    _, labels = connected_components(graph, directed=False)
    result.duplicate_of, result.groups = _keep(order, labels)
    result.seconds = round(time.perf_counter() - t0, 4)
    return result


def _keep(order: Sequence[DedupEntry], labels: np.ndarray) -> tuple[dict[str, str], int]:
    """Per group of more than one clip, the kept clip and the others' duplicate_of."""
    # np.lexsort sorts by the last key first: group, then the keep preference (order is
    # already by clip_id, so the stable sort settles ties by clip_id)
    pref = np.lexsort((
        np.arange(len(order)),
        [-(e.width * e.height) for e in order],
        [-e.duration_s for e in order],
        [not e.passed for e in order],
        labels,
    ))
    out: dict[str, str] = {}
    groups, kept_label, kept_id, counted = 0, -1, "", False
    for i in pref:
        if labels[i] != kept_label:  # the first of a group in preference order is kept
            kept_label, kept_id, counted = labels[i], order[i].clip_id, False
            continue
        groups, counted = groups + (not counted), True
        out[order[i].clip_id] = kept_id
    return out, groups


# -- frame hashes --------------------------------------------------------------------------

def _hash_pairs(order: Sequence[DedupEntry], cfg: DedupConfig, rng: np.random.Generator,
                result: DedupResult) -> np.ndarray:
    counts = np.array([len(e.hashes) for e in order], np.int64)
    if counts.sum() == 0:
        return np.zeros(0, np.uint64)
    width = max(len(h) for e in order for h in e.hashes) * 4  # hex digits -> bits
    codes = np.array([int(h, 16) for e in order for h in e.hashes], np.uint64)
    owner = np.repeat(np.arange(len(order), dtype=np.uint64), counts)
    bits = np.unpackbits(codes.astype(">u8").view(np.uint8).reshape(-1, 8), axis=1)
    cand = bucket_pairs(bits[:, 64 - min(width, 64):], owner, tables=cfg.tables,
                        k=cfg.bits_per_table, max_bucket=cfg.max_bucket, rng=rng)
    result.hash_candidates = len(cand)
    table = np.zeros((len(order), max(int(counts.max()), 1)), np.uint64)
    table[np.repeat(np.arange(len(order)), counts),
          np.arange(len(codes)) - np.repeat(np.cumsum(counts) - counts, counts)] = codes
    keep = [cand[s:s + _CHUNK][_frames_match(cand[s:s + _CHUNK], table, counts, cfg)]
            for s in range(0, len(cand), _CHUNK)]
    return np.concatenate(keep) if keep else np.zeros(0, np.uint64)


def _frames_match(pairs: np.ndarray, table: np.ndarray, counts: np.ndarray,
                  cfg: DedupConfig) -> np.ndarray:
    """Per candidate pair: enough of the smaller side's frames have a match in the other."""
    a = (pairs >> np.uint64(32)).astype(np.int64)
    b = (pairs & np.uint64(0xFFFFFFFF)).astype(np.int64)
    dist = np.bitwise_count(table[a][:, :, None] ^ table[b][:, None, :]).astype(np.int16)
    slots = np.arange(table.shape[1])
    va, vb = slots[None, :] < counts[a][:, None], slots[None, :] < counts[b][:, None]
    dist = np.where(va[:, :, None] & vb[:, None, :], dist, 999)  # padding never matches
    close = dist <= cfg.hamming
    hit_a = (close.any(axis=2) & va).sum(axis=1)
    hit_b = (close.any(axis=1) & vb).sum(axis=1)
    a_smaller = counts[a] <= counts[b]
    hits = np.where(a_smaller, hit_a, hit_b)
    need = np.ceil(cfg.min_frame_share * np.minimum(counts[a], counts[b]) - 1e-9)
    return hits >= np.maximum(need, 1)


def bucket_pairs(bits: np.ndarray, owner: np.ndarray, *, tables: int, k: int,
                 max_bucket: int, rng: np.random.Generator) -> np.ndarray:
    """Candidate owner pairs, coded `a << 32 | b` with a < b (sorted, unique): owners whose
    codes (rows of the 0/1 matrix `bits`) agree on the `k` sampled bit positions of some
    table. A key shared by more than `max_bucket` owners is skipped in that table."""
    k = min(k, bits.shape[1])
    by_bit = np.ascontiguousarray(bits.T)  # one row per bit position: cheap row gathers
    found = [np.zeros(0, np.uint64)]
    for _ in range(tables):
        pos = np.sort(rng.choice(bits.shape[1], size=k, replace=False))
        packed = np.packbits(by_bit[pos], axis=0)
        key = np.zeros(len(owner), np.uint64)
        for row in packed:
            key = (key << np.uint64(8)) | row.astype(np.uint64)
        combo = sorted_unique((key << np.uint64(32)) | owner)  # one per (key, owner)
        found.append(_pairs_in_groups(combo >> np.uint64(32), combo & np.uint64(0xFFFFFFFF),
                                      max_bucket))
    return sorted_unique(np.concatenate(found))


def sorted_unique(values: np.ndarray) -> np.ndarray:
    """Sorted distinct values (np.unique's hash path is ~20x slower on millions of uint64)."""
    out = np.sort(values)
    return out[np.r_[True, out[1:] != out[:-1]]] if len(out) else out


def _pairs_in_groups(keys: np.ndarray, owners: np.ndarray, max_bucket: int) -> np.ndarray:
    """All (a, b) pairs, a < b, of owners that share a key (`keys` sorted, owners ascending
    within a key), as `a << 32 | b`; groups larger than `max_bucket` are left out."""
    if len(keys) < 2:
        return np.zeros(0, np.uint64)
    starts = np.r_[0, np.flatnonzero(keys[1:] != keys[:-1]) + 1]
    sizes = np.diff(np.r_[starts, len(keys)])
    ok = (sizes >= 2) & (sizes <= max_bucket)
    starts, sizes = starts[ok], sizes[ok]
    if not len(sizes):
        return np.zeros(0, np.uint64)
    elem = np.repeat(starts, sizes) + _ramp(sizes)  # every member of a kept group
    after = np.repeat(starts + sizes, sizes) - elem - 1  # members after it in its group
    first = np.repeat(elem, after)
    second = first + _ramp(after) + 1
    return (owners[first] << np.uint64(32)) | owners[second]


def _ramp(sizes: np.ndarray) -> np.ndarray:
    """0..s-1 for every s in `sizes`, concatenated."""
    return np.arange(int(sizes.sum())) - np.repeat(np.cumsum(sizes) - sizes, sizes)


# -- embeddings ----------------------------------------------------------------------------

def _embedding_pairs(order: Sequence[DedupEntry], cfg: DedupConfig, rng: np.random.Generator,
                     result: DedupResult) -> np.ndarray:
    idx = np.array([i for i, e in enumerate(order)
                    if e.embedding is not None and len(e.embedding)], np.int64)
    if len(idx) < 2:
        return np.zeros(0, np.uint64)
    dims = {len(order[i].embedding) for i in idx}  # type: ignore[arg-type]
    if len(dims) > 1:
        raise ValueError(f"embeddings of different sizes in one run: {sorted(dims)}")
    emb = np.stack([np.asarray(order[i].embedding, np.float32) for i in idx])
    emb /= np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-12)
    planes = rng.standard_normal((emb.shape[1], SIMHASH_BITS)).astype(np.float32)
    bits = ((emb - emb.mean(axis=0)) @ planes > 0).astype(np.uint8)
    local = bucket_pairs(bits, np.arange(len(idx), dtype=np.uint64), tables=cfg.embedding_tables,
                         k=cfg.embedding_bits_per_table, max_bucket=cfg.max_bucket, rng=rng)
    result.embedding_candidates = len(local)
    a = (local >> np.uint64(32)).astype(np.int64)
    b = (local & np.uint64(0xFFFFFFFF)).astype(np.int64)
    close = np.concatenate([np.einsum("ij,ij->i", emb[a[s:s + _CHUNK]], emb[b[s:s + _CHUNK]])
                            for s in range(0, len(a), _CHUNK)] or [np.zeros(0)])
    keep = close >= cfg.embedding_cosine
    return (idx[a[keep]].astype(np.uint64) << np.uint64(32)) | idx[b[keep]].astype(np.uint64)
