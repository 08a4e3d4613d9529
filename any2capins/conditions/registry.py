"""The condition stages `any2capins extract` can run, by name.

Each entry names the stage class by dotted path (imported only when the stage is selected, so
`any2capins --help` stays fast and a missing optional dependency only affects its own stage)
and the `PipelineConfig` section holding its settings. The class is built as `cls(section)`;
it must be a `runtime.Stage` whose input model is `ClipRecord` (it reads `clips/` shard N).

To add a stage, add one line to `STAGES` (order = default run order).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

from any2capins.errors import ConfigError


@dataclass(frozen=True)
class StageEntry:
    """How to build one condition stage: `module:Class` and its config section name."""

    target: str
    section: str

    def load_class(self) -> type:
        module, _, cls = self.target.partition(":")
        return getattr(importlib.import_module(module), cls)


STAGES: dict[str, StageEntry] = {
    "depth": StageEntry("any2capins.conditions.depth:DepthStage", "depth"),
    "pose": StageEntry("any2capins.conditions.pose:PoseStage", "pose"),
    "refs": StageEntry("any2capins.conditions.refs:RefsStage", "refs"),
    "camera": StageEntry("any2capins.conditions.camera:CameraStage", "camera"),
}


def parse_stages(spec: str | None) -> list[str]:
    """Stage names from a comma list ('depth,pose'); None or '' means every registered stage.
    Unknown names raise ConfigError listing the valid ones."""
    if not spec:
        return list(STAGES)
    names = [s.strip() for s in spec.split(",") if s.strip()]
    unknown = [n for n in names if n not in STAGES]
    if unknown:
        raise ConfigError(f"--stages: unknown stage(s) {unknown}; valid: {', '.join(STAGES)}")
    return list(dict.fromkeys(names))


def build_stage(name: str, config: Any) -> Any:
    """Instantiate stage `name` with its section of `config` (a PipelineConfig)."""
    entry = STAGES[name]
    section = getattr(config, entry.section, None)
    if section is None:
        raise ConfigError(f"stage {name!r}: config has no section {entry.section!r}")
    return entry.load_class()(section)
