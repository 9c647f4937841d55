"""The SSRF scenario, run inside a network namespace that has only loopback: `unshare -n -m --
python -m tests.hostile.ssrf_namespace DIR` (as root). Prints one JSON report on stdout for
`tests/hostile/test_ssrf.py` to judge.

Inside: `lo` is up and carries a "public" address (93.184.216.34, a real public address that
exists only in this namespace, so nothing leaves the machine), a private one (10.0.0.5) and the
cloud metadata address (169.254.169.254); /etc/hosts (bind-mounted) names `internal.example`
127.0.0.1. A public feed with `fulltext: true` links its items to a secret page on every
internal address, in every spelling; the service runs as a subprocess with a webhook channel.
Then the user-run commands are pointed at the same traps.

`... ssrf_namespace --origin DIR` runs instead the split-answer attack on the origin's verdict,
in process: /etc/hosts names `evil.example` the public address, where the feed is served, while
the lookup `monitor.feeds.client` makes of it (its `resolve`, replaced here: a 0-TTL record that
answers 10.0.0.5 to some lookups) says 10.0.0.5. The feed is fetched, then its item on 10.0.0.5
is asked for as the poller's full text asks (the check, robots.txt, the page), and a feed URL
that redirects to 10.0.0.5 is fetched.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import structlog
from aiohttp import web

PUBLIC = "93.184.216.34"
PUB = f"http://{PUBLIC}:8080"
MARK = "MARK-7f3a9c-INTERNAL"
SECRET_PORT = 8081
BOUNCE_PORT = 8082  # on 10.0.0.5: redirects to the public feed
ITEMS = {  # title -> link
    "alpha loopback": f"http://127.0.0.1:{SECRET_PORT}/secret/1",
    "alpha localhost": f"http://localhost:{SECRET_PORT}/secret/2",
    "alpha hosts-name": f"http://internal.example:{SECRET_PORT}/secret/3",
    "alpha mapped": f"http://[::ffff:127.0.0.1]:{SECRET_PORT}/secret/4",
    "alpha ipv6": f"http://[::1]:{SECRET_PORT}/secret/5",
    "alpha hex": f"http://0x7f.1:{SECRET_PORT}/secret/6",
    "alpha decimal": f"http://2130706433:{SECRET_PORT}/secret/7",
    "alpha private": f"http://10.0.0.5:{SECRET_PORT}/secret/8",
    "alpha metadata": "http://169.254.169.254/latest/meta-data/",
    "alpha redirect": f"{PUB}/go?to=http://127.0.0.1:{SECRET_PORT}/secret/10",
    "alpha good": f"{PUB}/article/good",
}
GOOD_TEXT = "alpha good article. " + "A public page says what public pages say. " * 30


def sh(*args: str) -> None:
    subprocess.run([shutil.which(args[0]) or args[0], *args[1:]], check=True, capture_output=True)


def network(tmp: Path) -> None:
    sh("ip", "link", "set", "lo", "up")
    for address in (f"{PUBLIC}/32", "10.0.0.5/32", "169.254.169.254/32"):
        sh("ip", "addr", "add", address, "dev", "lo")
    hosts = tmp / "hosts"
    hosts.write_text(
        f"127.0.0.1 localhost internal.example\n::1 localhost\n{PUBLIC} evil.example\n"
    )
    sh("mount", "--bind", str(hosts), "/etc/hosts")


def rss(items: dict[str, str]) -> str:
    body = "".join(
        f"<item><title>{t}</title><guid>{t}</guid><link>{u.replace('&', '&amp;')}</link>"
        f"<description>{t} from the feed</description></item>"
        for t, u in items.items()
    )
    return (
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>pub</title>{body}</channel></rss>'
    )


def public_app() -> web.Application:
    async def feed(_: web.Request) -> web.Response:
        return web.Response(text=rss(ITEMS), content_type="application/rss+xml")

    async def good(_: web.Request) -> web.Response:
        html = f"<html><head><title>good</title></head><body><article><p>{GOOD_TEXT}</p></article></body></html>"
        return web.Response(text=html, content_type="text/html")

    async def go(request: web.Request) -> web.Response:
        raise web.HTTPFound(request.query["to"])

    async def page(_: web.Request) -> web.Response:
        link = f'<link rel="alternate" type="application/rss+xml" href="http://127.0.0.1:{SECRET_PORT}/feed">'
        return web.Response(
            text=f"<html><head>{link}</head><body>hi</body></html>", content_type="text/html"
        )

    async def robots(_: web.Request) -> web.Response:
        return web.Response(status=404)

    app = web.Application()
    app.router.add_get("/feeds/pub", feed)
    app.router.add_get("/article/good", good)
    app.router.add_get("/go", go)
    app.router.add_get("/page", page)
    app.router.add_get("/robots.txt", robots)
    return app


def secret_app(asked: list[str], where: str) -> web.Application:
    async def anything(request: web.Request) -> web.Response:
        asked.append(f"{where} {request.path_qs}")
        if request.path == "/robots.txt":
            return web.Response(status=404)
        if request.path == "/feed":
            return web.Response(text=rss({MARK: "http://x/"}), content_type="application/rss+xml")
        html = (
            f"<html><body><article><p>{MARK} "
            + "internal words " * 60
            + "</p></article></body></html>"
        )
        return web.Response(text=html, content_type="text/html")

    app = web.Application()
    app.router.add_get("/{tail:.*}", anything)
    return app


def bounce_app() -> web.Application:
    """An internal server that sends every request on to the public feed (`return 301
    https://$host$request_uri` is common): the feed's first hop is internal, its body public."""

    async def bounce(_: web.Request) -> web.Response:
        raise web.HTTPMovedPermanently("http://evil.example:8080/feeds/pub")

    app = web.Application()
    app.router.add_get("/{tail:.*}", bounce)
    return app


