"""`GET /` (the status page) and `POST /login` on the HTTP listener.

Without `http.token` the page is open, as /metrics is. With it, a request needs the token: as
`Authorization: Bearer <token>`, or the cookie `POST /login` sets once the token is typed into
its form. The cookie holds an HMAC of the token, not the token, so changing the token signs
every browser out; it is HttpOnly and SameSite=Strict. Every answer forbids scripts, framing and
forms to other origins (Content-Security-Policy). Wrong tokens are throttled per address
(`monitor.status.guard`): 429 with `Retry-After` while the address waits.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from aiohttp import web

from monitor.kernel.metrics import make_metrics
from monitor.status.guard import (
    COOKIE,
    Admission,
    SignInThrottle,
    admit,
    session_value,
    wait_message,
)
from monitor.status.page import ConsoleView, StatusView, render, render_login

__all__ = ["COOKIE", "EXTRAS", "add_status_routes", "session_value"]

# The console's part of the page (`monitor.status.console` puts it on the app when it serves)
Extras = Callable[[web.Request], Awaitable[ConsoleView]]
EXTRAS: web.AppKey[Extras] = web.AppKey("console_extras")

HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    # no referrer to other sites; same-origin (not no-referrer) so a browser sends the page's
    # own forms with their real Origin, not "null", which the console refuses (consent.py)
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def add_status_routes(
    app: web.Application,
    view: Callable[[], Awaitable[StatusView]],
    token: str | None,
    throttle: SignInThrottle | None = None,
) -> None:
    """Serve the status page on `app` (see the module docstring); `throttle` counts wrong
    tokens (the listener's, so the page and POST /-/reload count together)."""
    guard = throttle if throttle is not None else SignInThrottle(make_metrics())

    def html(text: str, status: int = 200, more: dict[str, str] | None = None) -> web.Response:
        return web.Response(
            text=text,
            status=status,
            content_type="text/html",
            charset="utf-8",
            headers={**HEADERS, **(more or {})},
        )

    def refused(admission: Admission, *, wrong: bool) -> web.Response:
        if admission.wait_s:
            return html(
                render_login(wrong=False, wait=wait_message(admission)),
                status=429,
                more={"Retry-After": admission.retry_after},
            )
        return html(render_login(wrong=wrong), status=401)

    async def page(request: web.Request) -> web.Response:
        admission = admit(request, token, guard, cookie=True)
        if not admission.ok:
            return refused(admission, wrong="Authorization" in request.headers)
        shown = await view()
        extras = request.app.get(EXTRAS)
        console = await extras(request) if extras is not None else None
        return html(
            await asyncio.to_thread(render, shown, console)
        )  # off the loop: it can be large

    async def login(request: web.Request) -> web.Response:
        if token is None:
            raise web.HTTPSeeOther("/")
        form = await request.post()
        given = form.get("token")
        admission = admit(request, token, guard, given=given if isinstance(given, str) else "")
        if not admission.ok:
            return refused(admission, wrong=True)
        answer = web.HTTPSeeOther("/", headers=HEADERS)
        answer.set_cookie(COOKIE, session_value(token), httponly=True, samesite="Strict", path="/")
        raise answer

    app.router.add_get("/", page)
    app.router.add_post("/login", login)
