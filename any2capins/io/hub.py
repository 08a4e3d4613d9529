"""The models a config names, and getting them onto machines without hub access.

- `models_of(config, stages)`: every model the given stages load, as `ModelRef`s (the
  setting, the id, path or URL it holds, and its kind: a hub repository, one file in a hub
  repository, a local path, or a URL).
- `fetch(refs, to=None)`: downloads them with `huggingface_hub`, into the HF cache or below
  `DIR/<safe name>` (only the files the loaders read); idempotent.
- `set_lines(fetched, to)`: the `--set key=DIR/...` lines that point a config at DIR.
- `preflight(refs)`: run on the driver before any worker starts; a model that is neither a
  local path, in the HF cache nor reachable is ONE ConfigError line naming the setting, the
  model and the fix. Without network it answers in seconds: HF_HUB_OFFLINE means no request,
  and the hub is probed once per process (one HEAD, a short timeout, no retries).

Which settings are models, per stage, is listed here (`_STAGE_MODELS`): a stage that loads a
new model adds its setting there. The environment is read when called (HF_ENDPOINT,
HF_HUB_OFFLINE, HF_HOME / HF_HUB_CACHE, TORCH_HOME), not when imported, and every call into
huggingface_hub passes the endpoint and cache folder explicitly.
"""

from __future__ import annotations

import os
import re
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from any2capins.errors import ConfigError

HUB_REPO, HUB_FILE, LOCAL, URL = "hub repo", "hub file", "local path", "url"
CONDITION_STAGES = ("depth", "pose", "refs", "camera")
PROBE_TIMEOUT_S = 3.0  # one HEAD request to the hub; a firewall that drops packets costs this
DEFAULT_ENDPOINT = "https://huggingface.co"

# what the hub was found to be, this process: base URL -> why it cannot be reached (or None)
_PROBED: dict[str, str | None] = {}
_LOCK = threading.Lock()


@dataclass(frozen=True)
class ModelRef:
    """One model a setting names. `file`: the file inside a hub repository (HUB_FILE)."""

    setting: str
    ref: str
    kind: str
    file: str | None = None

    @property
    def key(self) -> tuple[str, str, str | None]:
        """Equal keys are one download (pose and refs usually name the same detector)."""
        return self.kind, self.ref, self.file


@dataclass(frozen=True)
class Fetched:
    """What `fetch` did for one ModelRef: status 'fetched' (downloaded or already there),
    'local' (a local path: nothing to fetch), 'skipped' (a URL scheme we do not download) or
    'failed' (detail says why); `path`: where the model is now."""

    ref: ModelRef
    status: str
    path: str | None = None
    detail: str = ""


# -- which models a config names ----------------------------------------------------------


def models_of(config: Any, stages: Sequence[str] | None = None) -> list[ModelRef]:
    """The models the `stages` of a command load: condition stage names and 'filter'
    (curation; counted only when `filter.enabled`). None: every condition stage and
    curation. Stages that load no model (camera, any other name) add nothing."""
    names = [*CONDITION_STAGES, "filter"] if stages is None else list(stages)
    refs: list[ModelRef] = []
    for name in dict.fromkeys(names):
        refs.extend(_STAGE_MODELS.get(name, lambda _c: [])(config))
    return refs


def classify(setting: str, value: str, file: str | None = None, *,
             local_only: bool = False) -> ModelRef:
    """The ModelRef of a setting's value: a URL ('://'), a local path (it exists here, or it
    looks like one: ./x, /x, ~/x, a/b/c; `local_only` settings are always paths), else a hub
    id ('org/name'), a file of it when `file` is given."""
    if "://" in value:
        return ModelRef(setting, value, URL)
    looks_local = value.startswith((".", "/", "~")) or value.count("/") > 1
    if local_only or looks_local or Path(value).expanduser().exists():
        return ModelRef(setting, value, LOCAL)
    return ModelRef(setting, value, HUB_FILE if file else HUB_REPO, file)


def _depth(c: Any) -> list[ModelRef]:
    return [classify("depth.model", c.depth.model)]