async def serve(app: web.Application, host: str, port: int) -> web.AppRunner:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner


def monitor(*args: str, cwd: Path) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "monitor", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=60,
    )
    return {"code": done.returncode, "out": done.stdout, "err": done.stderr}


async def metric(name: str) -> float:
    import aiohttp

    async with aiohttp.ClientSession() as s, s.get("http://127.0.0.1:8083/metrics") as resp:
        text = await resp.text()
    return sum(float(ln.rsplit(" ", 1)[1]) for ln in text.splitlines() if ln.startswith(name))


async def scenario(tmp: Path) -> dict[str, Any]:
    asked: list[str] = []
    hooks: list[str] = []

    every_item = asyncio.Event()

    async def hook(request: web.Request) -> web.Response:
        hooks.append((await request.read()).decode("utf-8", "replace"))
        if len(hooks) >= len(ITEMS):
            every_item.set()
        return web.Response(text="ok")

    hook_app = web.Application()
    hook_app.router.add_post("/hook", hook)
    runners = [
        await serve(public_app(), PUBLIC, 8080),
        await serve(hook_app, "127.0.0.1", 8082),
        await serve(secret_app(asked, "metadata"), "169.254.169.254", 80),
    ]
    for host in ("127.0.0.1", "::1", "10.0.0.5"):
        runners.append(await serve(secret_app(asked, host), host, SECRET_PORT))

    rules = tmp / "rules"
    (rules / "entities").mkdir(parents=True)
    (rules / "feeds.yaml").write_text(
        f'feeds:\n  - {{id: pub, url: "{PUB}/feeds/pub", interval: 1s, fulltext: true}}\n'
    )
    (rules / "watches.yaml").write_text("rules:\n  - {id: word, match: {any: [alpha]}}\n")
    (tmp / "monitor.yaml").write_text(
        "rules_dir: rules\nstate_dir: state\npoller: {host_delay: 0s, timeout: 5s, max_age: 3650d}\n"
        'http: {listen: "127.0.0.1:8083"}\ndefaults: {notify: [hook]}\n'
        'channels:\n  hook: {kind: webhook, url: "http://127.0.0.1:8082/hook"}\n'
    )
    logs = (tmp / "service.log").open("wb")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "monitor", "run", "--config", str(tmp / "monitor.yaml"),
        stdout=logs, stderr=logs, cwd=tmp,
    )  # fmt: skip
    with contextlib.suppress(TimeoutError):  # judged by the test: fewer alerts than items
        await asyncio.wait_for(every_item.wait(), 60)
    await asyncio.sleep(2)  # room for anything late
    report: dict[str, Any] = {
        "hooks": hooks,
        "alive": proc.returncode is None,
        "refused": await metric('monitor_fulltext_total{result="refused"}'),
        "fetched": await metric('monitor_fulltext_total{result="fetched"}'),
    }
    proc.terminate()
    await proc.wait()
    state = b"".join(p.read_bytes() for p in (tmp / "state").rglob("*") if p.is_file())
    report["state_has_secret"] = MARK.encode() in state
    report["state_has_good"] = b"public pages say" in state
    # The tail, long enough to hold the refusals past the poll rounds' lines.
    report["log"] = (tmp / "service.log").read_text(errors="replace")[-20000:]

    cli = tmp / "cli"
    (cli / "rules" / "entities").mkdir(parents=True)
    (cli / "rules" / "feeds.yaml").write_text("feeds: []\n")
    (cli / "rules" / "watches.yaml").write_text("rules:\n  - {id: word, match: {any: [alpha]}}\n")
    (cli / "monitor.yaml").write_text("rules_dir: rules\nstate_dir: state\n")
    redirect = f"{PUB}/go?to=http://internal.example:{SECRET_PORT}/secret/cli"
    before = len(asked)
    commands = {
        "extract_redirect": ("extract", "--json", redirect),
        "extract_metadata": ("extract", "--json", "--allow-private", "http://169.254.169.254/x"),
        "feeds_add": ("feeds", "add", f"{PUB}/page", "--config", "monitor.yaml"),
        "feeds_test": ("feeds", "test", redirect, "--config", "monitor.yaml"),
    }
    report["cli"] = {
        name: await asyncio.to_thread(monitor, *args, cwd=cli) for name, args in commands.items()
    }
    report["cli"]["feeds_yaml"] = (cli / "rules" / "feeds.yaml").read_text()
    report["cli_asked"] = asked[before:]
    report["asked"] = asked[:before]
    allowed = await asyncio.to_thread(
        monitor, "extract", "--json", "--allow-private", redirect, cwd=cli
    )
    report["cli"]["extract_allowed"] = allowed
    for runner in runners:
        await runner.cleanup()
    return report


