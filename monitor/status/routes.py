"""`GET /` (the status page) and `POST /login` on the HTTP listener.

Without `http.token` the page is open, as /metrics is. With it, a request needs the token: as
`Authorization: Bearer <token>`, or the cookie `POST /login` sets once the token is typed into
its form. The cookie holds an HMAC of the token, not the token, so changing the token signs
every browser out; it is HttpOnly and SameSite=Strict. Every answer forbids scripts, framing and
forms to other origins (Content-Security-Policy).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from collections.abc import Awaitable, Callable

from aiohttp import web

from monitor.status.page import StatusView, render, render_login

COOKIE = "monitor_status"
HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def session_value(token: str) -> str:
    """What the sign-in cookie holds for `token`."""
    return hmac.new(token.encode(), b"monitor status page", hashlib.sha256).hexdigest()


def signed_in(request: web.Request, token: str | None) -> bool:
    """Whether the request may see the page."""
    if token is None:
        return True
    bearer = request.headers.get("Authorization", "")
    if hmac.compare_digest(bearer.encode(), f"Bearer {token}".encode()):
        return True
    cookie = request.cookies.get(COOKIE, "")
    return hmac.compare_digest(cookie.encode(), session_value(token).encode())


def add_status_routes(
    app: web.Application, view: Callable[[], Awaitable[StatusView]], token: str | None
) -> None:
    """Serve the status page on `app` (see the module docstring)."""

    def html(text: str, status: int = 200) -> web.Response:
        return web.Response(
            text=text, status=status, content_type="text/html", charset="utf-8", headers=HEADERS
        )

    async def page(request: web.Request) -> web.Response:
        if not signed_in(request, token):
            return html(render_login(wrong=False), status=401)
        shown = await view()
        return html(await asyncio.to_thread(render, shown))  # off the loop: it can be large

    async def login(request: web.Request) -> web.Response:
        if token is None:
            raise web.HTTPSeeOther("/")
        form = await request.post()
        given = form.get("token")
        if not isinstance(given, str) or not hmac.compare_digest(given.encode(), token.encode()):
            return html(render_login(wrong=True), status=401)
        answer = web.HTTPSeeOther("/", headers=HEADERS)
        answer.set_cookie(COOKIE, session_value(token), httponly=True, samesite="Strict", path="/")
        raise answer

    app.router.add_get("/", page)
    app.router.add_post("/login", login)
