"""Config loading: files + overrides, errors that name the key, secrets never recorded."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from any2capins.config import PipelineConfig, load_config
from any2capins.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]


def test_defaults_validate() -> None:
    cfg = load_config()
    assert isinstance(cfg, PipelineConfig)
    assert cfg.runtime.executor == "ray"


@pytest.mark.parametrize("name", sorted(p.name for p in (ROOT / "pipelines").glob("*.yaml")))
def test_every_shipped_profile_loads(name: str) -> None:
    load_config([ROOT / "pipelines" / name])


def test_files_merge_in_order_and_set_wins(tmp_path: Path) -> None:
    a = tmp_path / "a.yaml"
    b = tmp_path / "b.yaml"
    a.write_text("ingest:\n  clips_per_shard: 5\n  resources: {workers: 3}\n")
    b.write_text("ingest:\n  clips_per_shard: 7\n")
    cfg = load_config([a, b], ["ingest.resources.batch_size=2"])
    assert cfg.ingest.clips_per_shard == 7
    assert cfg.ingest.resources.workers == 3  # deep merge kept a's nested value
    assert cfg.ingest.resources.batch_size == 2


def test_unknown_key_in_file_is_named_with_its_file(tmp_path: Path) -> None:
    f = tmp_path / "bad.yaml"
    f.write_text("ingest:\n  clips_per_shrad: 5\n")
    with pytest.raises(ConfigError) as err:
        load_config([f])
    assert "ingest.clips_per_shrad" in str(err.value)
    assert "unknown key" in str(err.value)
    assert str(f) in str(err.value)


def test_unknown_override_suggests_the_right_key() -> None:
    with pytest.raises(ConfigError, match=r"ingest\.clip_per_shard.*did you mean clips_per_shard"):
        load_config([], ["ingest.clip_per_shard=3"])


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("ingest.clips_per_shard=0", "ingest.clips_per_shard"),
        ("runtime.executor=threads", "runtime.executor"),
        ("ingest.resources.num_gpus=-1", "ingest.resources.num_gpus"),
        ("depth.sampling.max_side=abc", "depth.sampling.max_side"),
    ],
)
def test_bad_value_names_the_key(override: str, key: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_config([], [override])
    assert key in str(err.value)


def test_malformed_set_and_missing_file() -> None:
    with pytest.raises(ConfigError, match=r"KEY\.PATH=VALUE"):
        load_config([], ["no_equals_sign"])
    with pytest.raises(ConfigError, match="not found"):
        load_config(["/nonexistent/x.yaml"])


def test_redacted_drops_secret_looking_values() -> None:
    from any2capins.config import _drop_secrets

    data = {"llm": {"api_key": "sk-123", "api_key_env": "OPENAI_API_KEY", "x": [{"password": 1}]}}
    out = _drop_secrets(data)
    assert out["llm"]["api_key"] == "<redacted>"
    assert out["llm"]["api_key_env"] == "OPENAI_API_KEY"
    assert out["llm"]["x"][0]["password"] == "<redacted>"
    assert "sk-123" not in json.dumps(out)


def test_set_value_that_is_not_yaml_is_one_line_naming_the_override() -> None:
    with pytest.raises(ConfigError) as err:
        load_config([], ["runtime.num_cpus=[2"])
    msg = str(err.value)
    assert "runtime.num_cpus=[2" in msg
    assert "not valid YAML" in msg
    assert "\n" not in msg


def test_bad_yaml_file_is_one_line_with_its_position(tmp_path: Path) -> None:
    f = tmp_path / "bad.yaml"
    f.write_text("ingest:\n  extensions: [.mp4\n")
    with pytest.raises(ConfigError) as err:
        load_config([f])
    msg = str(err.value)
    assert str(f) in msg
    assert "line " in msg
    assert "\n" not in msg


def test_one_bad_value_is_one_line_and_several_are_listed() -> None:
    with pytest.raises(ConfigError) as one:
        load_config([], ["ingest.clips_per_shard=0"])
    assert "\n" not in str(one.value)
    with pytest.raises(ConfigError) as two:
        load_config([], ["ingest.clips_per_shard=0", "runtime.executor=threads"])
    lines = str(two.value).splitlines()
    assert len(lines) == 3
    assert any("ingest.clips_per_shard" in line for line in lines)
    assert any("runtime.executor" in line for line in lines)


# --- config truth: every key is read by the code, every section has its own module ---------

_PKG = ROOT / "any2capins"


def _code_outside_config() -> dict[str, str]:
    return {str(p.relative_to(ROOT)): p.read_text(encoding="utf-8")
            for p in _PKG.rglob("*.py")
            if "config" not in p.relative_to(_PKG).parts and p.name != "docsgen.py"}


def test_every_config_field_is_read_outside_the_config_package() -> None:
    """A field (of any config model, shared ones counted once) must be read somewhere in
    any2capins/ outside config/: as an attribute (`.name`) or by its name as a string
    (getattr, model_dump keys). A key nobody reads is a setting that does nothing."""
    import re

    from any2capins.docsgen import config_keys

    code = _code_outside_config()
    unread = set()
    for key in config_keys():
        pattern = re.compile(rf"\.{key.name}\b|[\"']{key.name}[\"']")
        if not any(pattern.search(text) for text in code.values()):
            unread.add(f"{key.model.__name__}.{key.name} (e.g. {key.path})")
    assert not unread, f"config keys no code reads (remove them or read them): {sorted(unread)}"


def test_every_top_level_section_is_read_by_name() -> None:
    import re

    code = _code_outside_config()
    missing = []
    for section in PipelineConfig.model_fields:
        pattern = re.compile(rf"\b(config|cfg|conf|c|ctx\.config)\.{section}\b|"
                             rf"[\"']{section}[\"']")
        if not any(pattern.search(text) for text in code.values()):
            missing.append(section)
    assert not missing, f"sections no code reads: {missing}"


def test_each_section_lives_in_its_own_module() -> None:
    """No config module defines the models of two top-level sections (issue 15: ExportConfig
    sat in config/shortprompts.py, SheetConfig in config/camera.py)."""
    from any2capins.docsgen import _nested_model

    where: dict[str, list[str]] = {}
    for name, info in PipelineConfig.model_fields.items():
        model = _nested_model(info.annotation)
        if model is not None:
            where.setdefault(model.__module__, []).append(name)
    shared = {m: s for m, s in where.items() if len(s) > 1}
    assert not shared, f"modules holding more than one section: {shared}"
    for module, (section,) in where.items():
        assert module.startswith("any2capins.config."), (section, module)
