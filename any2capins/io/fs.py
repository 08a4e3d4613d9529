"""Filesystem access through `pyarrow.fs`, so local paths and `s3://` URIs work alike.

S3 endpoints (for example a local MinIO or moto server) come from the standard AWS environment
variables; `AWS_ENDPOINT_URL` is honoured as the endpoint override.

Reachability: the first time a process resolves an `s3://` URI of a bucket, one HEAD request
on the bucket (connect timeout `CHECK_CONNECT_S`, no retries) checks that the endpoint answers
and the bucket exists. When it does not, `resolve` raises InputError with one line naming the
endpoint and the bucket, so a command stops (exit 2) before it writes anything, instead of
ending in pyarrow's traceback after the SDK's retries. Other answers (access denied on the
bucket itself, with rights on its objects) are left to the operations that follow.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from any2capins.errors import InputError

CHECK_CONNECT_S = 3.0  # connect timeout of the reachability check
CHECK_REQUEST_S = 10.0  # its request timeout
_REACHED: set[tuple[str, str]] = set()  # (endpoint, bucket) this process has seen answer


@dataclass(frozen=True)
class Location:
    """A resolved location: the filesystem object and the path inside it."""

    fs: pafs.FileSystem
    path: str

    @property
    def is_local(self) -> bool:
        return isinstance(self.fs, pafs.LocalFileSystem)

    def join(self, *parts: str) -> Location:
        return Location(self.fs, "/".join([self.path.rstrip("/"), *parts]))

    def uri(self) -> str:
        return self.path if self.is_local else f"s3://{self.path}"


def is_remote(uri: str) -> bool:
    return "://" in uri and not uri.startswith("file://")


def resolve(uri: str) -> Location:
    """Filesystem and path for a local path, `file://` URI or `s3://` URI."""
    if uri.startswith("s3://"):
        kwargs = _s3_options()
        path = uri[len("s3://"):].rstrip("/")
        check_reachable(path.split("/", 1)[0], kwargs)
        return Location(pafs.S3FileSystem(**kwargs), path)
    if uri.startswith("file://"):
        uri = uri[len("file://"):]
    if "://" in uri:
        fs, path = pafs.FileSystem.from_uri(uri)
        return Location(fs, path)
    return Location(pafs.LocalFileSystem(), str(Path(uri).expanduser().absolute()))


def _s3_options() -> dict[str, object]:
    """S3FileSystem options from the AWS environment (endpoint override, region)."""
    endpoint = os.environ.get("AWS_ENDPOINT_URL") or os.environ.get("AWS_ENDPOINT_URL_S3")
    kwargs: dict[str, object] = {}
    if endpoint:
        scheme, _, host = endpoint.partition("://")
        kwargs = {"endpoint_override": host or scheme, "scheme": scheme if host else "https"}
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    if region:
        kwargs["region"] = region
    return kwargs


def check_reachable(bucket: str, options: dict[str, object]) -> None:
    """InputError (one line: endpoint, bucket, cause) when the S3 endpoint of `options` does
    not answer or has no such bucket; checked once per process and (endpoint, bucket)."""
    endpoint = str(options.get("endpoint_override") or "the AWS default endpoint")
    if options.get("endpoint_override"):
        endpoint = f"{options.get('scheme', 'https')}://{endpoint}"
    if (endpoint, bucket) in _REACHED or not bucket:
        return
    quick = pafs.S3FileSystem(**options, connect_timeout=CHECK_CONNECT_S,
                              request_timeout=CHECK_REQUEST_S,
                              retry_strategy=pafs.AwsStandardS3RetryStrategy(max_attempts=1))
    where = f"S3 endpoint {endpoint} (bucket '{bucket}')"
    try:
        found = quick.get_file_info(bucket).type != pafs.FileType.NotFound
    except OSError as exc:
        text = str(exc)
        if "NETWORK_CONNECTION" not in text and "curlCode" not in text:
            return  # the endpoint answered (e.g. access denied): later operations will say
        cause = text.rsplit("Details: ", 1)[-1].split("; ", 1)[0].strip() or text[:200]
        raise InputError(f"cannot reach {where}: {cause}; check AWS_ENDPOINT_URL and the "
                         "network") from None
    if not found:
        raise InputError(f"{where}: the bucket does not exist (create it, or check the URI "
                         "and AWS_ENDPOINT_URL)")
    _REACHED.add((endpoint, bucket))


def exists(loc: Location) -> bool:
    return loc.fs.get_file_info(loc.path).type != pafs.FileType.NotFound


def read_bytes(loc: Location) -> bytes:
    with loc.fs.open_input_stream(loc.path) as f:
        return f.read()


def write_bytes_atomic(loc: Location, data: bytes) -> None:
    """Write a file so that readers see either nothing or the whole file.

    Local: write a temp file beside the target, fsync, rename. Object stores: a single PUT is
    already atomic, so the object is written directly (a rename there would be copy + delete).
    """
    parent = loc.path.rsplit("/", 1)[0]
    loc.fs.create_dir(parent, recursive=True)
    if not loc.is_local:
        with loc.fs.open_output_stream(loc.path) as f:
            f.write(data)
        return
    tmp = f"{loc.path}.tmp-{uuid.uuid4().hex[:8]}"
    with open(tmp, "wb") as f:  # noqa: PTH123 - need the fd for fsync
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    Path(tmp).replace(loc.path)


def write_table_atomic(loc: Location, table: pa.Table) -> None:
    """Write a Parquet file atomically (see write_bytes_atomic)."""
    sink = pa.BufferOutputStream()
    if table.num_rows == 0:
        # no row group at all: an empty row group trips some readers (HF datasets)
        pq.ParquetWriter(sink, table.schema, compression="zstd").close()
    else:
        pq.write_table(table, sink, compression="zstd")
    write_bytes_atomic(loc, sink.getvalue().to_pybytes())


def read_table(loc: Location, columns: list[str] | None = None) -> pa.Table:
    """The Parquet file at `loc`; only `columns` are read when given."""
    return pq.read_table(loc.path, filesystem=loc.fs, columns=columns)


def list_files(loc: Location, suffix: str = "") -> list[str]:
    """Sorted paths of files below `loc` (recursive) ending in `suffix`; [] if it is missing."""
    if not exists(loc):
        return []
    selector = pafs.FileSelector(loc.path, recursive=True)
    infos = loc.fs.get_file_info(selector)
    return sorted(
        i.path for i in infos
        if i.type == pafs.FileType.File and i.path.endswith(suffix) and ".tmp-" not in i.path
    )


# Where remote clips are cached for decoders (one folder per machine, shared by all stages).
CACHE_DIR = str(Path(tempfile.gettempdir()) / "any2capins-cache")


def local_copy(uri: str, cache_dir: str = CACHE_DIR) -> str:
    """A local file path for `uri`: the path itself when local, else a cached download.

    Decoders need a real file; remote clips are fetched once per worker into `cache_dir`.
    """
    loc = resolve(uri)
    if loc.is_local:
        return loc.path
    target = Path(cache_dir) / (uuid.uuid5(uuid.NAMESPACE_URL, uri).hex + Path(loc.path).suffix)
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(target.suffix + ".part")
        with loc.fs.open_input_stream(loc.path) as src, tmp.open("wb") as dst:
            while chunk := src.read(8 << 20):
                dst.write(chunk)
        tmp.replace(target)
    return str(target)
