"""Review queue and the annotators' CLI and browser app.

Merged captions enter a SQLite queue (`store`, `enqueue`); annotators claim items under
leases (`leases`), decide (`decisions`: accept, edit per section, reject; leads reopen) with a
full audit trail; `stats` summarises, `quality` measures the model's text against the accepted
text, `export` writes approved captions back to Parquet. `web` serves the same queue in the
browser (`review serve`). Light on purpose: stdlib sqlite3, pydantic and pyarrow (the server
adds starlette, uvicorn and jinja2; the quality figures sacrebleu and rouge-score), no Ray,
torch or model code.
"""