def _pose(c: Any) -> list[ModelRef]:
    p = c.pose
    refs = [classify("pose.detector.model", p.detector.model)]
    if p.backend == "dwpose":
        refs.append(classify("pose.dwpose.model", p.dwpose.model, p.dwpose.file))
    elif p.backend == "vitpose":
        refs.append(classify("pose.vitpose.model", p.vitpose.model))
    else:  # mmpose: a config file (or a 'package::path' name mmpose resolves) and weights
        if p.mmpose.config and "::" not in p.mmpose.config:
            refs.append(classify("pose.mmpose.config", p.mmpose.config, local_only=True))
        if p.mmpose.checkpoint:
            refs.append(classify("pose.mmpose.checkpoint", p.mmpose.checkpoint,
                                 local_only="://" not in p.mmpose.checkpoint))
    return refs


def _refs(c: Any) -> list[ModelRef]:
    refs = [classify("refs.detector.model", c.refs.detector.model)]
    if c.refs.segment == "sam2":
        refs.append(classify("refs.sam2.model", c.refs.sam2.model))
    return refs


def _filter(c: Any) -> list[ModelRef]:
    f = c.filter
    if not f.enabled or not f.embedding.enabled:  # the OCR model ships inside its wheel
        return []
    refs = [classify("filter.embedding.model", f.embedding.model)]
    if f.embedding.aesthetic_head:
        refs.append(classify("filter.embedding.aesthetic_head", f.embedding.aesthetic_head,
                             local_only=True))
    return refs


_STAGE_MODELS: dict[str, Callable[[Any], list[ModelRef]]] = {
    "depth": _depth, "pose": _pose, "refs": _refs, "filter": _filter,
}


# -- where models live --------------------------------------------------------------------


