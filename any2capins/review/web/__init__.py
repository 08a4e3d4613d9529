"""The review in the browser (`any2capins review serve`): a Starlette app over the same queue
code as the CLI (leases, optimistic versions, validation, the append-only audit trail).

    accounts  users (tokens stored hashed) and sessions, in the queue's SQLite file
    api       the JSON API under /api/ (plain functions: context, store, session, request)
    app       the ASGI app: routes, session and CSRF checks, refusals as status codes
    context   what every request shares (one SQLite connection per server thread)
    media     the clip index, previews (io.preview) made once per clip, condition overlays
    pages     server-rendered HTML (Jinja2, autoescaped); templates/ and static/ are data
    serve     the commands: review serve, users, previews, reopen

Imports no torch, Ray or model code; starlette, uvicorn and jinja2 are imported by `app`
and `serve` only, PyAV only when a preview is made.
"""
