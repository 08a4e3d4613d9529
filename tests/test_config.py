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
        ("sampling.max_side=abc", "sampling.max_side"),
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