def endpoint() -> str:
    """The hub's base URL (HF_ENDPOINT, as huggingface_hub reads it)."""
    return (os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/")


def offline() -> bool:
    """HF_HUB_OFFLINE (or TRANSFORMERS_OFFLINE) is set: no request may go to the hub."""
    flags = (os.environ.get("HF_HUB_OFFLINE"), os.environ.get("TRANSFORMERS_OFFLINE"))
    return any((v or "").strip().upper() in {"1", "ON", "YES", "TRUE"} for v in flags)


def hf_home() -> Path:
    """HF_HOME, by huggingface_hub's rules."""
    home = os.environ.get("HF_HOME") or str(
        Path(os.environ.get("XDG_CACHE_HOME") or "~/.cache") / "huggingface")
    return Path(os.path.expandvars(home)).expanduser()


def hub_cache() -> Path:
    """The HF hub cache folder, by huggingface_hub's rules (HF_HUB_CACHE, HF_HOME/hub, ...)."""
    hub = os.environ.get("HF_HUB_CACHE") or os.environ.get("HUGGINGFACE_HUB_CACHE")
    return Path(os.path.expandvars(hub)).expanduser() if hub else hf_home() / "hub"


def torch_checkpoints() -> Path:
    """Where torch.hub (and mmengine, for checkpoint URLs) keeps downloaded checkpoints."""
    home = os.environ.get("TORCH_HOME") or str(
        Path(os.environ.get("XDG_CACHE_HOME") or "~/.cache") / "torch")
    return Path(os.path.expandvars(home)).expanduser() / "hub" / "checkpoints"


def cached(ref: ModelRef) -> str | None:
    """Where `ref` already is on this machine without the network: the snapshot folder
    (config.json and weights) or file in the HF cache, the downloaded checkpoint of a URL;
    None when it is not there (local paths: the path when it exists)."""
    if ref.kind == LOCAL:
        return ref.ref if Path(ref.ref).expanduser().exists() else None
    if ref.kind == URL:
        path = torch_checkpoints() / _url_name(ref.ref)
        return str(path) if path.is_file() else None
    from huggingface_hub import try_to_load_from_cache

    name = ref.file if ref.kind == HUB_FILE else "config.json"
    found = try_to_load_from_cache(ref.ref, name, cache_dir=hub_cache())
    if not isinstance(found, str):  # None, or the hub's "known not to exist" marker
        return None
    if ref.kind == HUB_FILE:
        return found
    snapshot = Path(found).parent
    weights = [*snapshot.glob("*.safetensors"), *snapshot.glob("*.bin")]
    return str(snapshot) if weights else None


# -- the preflight --------------------------------------------------------------------------


def preflight(refs: Sequence[ModelRef], timeout_s: float = PROBE_TIMEOUT_S,
              fetch_hint: str | None = None) -> None:
    """Raise ConfigError (one line) when a model of `refs` is neither a local path, in the HF
    cache nor reachable. Hub ids not cached cost one HEAD each while the hub answers; once it
    does not (or HF_HUB_OFFLINE is set), no further request is made in this process.
    `fetch_hint`: the `models fetch` command to suggest (with the command's --config)."""
    problems: list[tuple[ModelRef, str]] = []
    seen: dict[tuple[str, str, str | None], str | None] = {}
    for ref in refs:
        if ref.key not in seen:
            seen[ref.key] = _why_unusable(ref, timeout_s)
        if seen[ref.key] is not None:
            problems.append((ref, seen[ref.key] or ""))
    if problems:
        raise ConfigError(_problem_line(problems, fetch_hint))


def _why_unusable(ref: ModelRef, timeout_s: float) -> str | None:
    if cached(ref) is not None:
        return None
    if ref.kind in (LOCAL, URL):
        return f"{ref.ref} does not exist" if ref.kind == LOCAL else _why_url(ref, timeout_s)
    where = f"is not in the HF cache ({hub_cache()})"
    if offline():
        return f"{where} and HF_HUB_OFFLINE is set"
    answer = _probe(_resolve_url(ref), timeout_s, hub=True)
    if isinstance(answer, str):
        return f"{where} and the hub ({endpoint()}) cannot be reached ({answer})"
    if answer in (401, 403, 404):
        return (f"is not on the hub ({endpoint()} answered HTTP {answer}; a private or gated "
                "model needs HF_TOKEN)")
    return None


def _why_url(ref: ModelRef, timeout_s: float) -> str | None:
    if not ref.ref.startswith(("http://", "https://")):
        return None  # s3:// and the like: read by the loader itself, not checked here
    answer = _probe(ref.ref, timeout_s, hub=False)
    if isinstance(answer, str):
        return f"is not downloaded ({torch_checkpoints()}) and cannot be reached ({answer})"
    return None if answer < 400 else f"answered HTTP {answer}"


def _problem_line(problems: list[tuple[ModelRef, str]], fetch_hint: str | None) -> str:
    ref, why = problems[0]
    others = list(dict.fromkeys(r.setting for r, _ in problems[1:] if r.setting != ref.setting))
    more = f" (also {', '.join(others)})" if others else ""
    if ref.kind == LOCAL:
        return f"{ref.setting}: {why}{more}; point it at an existing path"
    hint = fetch_hint or "any2capins models fetch --config FILE --to DIR"
    return (f"{ref.setting}={ref.ref!r} {why}{more}: run `{hint}` on a machine with hub "
            f"access and copy DIR here (it prints the --set lines to add), or point "
            f"{ref.setting} at a local folder")


def _resolve_url(ref: ModelRef) -> str:
    name = ref.file if ref.kind == HUB_FILE else "config.json"
    return f"{endpoint()}/{ref.ref}/resolve/main/{urllib.parse.quote(name or '')}"


def _probe(url: str, timeout_s: float, *, hub: bool) -> int | str:
    """HTTP status of one HEAD request to `url` (redirects not followed), or why it got no
    answer. A server found unreachable (no connection, a timeout, HTTP 5xx) is remembered
    for this process: later probes of it return at once."""
    parts = urllib.parse.urlsplit(url)
    base = f"{parts.scheme}://{parts.netloc}"
    with _LOCK:
        if _PROBED.get(base):
            return _PROBED[base] or ""
    answer = _head(url, timeout_s, _hub_headers() if hub else {})
    down = answer if isinstance(answer, str) else (
        f"HTTP {answer}" if answer >= 500 else None)
    with _LOCK:
        _PROBED[base] = down
    return down if down is not None else answer


def forget_probes() -> None:
    """Forget what was found about servers (tests; a long-lived process after a fix)."""
    with _LOCK:
        _PROBED.clear()


def _hub_headers() -> dict[str, str]:
    """The token the hub client would send (HF_TOKEN, else the saved token file), read here:
    huggingface_hub's own header builder asks the hub for its agent registry first."""
    from any2capins import __version__

    headers = {"user-agent": f"any2capins/{__version__}"}
    token = os.environ.get("HF_TOKEN")
    if not token:
        path = Path(os.environ.get("HF_TOKEN_PATH") or hf_home() / "token").expanduser()
        try:
            token = path.read_text(encoding="utf-8").strip()
        except OSError:
            token = ""
    if token:
        headers["authorization"] = f"Bearer {token}"
    return headers


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *_args: Any, **_kwargs: Any) -> None:
        return None  # a redirect (to the CDN, to a renamed repo) already says "it exists"


