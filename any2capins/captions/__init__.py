"""Structured captions: six independent section writers (LLM through the `openai` client, or the
offline `rules` backend), a call cache, token usage, then merge and checks.

Stages: `SectionsStage` (clips/ -> captions/sections/) and `MergeStage`
(captions/sections/ -> captions/merged/). Heavy imports (openai, decord) happen inside functions.
"""