async def origin_scenario() -> dict[str, Any]:
    """The split-answer attack on the origin's verdict (module docstring): what each step gave
    and what the internal server was asked."""
    from yarl import URL

    from monitor.feeds import client as client_module
    from monitor.feeds.addresses import Address, addresses
    from monitor.feeds.client import Client
    from monitor.feeds.guard import guarded_session, resolve
    from monitor.feeds.robots import Robots
    from monitor.feeds.settings import PollerConfig
    from monitor.kernel.errors import FeedFetchError

    async def lying(host: str, port: int | None) -> list[Address]:
        return addresses(["10.0.0.5"]) if host == "evil.example" else await resolve(host, port)

    client_module.resolve = lying  # type: ignore[attr-defined]
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(sys.stderr))  # stdout: JSON
    asked: list[str] = []
    runners = [
        await serve(public_app(), PUBLIC, 8080),
        await serve(secret_app(asked, "10.0.0.5"), "10.0.0.5", SECRET_PORT),
        await serve(bounce_app(), "10.0.0.5", BOUNCE_PORT),
    ]
    feed = "http://evil.example:8080/feeds/pub"
    secret = f"http://10.0.0.5:{SECRET_PORT}/secret/8"
    report: dict[str, Any] = {}

    async def outcome(step: Any) -> str:
        try:
            got = await step
        except FeedFetchError as exc:
            return f"refused: {exc}"
        return repr(got.body if hasattr(got, "body") else got)

    config = PollerConfig(timeout_s=5.0, host_delay_s=0.0)
    async with guarded_session() as session:
        client = Client(session, config)
        fetched = await client.get(feed, {})
        report["feed_peer"] = getattr(fetched, "peer", None)  # None before the fix
        report["check"] = await outcome(client.check(secret, await client.guard(URL(feed))))
        report["robots"] = await Robots(client, "monitor").allowed(secret, feed)
        report["page"] = await outcome(client.get(secret, {}, origin=feed))
        report["redirect"] = await outcome(
            Client(session, config).get(f"http://evil.example:8080/go?to={secret}", {})
        )
        # A feed whose first hop is internal but whose body came from the public server.
        bounced = Client(session, config)
        via = f"http://10.0.0.5:{BOUNCE_PORT}/feed"
        report["bounced_feed"] = await outcome(bounced.get(via, {}))
        report["bounced_page"] = await outcome(bounced.get(secret, {}, origin=via))
    report["asked"] = asked
    for runner in runners:
        await runner.cleanup()
    return report


def main() -> None:
    origin = sys.argv[1] == "--origin"
    tmp = Path(sys.argv[-1])
    network(tmp)
    os.environ.pop("http_proxy", None)
    os.environ.pop("HTTP_PROXY", None)
    print(json.dumps(asyncio.run(origin_scenario() if origin else scenario(tmp))))


if __name__ == "__main__":
    main()
