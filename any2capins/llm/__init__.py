"""The LLM layer shared by the caption and short-prompt stages: the server connection (key,
URL, the one client builder, error classes, the 1-token request: `server`), one structured call
with bounded retries/re-asks and per-attempt token accounting (`client`), the circuit breaker
(`breaker`), the preflight a command runs first (`preflight.check_server`), what a run sent
(`usage.run_events`), the call cache (`cache`), and versioned prompt files rendered into chat
messages (`prompts`). Any OpenAI-compatible server."""
