"""The LLM layer shared by the caption and short-prompt stages: one structured call with bounded
retries/re-asks and per-attempt token accounting (`client`), the call cache (`cache`), and
versioned prompt files rendered into chat messages (`prompts`). Any OpenAI-compatible server."""
