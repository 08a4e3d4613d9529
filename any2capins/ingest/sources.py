"""Discovering source clips.

SRC is a folder (searched recursively for video extensions), a glob (`clips/**/*.mp4`,
`s3://bucket/raw/*.webm`), or a manifest (`.csv` / `.parquet` with a `uri` column; relative
paths are resolved against the manifest's folder). The listing is sorted and de-duplicated, so
the same SRC always gives the same listing.

Local folders are walked here rather than by pyarrow, which follows symbolic links without
limit: a link is followed once, a folder reached a second time (a loop such as `a/up -> ..`, or
two links to one folder) is not entered again, and a file reached by several paths is listed
once, under its real path when the walk sees it (else its first path in sorted order).
"""

from __future__ import annotations

import csv
import fnmatch
import io
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

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


# A listing made by check_source(), handed to the next discover() of the same source once.
_CHECKED: dict[tuple[str, tuple[str, ...]], Listing] = {}


def check_source(src: str, extensions: list[str]) -> Listing:
    """discover() ahead of time, so a command can refuse a bad SRC (InputError) before it
    writes run.json or logs; the very next discover() of the same source reuses this listing
    instead of walking or listing the source again (once: a later call lists afresh)."""
    listing = discover(src, extensions)
    _CHECKED[(src, tuple(extensions))] = listing
    return listing


def discover(src: str, extensions: list[str]) -> Listing:
    """Sorted unique URIs of the clips named by `src`. Raises InputError with a fix hint."""
    checked = _CHECKED.pop((src, tuple(extensions)), None)
    if checked is not None:
        return checked
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
    files = _walk_local(loc.path, src) if loc.is_local else fs.list_files(loc)
    uris = [_as_uri(loc, p) for p in files if p.lower().endswith(exts)]
    if not uris:
        raise InputError(f"no video files ({', '.join(exts)}) found under {src}")
    return Listing(uris, kind="folder")


def _walk_local(root: str, src: str) -> list[str]:
    """Sorted paths of the files below the local folder `root`, each file once, symbolic
    links followed once (see the module docstring). Loops and unusable links are logged."""
    seen_dirs: set[tuple[int, int]] = set()
    files: dict[tuple[int, int], tuple[bool, str]] = {}  # (dev, inode) -> (via link, path)
    real, links = [root], []  # real folders first: their paths win over linked ones
    loops = broken = 0
    while real or links:
        folder = real.pop() if real else links.pop(0)
        try:
            st = Path(folder).stat()
        except OSError:
            broken += 1
            continue
        if (st.st_dev, st.st_ino) in seen_dirs:
            loops += 1
            continue
        seen_dirs.add((st.st_dev, st.st_ino))
        sub_real, sub_links, bad = _scan(folder, files)
        broken += bad
        real.extend(reversed(sub_real))
        links.extend(sub_links)
    if loops or broken:
        log.warning("%s: %d folder(s) reached again through symbolic links (a loop, or a "
                    "second link to the same folder) were not walked again; %d unusable "
                    "entries (broken links, unreadable folders) skipped", src, loops, broken)
    return sorted(path for _, path in files.values())


def _scan(folder: str, files: dict[tuple[int, int], tuple[bool, str]]
          ) -> tuple[list[str], list[str], int]:
    """One folder's entries: files recorded in `files`; (real subfolders, linked subfolders,
    unusable entries)."""
    sub_real, sub_links, bad = [], [], 0
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError:
        return [], [], 1
    for entry in entries:
        try:
            is_link = entry.is_symlink()
            if entry.is_dir(follow_symlinks=True):
                (sub_links if is_link else sub_real).append(entry.path)
            elif entry.is_file(follow_symlinks=True):
                st = entry.stat(follow_symlinks=True)
                key, value = (st.st_dev, st.st_ino), (is_link, entry.path)
                if key not in files or value < files[key]:  # real path first, then sorted
                    files[key] = value
            elif is_link:
                bad += 1  # dangling link
        except OSError:
            bad += 1
    return sub_real, sub_links, bad


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
    listed = _walk_local(loc.path, base) if loc.is_local and Path(loc.path).is_dir() \
        else fs.list_files(loc)
    matched = [p for p in listed if fnmatch.fnmatch(p, full)]
    if not matched:
        raise InputError(f"glob matched no files: {pattern}")
    return sorted(_as_uri(loc, p) for p in matched)


def _from_manifest(src: str) -> Listing:
    loc = fs.resolve(src)
    if not fs.exists(loc):
        raise InputError(f"manifest not found: {src}")
    columns, values = _read_manifest(src, fs.read_bytes(loc))
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


def _read_manifest(src: str, raw: bytes) -> tuple[list[str], list[object] | None]:
    """(column names, values of the `uri` column or None); InputError for a file that is not
    a readable CSV (UTF-8) or Parquet table."""
    import pyarrow as pa

    try:
        if src.lower().endswith(".parquet"):
            table = pq.read_table(io.BytesIO(raw))
            columns = table.column_names
            return columns, table.column("uri").to_pylist() if "uri" in columns else None
        reader = csv.DictReader(io.StringIO(raw.decode("utf-8-sig")))
        columns = list(reader.fieldnames or [])
        return columns, [row.get("uri") for row in reader] if "uri" in columns else None
    except (pa.ArrowException, UnicodeDecodeError, csv.Error) as exc:
        kind = "Parquet" if src.lower().endswith(".parquet") else "UTF-8 CSV"
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InputError(f"manifest {src} is not a readable {kind} file ({first})") from None


def _absolute(uri: str, base: str, manifest: fs.Location) -> str:
    if "://" in uri or uri.startswith("/"):
        return uri
    return _as_uri(manifest, f"{base}/{uri}")
