"""Models without hub access (issue 22): `models_of` lists what a config loads, `models fetch`
downloads it from a fake hub on 127.0.0.1 (the real huggingface_hub client: model_info,
snapshot_download, hf_hub_download) into DIR or the HF cache, and the preflight refuses a
model that is neither local, cached nor reachable in one line, exit 2, within seconds and
with one request at most when the hub does not answer."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conditions_helpers import make_run, tiny_models
from hub_server import FakeHub, SilentPort, closed_port

from any2capins.config import load_config
from any2capins.errors import ConfigError
from any2capins.io import hub

CLI = [sys.executable, "-m", "any2capins.cli"]
DEFAULTS = {  # setting -> (kind, id, file) of the default config
    "depth.model": (hub.HUB_REPO, "depth-anything/Depth-Anything-V2-Small-hf", None),
    "pose.detector.model": (hub.HUB_REPO, "PekingU/rtdetr_r50vd_coco_o365", None),
    "pose.dwpose.model": (hub.HUB_FILE, "yzd-v/DWPose", "dw-ll_ucoco_384.onnx"),
    "refs.detector.model": (hub.HUB_REPO, "PekingU/rtdetr_r50vd_coco_o365", None),
    "refs.sam2.model": (hub.HUB_REPO, "facebook/sam2.1-hiera-tiny", None),
    "filter.embedding.model": (hub.HUB_REPO, "openai/clip-vit-base-patch32", None),
}
# files a real repository holds that no loader reads: never downloaded
JUNK = {"flax_model.msgpack": b"f" * 64, "tf_model.h5": b"t" * 64, "README.md": b"# model",
        "pytorch_model.bin": b"b" * 64, "onnx/model.onnx": b"o" * 64}


@pytest.fixture(scope="module")
def fake_hub():
    """The default config's repositories, made of the tiny models, plus junk files."""
    m = tiny_models()
    server = FakeHub()
    server.add_folder(DEFAULTS["depth.model"][1], Path(m["depth"]), JUNK)
    server.add_folder(DEFAULTS["pose.detector.model"][1], Path(m["detector"]), JUNK)
    server.add_folder(DEFAULTS["refs.sam2.model"][1], Path(m["sam2"]), JUNK)
    server.add_folder(DEFAULTS["filter.embedding.model"][1], Path(m["clip"]), JUNK)
    onnx = next(Path(m["dwpose"]).glob("*.onnx")).read_bytes()
    server.add_repo("yzd-v/DWPose", {"dw-ll_ucoco_384.onnx": onnx, "yolox_l.onnx": b"y" * 64,
                                     "dw-ll_ucoco_384.pth": b"p" * 64})
    server.start()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def fresh_hub_env(tmp_path, monkeypatch):
    """A temp HF cache, no token, and nothing remembered about servers from another test."""
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    for key in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "HF_TOKEN", "TRANSFORMERS_OFFLINE"):
        monkeypatch.delenv(key, raising=False)
    hub.forget_probes()
    yield
    hub.forget_probes()


def _env(**over: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in over}
    env.update({k: v for k, v in over.items() if v is not None})
    return env


def _cli(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, env=env, cwd=cwd,
                          check=False, timeout=600)


