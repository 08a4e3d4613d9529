"""Discovering source clips.

SRC is a folder (searched recursively for video extensions), a glob (`clips/**/*.mp4`,
`s3://bucket/raw/*.webm`), or a manifest (`.csv` / `.parquet` with a `uri` column; relative
paths are resolved against the manifest's folder). The listing is sorted and de-duplicated, so
the same SRC always gives the same listing.
"""

from __future__ import annotations

import csv
import fnmatch
import io
import logging
from dataclasses import dataclass, field

import pyarrow.fs as pafs
import pyarrow.parquet as pq

from any2capins.errors import InputError
from any2capins.io import fs

log = logging.getLogger(__name__)
_GLOB_CHARS = "*?["


@dataclass
class Listing:
    uris: list[str]
    duplicates: list[str] = field(default_factory=list)
    kind: str = "folder"


def discover(src: str, extensions: list[str]) -> Listing:
    """Sorted unique URIs of the clips named by `src`. Raises InputError with a fix hint."""
    lower = src.lower()
    if lower.endswith((".csv", ".parquet")):
        return _from_manifest(src)
    if any(ch in src for ch in _GLOB_CHARS):
        return Listing(_from_glob(src), kind="glob")
    loc = fs.resolve(src)
    info = loc.fs.get_file_info(loc.path)
    if info.type == pafs.FileType.NotFound:
        raise InputError(f"source not found: {src}")
    if info.type == pafs.FileType.File:
        return Listing([_as_uri(loc, loc.path)], kind="file")
    exts = tuple(e.lower() for e in extensions)
    files = fs.list_files(loc)
    uris = [_as_uri(loc, p) for p in files if p.lower().endswith(exts)]
    if not uris:
        raise InputError(f"no video files ({', '.join(exts)}) found under {src}")
    return Listing(uris, kind="folder")


def _as_uri(loc: fs.Location, path: str) -> str:
    return path if loc.is_local else f"s3://{path}"


def _from_glob(pattern: str) -> list[str]:
    # the folder part before the first wildcard is listed recursively, then filtered
    head = pattern
    for ch in _GLOB_CHARS:
        head = head.split(ch, 1)[0]
    base = head.rsplit("/", 1)[0] if "/" in head else "."
    loc = fs.resolve(base)
    full = fs.resolve(pattern).path if not pattern.startswith("s3://") else pattern[5:]
    matched = [p for p in fs.list_files(loc) if fnmatch.fnmatch(p, full)]
    if not matched:
        raise InputError(f"glob matched no files: {pattern}")
    return sorted(_as_uri(loc, p) for p in matched)


def _from_manifest(src: str) -> Listing:
    loc = fs.resolve(src)
    if not fs.exists(loc):
        raise InputError(f"manifest not found: {src}")
    raw = fs.read_bytes(loc)
    if src.lower().endswith(".parquet"):
        table = pq.read_table(io.BytesIO(raw))
        columns = table.column_names
        values = table.column("uri").to_pylist() if "uri" in columns else None
    else:
        reader = csv.DictReader(io.StringIO(raw.decode("utf-8-sig")))
        columns = reader.fieldnames or []
        values = [row.get("uri") for row in reader] if "uri" in columns else None
    if values is None:
        raise InputError(f"manifest {src} has no 'uri' column (columns: {', '.join(columns)})")
    base = loc.path.rsplit("/", 1)[0]
    uris, seen, dups = [], set(), []
    for i, v in enumerate(values):
        if v is None or not str(v).strip():
            raise InputError(f"manifest {src}: row {i + 1} has an empty uri")
        uri = _absolute(str(v).strip(), base, loc)
        if uri in seen:
            dups.append(uri)
            continue
        seen.add(uri)
        uris.append(uri)
    if dups:
        log.warning("manifest %s lists %d uri(s) more than once; each is ingested once: %s",
                    src, len(dups), ", ".join(sorted(set(dups))[:5]))
    return Listing(sorted(uris), duplicates=dups, kind="manifest")


def _absolute(uri: str, base: str, manifest: fs.Location) -> str:
    if "://" in uri or uri.startswith("/"):
        return uri
    return _as_uri(manifest, f"{base}/{uri}")