def _head(url: str, timeout_s: float, headers: dict[str, str]) -> int | str:
    """One HEAD request in a daemon thread, so that name resolution (which the socket
    timeout does not cover) cannot hold the caller past the timeout either."""
    if not url.startswith(("http://", "https://")):
        return f"unsupported URL {url}"
    result: list[int | str] = []

    def ask() -> None:
        request = urllib.request.Request(  # noqa: S310 - http(s) only, checked above
            url, method="HEAD", headers=headers)
        try:
            with urllib.request.build_opener(_NoRedirect).open(
                    request, timeout=timeout_s) as response:
                result.append(int(response.status))
        except urllib.error.HTTPError as exc:
            result.append(int(exc.code))
        except (urllib.error.URLError, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", exc)
            result.append(f"{type(reason).__name__}: {reason}".strip().rstrip(":"))

    worker = threading.Thread(target=ask, name="a2c-hub-probe", daemon=True)
    worker.start()
    worker.join(timeout_s + 0.5)
    return result[0] if result else f"no answer within {timeout_s:g} s"


# -- fetch ----------------------------------------------------------------------------------


def fetch(refs: Sequence[ModelRef], to: str | Path | None = None,
          timeout_s: float = PROBE_TIMEOUT_S,
          report: Callable[[Fetched], None] | None = None) -> list[Fetched]:
    """Download every hub model and checkpoint URL of `refs`: into the HF cache (and torch's
    checkpoint folder) when `to` is None, else below `to`/<safe name>. Only the files the
    loaders read are taken (config and preprocessor JSON, safetensors weights, or .bin when
    a repository has no safetensors; one file of a HUB_FILE repository). Files already there
    are not downloaded again. One result per ref, in order (`report` sees each as it is
    done); a ref that cannot be fetched is a 'failed' result, not an exception."""
    root = Path(to).expanduser().resolve() if to is not None else None
    done: dict[tuple[str, str, str | None], Fetched] = {}
    out = []
    for ref in refs:
        if ref.key not in done:
            done[ref.key] = _fetch_one(ref, root, timeout_s)
        first = done[ref.key]
        result = Fetched(ref, first.status, first.path, first.detail)
        out.append(result)
        if report is not None:
            report(result)
    return out


def safe_name(ref: str) -> str:
    """The folder name of a model below DIR: 'org/name' -> 'org--name'."""
    return re.sub(r"[^A-Za-z0-9._-]+", "--", ref).strip("-") or "model"


def _fetch_one(ref: ModelRef, root: Path | None, timeout_s: float) -> Fetched:
    if ref.kind == LOCAL:
        here = Path(ref.ref).expanduser().exists()
        return Fetched(ref, "local", ref.ref if here else None,
                       "local path, nothing to fetch" + ("" if here else " (missing here)"))
    if ref.kind == URL and not ref.ref.startswith(("http://", "https://")):
        return Fetched(ref, "skipped", None, "not an http(s) URL: read by the loader itself")
    url = ref.ref if ref.kind == URL else _resolve_url(ref)
    no_hub = "HF_HUB_OFFLINE is set" if ref.kind != URL and offline() else None
    answer = no_hub or _probe(url, timeout_s, hub=ref.kind != URL)
    if isinstance(answer, str):
        if root is None and (here := cached(ref)) is not None:  # the cache is all we need
            return Fetched(ref, "fetched", here, f"{_size(Path(here))}, already in the cache")
        return Fetched(ref, "failed", None, f"cannot reach {_base(url)} ({answer})")
    try:
        if ref.kind == URL:
            path = _download_url(ref.ref, (root / "checkpoints") if root else torch_checkpoints())
        elif ref.kind == HUB_FILE:
            path = _download_file(ref, root)
        else:
            path = _download_repo(ref, root)
    except Exception as exc:  # noqa: BLE001 - missing repo, gated, disk full: one result line
        first = (str(exc).strip().splitlines() or [repr(exc)])[0][:300]
        return Fetched(ref, "failed", None, f"{type(exc).__name__}: {first}")
    return Fetched(ref, "fetched", path, _size(Path(path)))


def _base(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def loader_files(files: Sequence[str]) -> list[str]:
    """The files of a hub repository that `from_pretrained` reads: top-level JSON (model,
    image processor and other configs) and the safetensors weights (with their index), or
    the PyTorch .bin weights when the repository has no safetensors. Not: other frameworks'
    weights (TF, Flax, ONNX, original checkpoints), images, READMEs, sub-folders."""
    top = [f for f in files if "/" not in f]
    weights = [f for f in top if f.endswith((".safetensors", ".safetensors.index.json"))]
    if not any(f.endswith(".safetensors") for f in weights):
        weights = [f for f in top if f.endswith((".bin", ".bin.index.json"))
                   and "training_args" not in f]
    return sorted({*(f for f in top if f.endswith(".json")), *weights})


def _download_repo(ref: ModelRef, root: Path | None) -> str:
    from huggingface_hub import HfApi, snapshot_download

    info = HfApi(endpoint=endpoint()).model_info(ref.ref)
    files = loader_files([s.rfilename for s in info.siblings or []])
    if not files:
        raise ConfigError(f"{ref.ref} has no config.json/weights files transformers loads")
    local = root / safe_name(ref.ref) if root is not None else None
    return snapshot_download(ref.ref, allow_patterns=files, cache_dir=hub_cache(),
                             local_dir=local, endpoint=endpoint())


def _download_file(ref: ModelRef, root: Path | None) -> str:
    from huggingface_hub import hf_hub_download

    local = root / safe_name(ref.ref) if root is not None else None
    path = hf_hub_download(ref.ref, ref.file or "", cache_dir=hub_cache(), local_dir=local,
                           endpoint=endpoint())
    return str(local) if local is not None else path  # DIR/org--name: the loader finds `file`


def _url_name(url: str) -> str:
    return Path(urllib.parse.urlsplit(url).path).name or safe_name(url)


def _download_url(url: str, folder: Path) -> str:
    path = folder / _url_name(url)
    if path.is_file():
        return str(path)
    folder.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.part")
    with urllib.request.urlopen(url, timeout=60) as response, tmp.open("wb") as f:  # noqa: S310
        while chunk := response.read(1 << 20):
            f.write(chunk)
    tmp.replace(path)
    return str(path)


def _size(path: Path) -> str:
    files = [path] if path.is_file() else [
        p for p in path.rglob("*") if p.is_file() and ".cache" not in p.parts]
    total = sum(p.stat().st_size for p in files)
    return f"{len(files)} file{'s' if len(files) != 1 else ''}, {total / 2**20:.1f} MB"


# -- pointing a config at DIR ----------------------------------------------------------------


def set_lines(fetched: Sequence[Fetched], to: str | Path) -> list[str]:
    """`--set SETTING=PATH` for every ref fetched below `to`, PATH spelled from `to` as given
    (a relative DIR gets './' so that it reads as a folder, not a hub id)."""
    root = Path(to).expanduser().resolve()
    shown = str(to).rstrip("/") or "/"
    if not shown.startswith(("/", ".", "~")):
        shown = f"./{shown}"
    lines = []
    for f in fetched:
        if f.status != "fetched" or f.path is None:
            continue
        try:
            rel = Path(f.path).resolve().relative_to(root)
        except ValueError:  # not below DIR (a cached checkpoint): nothing to point at
            continue
        lines.append(f"--set {f.ref.setting}={shown}/{rel.as_posix()}")
    return lines


def fetch_command(config_files: Sequence[str] = (), stages: Sequence[str] | None = None) -> str:
    """The `models fetch` command line that gets a command's models (its --config files)."""
    parts = ["any2capins models fetch", *(f"--config {f}" for f in config_files)]
    if stages:
        parts.append(f"--stages {','.join(stages)}")
    return " ".join([*parts, "--to DIR"])


def check_models(config: Any, stages: Sequence[str], config_files: Sequence[str] = (),
                 hint_stages: Sequence[str] | None = None,
                 timeout_s: float = PROBE_TIMEOUT_S) -> None:
    """The preflight of a command running `stages` ('filter' for curation): ConfigError
    (one line, naming the `models fetch` command with these config files and `hint_stages`)
    when a model is neither local, cached nor reachable."""
    preflight(models_of(config, stages), timeout_s,
              fetch_hint=fetch_command(config_files, hint_stages))
