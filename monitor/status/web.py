"""The HTTP listener: /metrics (Prometheus), /healthz (alive), /readyz (ready to work), and
POST /-/reload. The status page (`GET /`, `POST /login`) is added by `monitor.status.routes`.

A request that changes state must say so in a way a web page cannot forge from another origin:
a JSON body (`Content-Type: application/json`) or the `X-Monitor-Request` header, either of
which a browser only sends cross-site after a CORS preflight this listener never grants. With
`http: {token: ...}` it must also carry `Authorization: Bearer <token>`.

Every request passes the `Host` check first (`monitor.status.guard`: 421 for a name the listener
does not serve); wrong tokens are throttled per address (429). With `http.protect_metrics` /metrics
and /readyz need the token too (Bearer, or the status page's cookie); /healthz is always open.
"""

from __future__ import annotations

import errno
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from monitor.kernel.metrics import Metrics
from monitor.status.guard import HostCheck, SignInThrottle, admit, host_middleware, wait_message

Readiness = Callable[[], tuple[bool, dict[str, Any]]]
Reload = Callable[[str], Awaitable[tuple[bool, dict[str, Any]]]]


CUSTOM_HEADER = "X-Monitor-Request"


def refusal(
    request: web.Request, token: str | None, throttle: SignInThrottle
) -> web.Response | None:
    """Why a state-changing request is refused (401, 403, 429), or None when it may go on."""
    unauthorized = token_refusal(request, token, throttle, cookie=False)
    if unauthorized is not None:
        return unauthorized
    if request.content_type != "application/json" and CUSTOM_HEADER not in request.headers:
        return web.json_response(
            {"error": f"send a JSON body (Content-Type: application/json) or {CUSTOM_HEADER}"},
            status=403,
        )
    return None


def token_refusal(
    request: web.Request, token: str | None, throttle: SignInThrottle, *, cookie: bool
) -> web.Response | None:
    """401 without the token, 429 while the address waits after wrong ones; None with it."""
    admission = admit(request, token, throttle, cookie=cookie)
    if admission.ok:
        return None
    if admission.wait_s:
        return web.json_response(
            {"error": wait_message(admission)},
            status=429,
            headers={"Retry-After": admission.retry_after},
        )
    return web.json_response(
        {"error": "this endpoint needs Authorization: Bearer <http.token>"},
        status=401,
        headers={"WWW-Authenticate": 'Bearer realm="monitor"'},
    )


def make_app(
    metrics: Metrics,
    readiness: Readiness,
    reload: Reload | None = None,
    *,
    token: str | None = None,
    listen_host: str = "127.0.0.1",
    allowed_hosts: Sequence[str] = (),
    protect_metrics: bool = False,
    throttle: SignInThrottle | None = None,
) -> web.Application:
    """Build the app; `readiness` returns (ready, detail); `reload` serves POST /-/reload,
    which `token`, when given, guards (and /metrics and /readyz with `protect_metrics`).
    `throttle` counts wrong tokens; pass the status page's so both count together."""
    guard = throttle if throttle is not None else SignInThrottle(metrics)
    for reason in ("host", "token", "throttled"):
        metrics.http_refused.labels(reason)
    scrape_token = token if protect_metrics else None

    async def metrics_handler(request: web.Request) -> web.Response:
        refused = token_refusal(request, scrape_token, guard, cookie=True)
        if refused is not None:
            return refused
        body = generate_latest(metrics.registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def health(_: web.Request) -> web.Response:
        return web.json_response({"status": "alive"})

    async def ready(request: web.Request) -> web.Response:
        refused = token_refusal(request, scrape_token, guard, cookie=True)
        if refused is not None:
            return refused
        ok, detail = readiness()
        return web.json_response({"ready": ok, **detail}, status=200 if ok else 503)

    check = HostCheck(allowed_hosts, listen_host)
    app = web.Application(middlewares=[host_middleware(check, metrics)])
    if reload is not None:
        do_reload = reload

        async def reload_handler(request: web.Request) -> web.Response:
            refused = refusal(request, token, guard)
            if refused is not None:
                return refused
            ok, detail = await do_reload("POST /-/reload")
            return web.json_response({"reloaded": ok, **detail}, status=200 if ok else 422)

        app.router.add_post("/-/reload", reload_handler)
    app.router.add_get("/metrics", metrics_handler)
    app.router.add_get("/healthz", health)
    app.router.add_get("/readyz", ready)
    return app


class AddressInUse(OSError):
    """The listen address is taken: said with what to do, not as the socket's errno text."""

    def __init__(self, host: str, port: int) -> None:
        where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        super().__init__(
            errno.EADDRINUSE,
            f"{where} is already in use (another monitor running?) — "
            "set http.listen in monitor.yaml to another port",
        )

    def __str__(self) -> str:
        return str(self.strerror)


def status_page_line(host: str, port: int, token: str | None) -> dict[str, str]:
    """The `status_page` event's fields: the page's `url` (a wildcard listen address as this
    machine's loopback, which a browser can open) and the sentence a terminal shows."""
    shown = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)  # noqa: S104
    url = f"http://[{shown}]:{port}/" if ":" in shown else f"http://{shown}:{port}/"
    asks = " (it asks for http.token)" if token else ""
    return {"url": url, "message": f"status page at {url}{asks}; Ctrl-C to stop"}


async def start_web(app: web.Application, host: str, port: int) -> web.AppRunner:
    """Serve the app; the caller cleans the runner up. Raise AddressInUse when the address is
    taken (an always-on service whose /healthz is gone is worse than one that does not start)."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    try:
        await site.start()
    except OSError as exc:
        await runner.cleanup()
        if exc.errno == errno.EADDRINUSE:
            raise AddressInUse(host, port) from exc
        raise
    return runner
