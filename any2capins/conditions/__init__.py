"""Condition extractors (depth, pose, camera, reference crops): one stage per condition.

Each stage reads `RUN_DIR/clips/` shard N and writes `RUN_DIR/conditions/<name>/` shard N.
`registry.STAGES` lists them for `any2capins extract`; stages never import each other.
"""
