"""The HTTP listener: /metrics (Prometheus), /healthz (alive), /readyz (ready to work)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from monitor.metrics import Metrics

Readiness = Callable[[], tuple[bool, dict[str, Any]]]
Reload = Callable[[str], Awaitable[tuple[bool, dict[str, Any]]]]


def make_app(
    metrics: Metrics, readiness: Readiness, reload: Reload | None = None
) -> web.Application:
    """Build the app; `readiness` returns (ready, detail); `reload` serves POST /-/reload."""

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

        async def reload_handler(_: web.Request) -> web.Response:
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