def _tree(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


# -- which models -----------------------------------------------------------------------------


def test_models_of_names_every_model_of_the_default_config():
    refs = hub.models_of(load_config([], []))
    assert {r.setting: (r.kind, r.ref, r.file) for r in refs} == DEFAULTS
    assert [r.setting for r in hub.models_of(load_config([], []), ["depth", "camera"])] == [
        "depth.model"]
    assert hub.models_of(load_config([], []), ["camera", "blur"]) == []  # no models: nothing


def test_models_of_follows_the_settings_that_decide_what_loads(tmp_path):
    head = tmp_path / "head.safetensors"
    cfg = load_config([], ["refs.segment=none", "filter.enabled=false", "pose.backend=vitpose"])
    assert [r.setting for r in hub.models_of(cfg)] == [
        "depth.model", "pose.detector.model", "pose.vitpose.model", "refs.detector.model"]
    cfg = load_config([], ["filter.embedding.enabled=false"])
    assert "filter.embedding.model" not in {r.setting for r in hub.models_of(cfg)}
    cfg = load_config([], ["pose.backend=mmpose", "pose.mmpose.config=rtm.py",
                           "pose.mmpose.checkpoint=https://host/w/rtm.pth",
                           f"filter.embedding.aesthetic_head={head}",
                           f"depth.model={tmp_path}"])
    kinds = {r.setting: r.kind for r in hub.models_of(cfg)}
    assert kinds["pose.mmpose.config"] == hub.LOCAL  # a config file, however it is spelled
    assert kinds["pose.mmpose.checkpoint"] == hub.URL
    assert kinds["filter.embedding.aesthetic_head"] == hub.LOCAL
    assert kinds["depth.model"] == hub.LOCAL


def test_loader_files_skip_what_no_loader_reads():
    repo = ["config.json", "preprocessor_config.json", "model.safetensors", "pytorch_model.bin",
            "tf_model.h5", "flax_model.msgpack", "README.md", "onnx/model.onnx",
            "sam2.1_hiera_tiny.pt"]
    assert hub.loader_files(repo) == ["config.json", "model.safetensors",
                                      "preprocessor_config.json"]
    old = ["config.json", "pytorch_model.bin", "training_args.bin", "tf_model.h5"]
    assert hub.loader_files(old) == ["config.json", "pytorch_model.bin"]
    sharded = ["config.json", "model-00001-of-00002.safetensors",
               "model-00002-of-00002.safetensors", "model.safetensors.index.json"]
    assert hub.loader_files(sharded) == sorted(sharded)


# -- the preflight ----------------------------------------------------------------------------


def test_preflight_offline_is_one_line_and_no_request(fake_hub, monkeypatch):
    monkeypatch.setenv("HF_ENDPOINT", fake_hub.url)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    before = len(fake_hub.requests)
    with pytest.raises(ConfigError) as err:
        hub.check_models(load_config([], []), ["depth", "pose", "refs", "filter"],
                         ["pipelines/extract.yaml"])
    line = str(err.value)
    assert "\n" not in line and len(fake_hub.requests) == before
    assert line.startswith("depth.model='depth-anything/Depth-Anything-V2-Small-hf'")
    assert "HF_HUB_OFFLINE" in line and "refs.sam2.model" in line
    assert "any2capins models fetch --config pipelines/extract.yaml --to DIR" in line


def test_a_silent_hub_is_asked_once_per_process(monkeypatch):
    """A firewall that drops requests: one connection for all six models, not one each (nor
    the hub client's retries), and the line says the hub cannot be reached."""
    silent = SilentPort()
    monkeypatch.setenv("HF_ENDPOINT", silent.url)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    try:
        t0 = time.perf_counter()
        with pytest.raises(ConfigError, match=r"^depth\.model=.*cannot be reached \(.*"
                                              r"models fetch"):
            hub.preflight(hub.models_of(load_config([], [])), timeout_s=1.0)
        seconds = time.perf_counter() - t0
        with pytest.raises(ConfigError, match="cannot be reached"):  # remembered: no request
            hub.preflight(hub.models_of(load_config([], []), ["depth"]), timeout_s=1.0)
        assert len(silent.accepted) == 1
    finally:
        silent.close()
    assert seconds < 30  # one timeout, not six (loose: the machine may be busy)


def test_preflight_with_the_hub_up(fake_hub, monkeypatch, tmp_path):
    """Reachable models pass (one HEAD each); a model the hub does not have is named."""
    monkeypatch.setenv("HF_ENDPOINT", fake_hub.url)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    hub.preflight(hub.models_of(load_config([], [])))
    heads = [p for m, p in fake_hub.requests if m == "HEAD"]
    assert any("/yzd-v/DWPose/resolve/main/dw-ll_ucoco_384.onnx" in p for p in heads)
    cfg = load_config([], ["depth.model=nobody/no-such-model"])
    with pytest.raises(ConfigError, match=r"depth\.model='nobody/no-such-model' is not on the "
                                          r"hub .*HTTP 401"):
        hub.preflight(hub.models_of(cfg, ["depth"]))
    cfg = load_config([], [f"filter.embedding.aesthetic_head={tmp_path / 'head.safetensors'}",
                           f"filter.embedding.model={tiny_models()['clip']}"])
    with pytest.raises(ConfigError, match=r"^filter\.embedding\.aesthetic_head: .*head"
                                          r"\.safetensors does not exist"):
        hub.preflight(hub.models_of(cfg, ["filter"]))


def test_local_tiny_models_pass_without_any_request(monkeypatch):
    silent = SilentPort()
    monkeypatch.setenv("HF_ENDPOINT", silent.url)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    m = tiny_models()
    cfg = load_config([], [f"depth.model={m['depth']}", f"pose.detector.model={m['detector']}",
                           f"pose.dwpose.model={m['dwpose']}", f"refs.sam2.model={m['sam2']}",
                           f"refs.detector.model={m['detector']}",
                           f"filter.embedding.model={m['clip']}"])
    try:
        hub.preflight(hub.models_of(cfg), timeout_s=1.0)
        assert silent.accepted == []
    finally:
        silent.close()


# -- models fetch -------------------------------------------------------------------------------


def test_fetch_to_dir_prints_set_lines_that_work_offline(fake_hub, tmp_path):
    """`models fetch --to DIR` takes only the loaders' files, twice is idempotent, and its
    --set lines make `extract` run with the hub gone (offline and a dead endpoint)."""
    env = _env(HF_ENDPOINT=fake_hub.url, HF_HUB_OFFLINE=None, HF_HOME=str(tmp_path / "hf"))
    out = _cli(["models", "fetch", "--to", str(tmp_path / "models")], env, tmp_path)
    assert out.returncode == 0, out.stderr
    lines = [x for x in out.stdout.splitlines() if x.startswith("--set ")]
    assert sorted(x.split("=", 1)[0] for x in lines) == sorted(f"--set {s}" for s in DEFAULTS)
    files = [f for f in _tree(tmp_path / "models") if ".cache" not in f and "." in f]
    assert "depth-anything--Depth-Anything-V2-Small-hf/model.safetensors" in files
    assert "yzd-v--DWPose/dw-ll_ucoco_384.onnx" in files
    assert not [f for f in files if f.endswith(("msgpack", ".h5", ".bin", "README.md", ".pth"))
                or "yolox" in f or "onnx/" in f]
    cache = _tree(tmp_path / "hf") if (tmp_path / "hf").exists() else []
    assert not [f for f in cache if "blobs/" in f or "snapshots/" in f]  # weights in DIR only
    served = len(fake_hub.downloads())
    again = _cli(["models", "fetch", "--to", str(tmp_path / "models")], env, tmp_path)
    assert again.returncode == 0 and len(fake_hub.downloads()) == served  # nothing re-fetched
    run = make_run(tmp_path, bad=False, names=("vp9_bear.webm",))
    sets = [a for x in lines for a in x.split(" ", 1)]
    small = ["runtime.executor=local", "runtime.progress=false", "filter.enabled=false",
             "sheet.during_extract=false", "depth.input_size=70", "depth.store_max_side=64",
             "depth.sampling.max_frames=2"]
    offline = _env(HF_ENDPOINT=closed_port(), HF_HUB_OFFLINE="1", HF_HOME=str(tmp_path / "hf"))
    done = _cli(["extract", "--run", str(run), "--stages", "depth", *sets,
                 *(a for s in small for a in ("--set", s))], offline, tmp_path)
    assert done.returncode == 0, done.stderr
    assert (run / "conditions" / "depth" / "shard-00000.parquet").is_file()


def test_fetch_into_the_cache_lets_hub_ids_load_offline(fake_hub, tmp_path):
    """Without --to: the HF cache, then the unchanged hub id loads with HF_HUB_OFFLINE=1."""
    home = str(tmp_path / "hf")
    out = _cli(["models", "fetch", "--stages", "depth"],
               _env(HF_ENDPOINT=fake_hub.url, HF_HUB_OFFLINE=None, HF_HOME=home), tmp_path)
    assert out.returncode == 0, out.stderr
    assert "HF_HUB_OFFLINE=1" in out.stdout and "--set" not in out.stdout
    run = make_run(tmp_path, bad=False, names=("vp9_bear.webm",))
    small = ["runtime.executor=local", "runtime.progress=false", "filter.enabled=false",
             "sheet.during_extract=false", "depth.input_size=70", "depth.store_max_side=64",
             "depth.sampling.max_frames=2"]
    done = _cli(["extract", "--run", str(run), "--stages", "depth",
                 *(a for s in small for a in ("--set", s))],
                _env(HF_ENDPOINT=closed_port(), HF_HUB_OFFLINE="1", HF_HOME=home), tmp_path)
    assert done.returncode == 0, done.stderr
    assert (run / "conditions" / "depth" / "shard-00000.parquet").is_file()


def test_fetch_without_the_hub_fails_per_model(tmp_path):
    out = _cli(["models", "fetch", "--stages", "depth,pose", "--to", str(tmp_path / "m")],
               _env(HF_ENDPOINT=closed_port(), HF_HUB_OFFLINE=None), tmp_path)
    assert out.returncode == 1
    assert out.stdout.count("failed ") == 3 and "cannot reach http://127.0.0.1:" in out.stdout
    assert "3 of 3 model settings could not be fetched" in out.stderr
    bad = _cli(["models", "fetch", "--stages", "depth,colour"], _env(), tmp_path)
    assert bad.returncode == 2 and "valid: depth, pose, refs, camera, filter" in bad.stderr


def test_mmpose_checkpoint_urls_are_fetched_like_torch_hub(fake_hub, tmp_path, monkeypatch):
    """A checkpoint URL goes to DIR/checkpoints (or torch.hub's folder, where mmengine looks
    first); the local config file is named, not fetched; the preflight then finds the URL's
    file without asking the server."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    config = tmp_path / "rtm.py"
    config.write_text("# an mmpose config\n")
    url = f"{fake_hub.url}/yzd-v/DWPose/resolve/main/dw-ll_ucoco_384.pth"
    cfg = load_config([], ["pose.backend=mmpose", f"pose.mmpose.config={config}",
                           f"pose.mmpose.checkpoint={url}"])
    refs = hub.models_of(cfg, ["pose"])
    got = {f.ref.setting: f for f in hub.fetch(refs[1:], tmp_path / "models")}
    assert got["pose.mmpose.config"].status == "local"
    assert Path(got["pose.mmpose.checkpoint"].path).read_bytes() == b"p" * 64
    assert hub.set_lines(list(got.values()), tmp_path / "models") == [
        f"--set pose.mmpose.checkpoint={tmp_path / 'models'}/checkpoints/dw-ll_ucoco_384.pth"]
    (cached,) = hub.fetch([refs[2]])  # no DIR: torch.hub's checkpoint folder
    assert cached.path == str(tmp_path / "torch" / "hub" / "checkpoints" / "dw-ll_ucoco_384.pth")
    hub.forget_probes()
    asked = len(fake_hub.requests)
    hub.preflight(refs[1:], timeout_s=1.0)
    assert len(fake_hub.requests) == asked  # found on disk: no request


def test_set_lines_spell_dir_as_given():
    ref = hub.ModelRef("depth.model", "org/name", hub.HUB_REPO)
    got = hub.Fetched(ref, "fetched", str(Path("models/org--name").resolve()))
    assert hub.set_lines([got], "models") == ["--set depth.model=./models/org--name"]
    assert hub.set_lines([got], str(Path("models").resolve())) == [
        f"--set depth.model={Path('models').resolve()}/org--name"]
    assert hub.set_lines([hub.Fetched(ref, "failed")], "models") == []


# -- the commands that load models ------------------------------------------------------------


@pytest.mark.parametrize("no_hub", ["offline", "dead endpoint", "silent hub"])
def test_extract_and_filter_without_the_hub_are_one_line_exit_2(tmp_path, no_hub):
    """The issue's case: default model ids, no hub. Before: 98-118 s of hub retries in every
    worker, exit 1, a run.json and log left. Now: one line, exit 2, nothing written; a hub
    that does not answer is asked once (one connection) per command."""
    run = make_run(tmp_path, bad=False, names=("vp9_bear.webm",))
    silent = SilentPort() if no_hub == "silent hub" else None
    env = _env(HF_HOME=str(tmp_path / "hf"), HF_HUB_OFFLINE="1" if no_hub == "offline" else None,
               HF_ENDPOINT=silent.url if silent else closed_port())
    before = _tree(run)
    try:
        for n, (command, first) in enumerate(((["extract"], "depth.model="),
                                              (["filter"], "filter.embedding.model="))):
            out = _cli([*command, "--run", str(run), "--config", "pipelines/extract.yaml"], env,
                       Path(__file__).resolve().parents[1])
            err = [x for x in out.stderr.splitlines() if x.strip()]
            assert out.returncode == 2 and len(err) == 1, out.stderr
            assert first in err[0] and "models fetch --config pipelines/extract.yaml" in err[0]
            assert _tree(run) == before  # no run.json, logs or shards
            if silent:
                assert len(silent.accepted) == n + 1 and "cannot be reached" in err[0]
    finally:
        if silent:
            silent.close()
