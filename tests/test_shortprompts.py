"""Short prompts: recipe, rule checks, the rules backend, the stage (fan-out) on a built run."""

from __future__ import annotations

from pathlib import Path

import pytest
from run_builders import ClipSpec, build_run

from any2capins.config import load_config
from any2capins.config.shortprompts import RecipeConfig, ShortPromptsConfig
from any2capins.io.shards import ShardStore
from any2capins.models.conditionsets import ClipConditions, available, condition_sets
from any2capins.models.instances import ShortPromptRecord, instance_id_for
from any2capins.runtime import ShardTask, run_stage
from any2capins.shortprompts.checks import check_prompt
from any2capins.shortprompts.rules import rules_prompt
from any2capins.shortprompts.stage import INPUT_DIR, ShortPromptsStage

CFG = ShortPromptsConfig()
CAPTION = "1. Dense caption: Mia jumps on a bed in a bright room. 6. Action caption: jumping"
ALL = ["depth", "pose", "camera", "identity", "camera+identity", "depth+camera",
       "depth+identity", "depth+camera+identity"]


def names(sets: list[tuple[str, ...]]) -> list[str]:
    return ["+".join(s) for s in sets]


@pytest.mark.parametrize(
    ("cond", "expected"),
    [
        (ClipConditions(depth=True, pose_tracks=2, camera_status="ok", crops=3), ALL),
        # no people, failed camera, no crops: only depth
        (ClipConditions(depth=True, pose_tracks=0, camera_status="failed", crops=0), ["depth"]),
        # a static camera is a valid camera condition
        (ClipConditions(depth=False, pose_tracks=None, camera_status="static", crops=None),
         ["camera"]),
        (ClipConditions(depth=False, pose_tracks=1, camera_status="rotation_only", crops=1),
         ["pose", "camera", "identity", "camera+identity"]),
        (ClipConditions(), []),
    ],
)
def test_recipe_emits_exactly_the_supported_sets(cond: ClipConditions, expected: list[str]):
    assert names(condition_sets(cond, RecipeConfig())) == expected


def test_recipe_thresholds_are_config() -> None:
    cond = ClipConditions(pose_tracks=1, crops=1)
    strict = RecipeConfig(pose_min_tracks=2, identity_min_crops=2)
    assert available(cond, strict) == set()
    assert available(cond, RecipeConfig()) == {"pose", "identity"}
    with pytest.raises(ValueError, match="unknown condition"):
        RecipeConfig(sets=[["depth", "audio"]])


@pytest.mark.parametrize(
    ("prompt", "conditions", "n_img", "rule"),
    [
        (" ".join(["word"] * 101), ["depth"], 0, "too_long"),
        ("The person in image 3 waves.", ["identity"], 2, "image_ref"),
        ("The person in image 1 waves.", ["depth"], 0, "image_ref"),
        ("The camera pans left as Mia jumps.", ["camera"], 0, "camera_terms"),
        ("A slow dolly toward Mia.", ["camera", "identity"], 1, "camera_terms"),
        ("Mia jumps in the foreground of a room.", ["depth"], 0, "layout_terms"),
        ("Mia and Oliver jump on the bed.", ["pose"], 0, "unknown_entity"),
        ("- Mia jumps\n- the bed shakes", ["pose"], 0, "list_format"),
        ("", ["pose"], 0, "empty"),
    ],
)
def test_each_rule_catches_a_violating_prompt(prompt, conditions, n_img, rule) -> None:
    problems = check_prompt(prompt, conditions, n_img, CAPTION, CFG)
    assert any(p.startswith(rule) for p in problems), problems


def test_a_good_prompt_passes_every_rule() -> None:
    ok = ("The girl from image 1 bounces on a bed with her arms up, laughing, in warm light. "
          "Mia keeps jumping as the blanket ripples under her feet.")
    assert check_prompt(ok, ["camera", "identity"], 1, CAPTION, CFG) == []


@pytest.mark.parametrize("conditions", [["depth"], ["camera", "identity"], ["pose"],
                                        ["depth", "camera", "identity"]])
def test_rules_prompt_follows_the_rules(conditions: list[str]) -> None:
    from run_builders import SECTIONS_TEXT

    n_img = 2 if "identity" in conditions else 0
    prompt = rules_prompt("abc", SECTIONS_TEXT, conditions, n_img, target_words=55)
    caption = "\n".join(SECTIONS_TEXT.values())
    assert check_prompt(prompt, conditions, n_img, caption, CFG) == [], prompt
    assert 5 <= len(prompt.split()) <= 55
    if "identity" in conditions:
        assert "image 1" in prompt and "image 2" in prompt


def test_openings_vary_across_instances() -> None:
    from run_builders import SECTIONS_TEXT

    starts = {rules_prompt(f"id{i}", SECTIONS_TEXT, ["pose"], 0, 55).split()[0]
              for i in range(20)}
    assert len(starts) >= 3


def run_shortprompts(run: Path, executor: str = "local"):
    cfg = load_config([], ["shortprompts.backend=rules", f"runtime.executor={executor}",
                           "runtime.progress=false"])
    store = ShardStore(str(run))
    tasks = [ShardTask(index=i, input_dir=INPUT_DIR) for i in store.shard_indices(INPUT_DIR)]
    stage = ShortPromptsStage(cfg.shortprompts, str(run))
    return run_stage(stage, tasks, str(run), cfg.runtime)


SPECS = [
    [ClipSpec("a" * 16), ClipSpec("b" * 16, tracks=0, camera="failed", crops=0),
     ClipSpec("c" * 16, tracks=1, camera="static", crops=1)],
    [ClipSpec("d" * 16, depth=False, tracks=None, camera=None, crops=None)],
]


def test_stage_writes_one_prompt_per_emitted_set(tmp_path: Path) -> None:
    build_run(str(tmp_path), SPECS)
    summary = run_shortprompts(tmp_path)
    rows = ShardStore(str(tmp_path)).read_all("shortprompts", ShortPromptRecord)
    by_clip: dict[str, list[str]] = {}
    for r in rows:
        by_clip.setdefault(r.clip_id, []).append(r.condition_set)
    assert by_clip["a" * 16] == ALL
    assert by_clip["b" * 16] == ["depth"]
    assert sorted(by_clip["c" * 16]) == sorted(ALL)  # static camera counts, one crop is enough
    assert "d" * 16 not in by_clip  # no conditions: approved but no instance
    assert summary.items == 4 and summary.ok == 4 and summary.outputs == len(rows) == 17
    for r in rows:
        assert r.instance_id == instance_id_for(r.clip_id, r.conditions)
        assert r.backend == "rules" and r.words <= 100
        assert r.n_ref_images == (min(2 if r.clip_id == "a" * 16 else 1, 3)
                                  if "identity" in r.conditions else 0)
    # rerun: nothing redone, same ids
    again = run_shortprompts(tmp_path)
    assert again.shards_run == 0 and again.shards_skipped == 2
