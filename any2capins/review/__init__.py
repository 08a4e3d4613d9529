"""Review queue and the annotators' CLI.

Merged captions enter a SQLite queue (`store`, `enqueue`); annotators claim items under
leases (`leases`), decide (`decisions`: accept, edit per section, reject) with a full audit
trail; `stats` summarises, `export` writes approved captions back to Parquet. Light on
purpose: stdlib sqlite3, pydantic and pyarrow only (no Ray, torch or model code).
"""
