"""The review server's ASGI app (Starlette): routes, login and session checks, refusals as
status codes, security headers.

Routes:
    GET  /login, POST /login (form field `token`)      the login page
    GET  /                                              the item page (annotators and leads)
    GET  /dashboard                                     queue, annotators, caption quality (leads)
    POST /api/login {"token"}                           -> {"name", "role", "csrf"} + cookie
    POST /api/logout
    GET  /api/next[?skip=ids]                           claim (or resume) an item; 204: none left
    POST /api/items/{id}/decision                       {"version", "action", "edits", "reason"}
    POST /api/items/{id}/release, /api/items/{id}/reopen (leads; {"reason"})
    GET  /api/items/{id}/overlays, GET /api/stats
    GET  /media/items/{id}/preview.mp4, /media/items/{id}/depth.png
    GET  /static/...                                    the page's script and style

Every route but /login, /api/login and /static needs a session (HttpOnly, SameSite=Strict
cookie); every POST but the two logins needs the session's `X-CSRF-Token` header (403
otherwise), and a POST whose Origin is another site is refused (403). Handlers that touch the
queue run in the server's thread pool, each thread with its own SQLite connection. Nothing
secret enters a URL, a page or a log line: tokens travel in POST bodies, session ids in the
cookie only. An unexpected error is logged with its traceback and answered with one line.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from any2capins.errors import InputError
from any2capins.review.errors import ReviewError
from any2capins.review.web import accounts, api, pages
from any2capins.review.web.accounts import AuthError, Session
from any2capins.review.web.context import ServerContext
from any2capins.review.web.media import MediaError

log = logging.getLogger("any2capins.review.web")
COOKIE = "a2c_session"
MAX_BODY = 1 << 20  # six sections of at most 400 words fit many times over
STATUS = {"stale": 409, "lease": 409, "invalid": 422, "invalid_request": 422,
          "unknown_item": 404, "unavailable": 503, "annotator": 403, "media": 404,
          "bad_token": 401, "no_session": 401, "expired": 401, "revoked": 401,
          "forbidden": 403, "csrf": 403, "cross_origin": 403, "too_large": 413,
          "exists": 409, "bad_role": 422}
Handler = Callable[..., api.Reply]


class TooLargeError(api.BadRequestError):
    """The request body is over MAX_BODY (413)."""


class JSON(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=False, default=str).encode("utf-8")


def refusal(kind: str, message: str) -> JSON:
    return JSON({"ok": False, "error": kind, "message": message},
                status_code=STATUS.get(kind, 400))


def _check_origin(request: Request) -> None:
    """Refuse a POST sent by a page of another site (the browser always sends Origin on a
    cross-site POST; same-site tools such as curl may send none)."""
    origin = request.headers.get("origin")
    if origin and urlsplit(origin).netloc != request.headers.get("host", ""):
        raise AuthError("cross_origin", "cross-origin request refused")


def _session(ctx: ServerContext, request: Request, *, csrf: bool, lead: bool) -> Session:
    sess = accounts.session(ctx.store(), request.cookies.get(COOKIE))
    if csrf and not accounts.csrf_ok(sess, request.headers.get("x-csrf-token")):
        raise AuthError("csrf", "missing or wrong X-CSRF-Token header: reload the page")
    if lead and sess.role != "lead":
        raise AuthError("forbidden", "only leads may do this")
    return sess


async def _json_body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if len(raw) > MAX_BODY:
        raise TooLargeError(f"request body too large (over {MAX_BODY} bytes)")
    try:
        data = json.loads(raw or b"{}")
    except ValueError:
        raise api.BadRequestError("the body is not JSON") from None
    if not isinstance(data, dict):
        raise api.BadRequestError("the body must be a JSON object")
    return data


def error_response(exc: Exception) -> Response:
    """A refusal's status and one-line message; anything unexpected is a bug: logged with its
    traceback, answered with one line and never shown to the browser."""
    if isinstance(exc, api.BadRequestError):
        return refusal("too_large" if isinstance(exc, TooLargeError) else "invalid_request",
                       str(exc))
    if isinstance(exc, AuthError | ReviewError | InputError):  # InputError: e.g. the roster
        return refusal(getattr(exc, "kind", "annotator"), str(exc))
    log.error("internal error", exc_info=exc)
    return JSON({"ok": False, "error": "internal", "message": "internal error: the server log "
                 "has the details"}, status_code=500)


def _guarded(fn: Callable[[], Response]) -> Response:
    try:
        return fn()
    except Exception as exc:  # noqa: BLE001 - every failure becomes an answer
        return error_response(exc)


def api_route(ctx: ServerContext, path: str, handler: Handler, method: str = "GET", *,
              lead: bool = False) -> Route:
    """A JSON endpoint: session (and for POST the CSRF header) checked, `handler` run in the
    thread pool."""
    post = method == "POST"

    async def endpoint(request: Request) -> Response:
        try:
            if post:
                _check_origin(request)
            body = await _json_body(request) if post else None
        except (AuthError, api.BadRequestError) as exc:
            return error_response(exc)

        def run() -> Response:
            sess = _session(ctx, request, csrf=post, lead=lead)
            req = api.Req(path=dict(request.path_params), query=dict(request.query_params),
                          body=body)
            status, payload = handler(ctx, ctx.store(), sess, req)
            return Response(status_code=204) if status == 204 else JSON(payload,
                                                                        status_code=status)

        return await run_in_threadpool(_guarded, run)

    return Route(path, endpoint, methods=[method])


# -- login and logout ----------------------------------------------------------------------
def _set_cookie(ctx: ServerContext, response: Response, sid: str) -> None:
    response.set_cookie(COOKIE, sid, max_age=int(ctx.session_seconds), path="/",
                        httponly=True, samesite="strict", secure=ctx.cfg.web.secure_cookies)


def _login(ctx: ServerContext, token: str, peer: str) -> tuple[str, Session]:
    try:
        sid, sess = accounts.login(ctx.store(), token, ctx.session_seconds)
    except AuthError:
        log.warning("login refused (bad token) from %s", peer)
        raise
    log.info("login: %s (%s) from %s", sess.name, sess.role, peer)
    return sid, sess


def login_routes(ctx: ServerContext) -> list[Route]:
    async def login_form(request: Request) -> Response:
        if request.method == "GET":
            why = pages.LOGIN_REASONS.get(request.query_params.get("why", ""))
            return HTMLResponse(pages.login_page(message=why))
        try:
            _check_origin(request)
        except AuthError as exc:
            return HTMLResponse(pages.login_page(error=str(exc)), status_code=403)
        raw = (await request.body())[:MAX_BODY].decode("utf-8", "replace")
        token = (parse_qs(raw).get("token") or [""])[0]
        peer = request.client.host if request.client else "?"
        try:
            sid, _sess = await run_in_threadpool(_login, ctx, token, peer)
        except AuthError as exc:
            return HTMLResponse(pages.login_page(error=str(exc)), status_code=401)
        except ReviewError as exc:  # the queue is locked past its timeout, ...
            return HTMLResponse(pages.login_page(error=str(exc)), status_code=503)
        response = RedirectResponse("/", status_code=303)
        _set_cookie(ctx, response, sid)
        return response

    async def login_api(request: Request) -> Response:
        try:
            _check_origin(request)
            body = await _json_body(request)
        except (AuthError, api.BadRequestError) as exc:
            return error_response(exc)
        peer = request.client.host if request.client else "?"

        def run() -> Response:
            sid, sess = _login(ctx, str(body.get("token") or ""), peer)
            response = JSON({"name": sess.name, "role": sess.role, "csrf": sess.csrf})
            _set_cookie(ctx, response, sid)
            return response

        return await run_in_threadpool(_guarded, run)

    async def logout_api(request: Request) -> Response:
        def run() -> Response:
            _check_origin(request)
            _session(ctx, request, csrf=True, lead=False)
            accounts.logout(ctx.store(), request.cookies.get(COOKIE, ""))
            response = JSON({"ok": True})
            response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
            return response

        return await run_in_threadpool(_guarded, run)

    return [Route("/login", login_form, methods=["GET", "POST"]),
            Route("/api/login", login_api, methods=["POST"]),
            Route("/api/logout", logout_api, methods=["POST"])]


# -- pages and media -----------------------------------------------------------------------
def page_routes(ctx: ServerContext) -> list[Route]:
    def page(render: Callable[[Session, Any], str], *, lead: bool = False):
        def run(request: Request) -> Response:
            try:
                sess = _session(ctx, request, csrf=False, lead=False)
            except AuthError as exc:
                return RedirectResponse(f"/login?why={exc.kind}", status_code=303)
            if lead and sess.role != "lead":
                return HTMLResponse(pages.message_page(
                    "Leads only", "The dashboard is for leads.",
                    {"name": sess.name, "role": sess.role}), status_code=403)
            return HTMLResponse(render(sess, ctx.store()))

        async def endpoint(request: Request) -> Response:
            return await run_in_threadpool(_guarded, lambda: run(request))

        return endpoint

    def item(sess: Session, store) -> str:
        return pages.item_page(sess.name, sess.role, sess.csrf)

    def dashboard(sess: Session, store) -> str:
        from any2capins.review.decisions import audit_trail
        from any2capins.review.web.media import preview_summary

        recent = [d.model_dump(mode="json") for d in audit_trail(store)[-50:][::-1]]
        return pages.dashboard_page(sess.name, sess.csrf, ctx.full_stats(store), recent,
                                    preview_summary(ctx.media))

    return [Route("/", page(item)), Route("/dashboard", page(dashboard, lead=True))]


def media_routes(ctx: ServerContext) -> list[Route]:
    def clip_of(request: Request) -> str:
        _session(ctx, request, csrf=False, lead=False)
        return ctx.store().item(request.path_params["item_id"]).clip_id

    def preview(request: Request) -> Response:
        path, _info = ctx.media.preview(clip_of(request))
        return FileResponse(path, media_type="video/mp4",
                            headers={"Cache-Control": "private, max-age=3600"})

    def depth(request: Request) -> Response:
        png = ctx.media.depth_sprite(clip_of(request))
        if png is None:
            raise MediaError("this clip has no depth row")
        return Response(png, media_type="image/png",
                        headers={"Cache-Control": "private, max-age=3600"})

    def wrap(fn: Callable[[Request], Response]):
        async def endpoint(request: Request) -> Response:
            return await run_in_threadpool(_guarded, lambda: fn(request))

        return endpoint

    return [Route("/media/items/{item_id:int}/preview.mp4", wrap(preview)),
            Route("/media/items/{item_id:int}/depth.png", wrap(depth))]


class SecurityHeaders:
    """Headers on every response: a strict Content-Security-Policy (scripts and styles from
    /static only), no sniffing, no referrer to other sites, no framing; no caching of pages and
    API answers."""

    CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: "
           "blob:; media-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors "
           "'none'; form-action 'self'")

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        cacheable = scope["path"].startswith(("/static/", "/media/"))

        async def send_with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers["Content-Security-Policy"] = self.CSP
                headers["X-Content-Type-Options"] = "nosniff"
                headers["Referrer-Policy"] = "same-origin"  # no-referrer makes Origin "null"
                headers["X-Frame-Options"] = "DENY"
                if not cacheable:
                    headers["Cache-Control"] = "no-store"
            await send(message)

        await self.app(scope, receive, send_with_headers)


def create_app(ctx: ServerContext) -> Starlette:
    """The ASGI app serving `ctx`'s run and queue (the users' tables are created if new)."""
    accounts.ensure_schema(ctx.store())
    routes = [
        *login_routes(ctx), *page_routes(ctx), *media_routes(ctx),
        api_route(ctx, "/api/next", api.next_item),
        api_route(ctx, "/api/stats", api.stats),
        api_route(ctx, "/api/items/{item_id:int}/overlays", api.overlays),
        api_route(ctx, "/api/items/{item_id:int}/decision", api.decision, "POST"),
        api_route(ctx, "/api/items/{item_id:int}/release", api.release_item, "POST"),
        api_route(ctx, "/api/items/{item_id:int}/reopen", api.reopen_item, "POST", lead=True),
        Mount("/static", StaticFiles(directory=str(Path(__file__).parent / "static")),
              name="static"),
    ]
    app = Starlette(routes=routes)
    app.add_middleware(SecurityHeaders)
    return app
