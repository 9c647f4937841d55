"""The HTTP listener: /metrics (Prometheus), /healthz (alive), /readyz (ready to work), and
POST /-/reload. The status page (`GET /`, `POST /login`) is added by `monitor.status.routes`.

A request that changes state must say so in a way a web page cannot forge from another origin:
a JSON body (`Content-Type: application/json`) or the `X-Monitor-Request` header, either of
which a browser only sends cross-site after a CORS preflight this listener never grants. With
`http: {token: ...}` it must also carry `Authorization: Bearer <token>`.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from monitor.metrics import Metrics

Readiness = Callable[[], tuple[bool, dict[str, Any]]]
Reload = Callable[[str], Awaitable[tuple[bool, dict[str, Any]]]]


CUSTOM_HEADER = "X-Monitor-Request"


def refusal(request: web.Request, token: str | None) -> web.Response | None:
    """Why a state-changing request is refused (401, 403), or None when it may go on."""
    if token is not None:
        given = request.headers.get("Authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
            return web.json_response(
                {"error": "this endpoint needs Authorization: Bearer <http.token>"},
                status=401,
                headers={"WWW-Authenticate": 'Bearer realm="monitor"'},
            )
    if request.content_type != "application/json" and CUSTOM_HEADER not in request.headers:
        return web.json_response(
            {"error": f"send a JSON body (Content-Type: application/json) or {CUSTOM_HEADER}"},
            status=403,
        )
    return None


def make_app(
    metrics: Metrics,
    readiness: Readiness,
    reload: Reload | None = None,
    *,
    token: str | None = None,
) -> web.Application:
    """Build the app; `readiness` returns (ready, detail); `reload` serves POST /-/reload,
    which `token`, when given, guards."""

    async def metrics_handler(_: web.Request) -> web.Response:
        body = generate_latest(metrics.registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def health(_: web.Request) -> web.Response:
        return web.json_response({"status": "alive"})

    async def ready(_: web.Request) -> web.Response:
        ok, detail = readiness()
        return web.json_response({"ready": ok, **detail}, status=200 if ok else 503)

    app = web.Application()
    if reload is not None:
        do_reload = reload

        async def reload_handler(request: web.Request) -> web.Response:
            refused = refusal(request, token)
            if refused is not None:
                return refused
            ok, detail = await do_reload("POST /-/reload")
            return web.json_response({"reloaded": ok, **detail}, status=200 if ok else 422)

        app.router.add_post("/-/reload", reload_handler)
    app.router.add_get("/metrics", metrics_handler)
    app.router.add_get("/healthz", health)
    app.router.add_get("/readyz", ready)
    return app


async def start_web(app: web.Application, host: str, port: int) -> web.AppRunner:
    """Serve the app; the caller cleans the runner up."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    try:
        await site.start()
    except OSError:
        await runner.cleanup()
        raise
    return runner
