"""The HTTP listener of a running service (a subprocess) against a DNS-rebinding page, a token
guesser and a scraper without the token, and listening beyond loopback with no token: refused,
throttled, warned about; the service stays up and keeps alerting."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp

from tests.hostile.test_hostile_service import Hostile
from tests.support.processes import eventually, webhook_service, write_rules
from tests.support.servers import FeedServer, Receiver, free_port, rss, serve

TOKEN = "listener-test-token-0123456789"  # noqa: S105 - a test token
FEED_KEY = "feed-api-key-4f1c9e"  # a secret in a feed's URL, as paid feeds have
WATCHES = "rules:\n  - {id: word, match: {any: [alpha]}}\n"


@asynccontextmanager
async def running(
    tmp_path: Path, http: str = "", env: dict[str, str] | None = None, *, everywhere: bool = False
) -> AsyncIterator[Hostile]:
    """The service polling one good feed (its URL carrying FEED_KEY), with more `http` keys,
    listening on 127.0.0.1 (or, `everywhere`, on 0.0.0.0), ready."""
    feeds, receiver = FeedServer(), Receiver()
    async with serve(feeds.app()) as feed_base, serve(receiver.app()) as hook_base:
        feeds.base, receiver.base = feed_base, hook_base
        feeds.feeds["good"] = rss("Alpha item")
        write_rules(tmp_path, {"good": feeds.url(f"/feeds/good?key={FEED_KEY}")}, WATCHES)
        monitor = webhook_service(
            tmp_path, receiver.url("/hook"), free_port(), http=http, env=env or {}
        )
        if everywhere:
            monitor.config.write_text(
                monitor.config.read_text().replace('"127.0.0.1:', '"0.0.0.0:')
            )
        rig = Hostile(tmp_path, feeds, receiver, monitor)
        try:
            await monitor.start()
            token = TOKEN if "protect_metrics" in http else None
            await eventually(
                bearer_ready(rig, token), 20, describe=lambda: monitor.stderr()[-2000:]
            )
            yield rig
        finally:
            await monitor.kill()


async def ask(
    url: str, method: str = "GET", *, local: str | None = None, **kwargs: object
) -> tuple[int, str, dict[str, str]]:
    """One request: (status, body, headers); `local`: the client's source address."""
    connector = aiohttp.TCPConnector(local_addr=(local, 0) if local else None)
    async with (
        aiohttp.ClientSession(connector=connector) as s,
        s.request(method, url, allow_redirects=False, **kwargs) as resp,  # type: ignore[arg-type]
    ):
        return resp.status, await resp.text(), dict(resp.headers)


async def test_a_dns_rebinding_page_reads_no_feed_url_and_cannot_reload(tmp_path: Path) -> None:
    """The browser of a page rebound to 127.0.0.1 sends its own name as Host: GET / and
    POST /-/reload (JSON, as a same-origin script may send) are refused, nothing leaks, no
    reload runs; by localhost the page shows the feed (so a leak would have been seen)."""
    async with running(tmp_path) as rig:
        base = rig.monitor.http
        evil = {"Host": "evil.example:80"}
        status, body, _ = await ask(base + "/", headers=evil)
        assert 421 == status
        assert FEED_KEY not in body
        assert "http.allowed_hosts" in body
        status, body, _ = await ask(base + "/-/reload", "POST", json={}, headers=evil)
        assert 421 == status
        assert "reloaded" not in body
        await asyncio.sleep(0.2)
        assert 0 == await rig.monitor.metric_sum("monitor_rules_reload_total")
        status, body, _ = await ask(base + "/", headers={"Host": "localhost"})
        assert (200, True) == (status, FEED_KEY in body)
        assert 'id="exposed"' not in body  # on loopback: nothing to warn about
        assert 2 == await rig.monitor.metric("monitor_http_refused_total", {"reason": "host"})
        await rig.until_alerted("word", "Alpha item")
        await rig.assert_healthy()
        assert "listener_unprotected" not in rig.monitor.stderr()
        assert "http_host_refused" in rig.monitor.stderr()


async def test_a_burst_of_wrong_sign_ins_is_throttled(tmp_path: Path) -> None:
    """100 wrong tokens typed into the sign-in form in a loop: all but a few are answered 429
    without being checked. Another address signs in at once; this one after Retry-After."""
    async with running(tmp_path, ', token: "${MONITOR_TOKEN}"', {"MONITOR_TOKEN": TOKEN}) as rig:
        login = rig.monitor.http + "/login"
        answers = []
        for i in range(100):
            status, body, headers = await ask(login, "POST", data={"token": f"guess-{i:04}"})
            answers.append(status)
        assert answers.count(429) >= 90, answers
        assert {401, 429} == set(answers)
        assert int(headers["Retry-After"]) >= 1
        assert "too many wrong tokens" in body
        status, _, _ = await ask(login, "POST", data={"token": TOKEN})
        assert 429 == status  # not even checked while this address waits
        status, _, signed = await ask(login, "POST", local="127.0.0.2", data={"token": TOKEN})
        assert (303, True) == (status, "monitor_status=" in signed.get("Set-Cookie", ""))
        await asyncio.sleep(int(headers["Retry-After"]) + 0.2)
        status, _, signed = await ask(login, "POST", data={"token": TOKEN})
        assert (303, True) == (status, "monitor_status=" in signed.get("Set-Cookie", ""))
        await rig.assert_healthy()
        assert TOKEN not in rig.monitor.stderr()
        assert rig.monitor.stderr().count("signin_throttled") == 1


async def test_protect_metrics_keeps_metrics_and_readyz_behind_the_token(tmp_path: Path) -> None:
    """With http.protect_metrics: /metrics and /readyz answer 401 without the token and a
    wrong one, and serve it with the token; /healthz stays open for liveness probes."""
    async with running(
        tmp_path, ', token: "${MONITOR_TOKEN}", protect_metrics: true', {"MONITOR_TOKEN": TOKEN}
    ) as rig:
        base = rig.monitor.http
        for path in ("/metrics", "/readyz"):
            status, body, _ = await ask(base + path)
            assert 401 == status, path
            assert "monitor_polls_total" not in body
            assert "feeds_failing" not in body
            wrong = {"Authorization": "Bearer not-the-token-0123456789"}
            assert 401 == (await ask(base + path, headers=wrong))[0]
            bearer = {"Authorization": f"Bearer {TOKEN}"}
            assert 200 == (await ask(base + path, headers=bearer))[0]
        assert 200 == (await ask(base + "/healthz"))[0]
        await rig.assert_healthy()


async def test_listening_everywhere_without_a_token_is_warned_on_start_and_on_the_page(
    tmp_path: Path,
) -> None:
    """`http.listen: 0.0.0.0:P` with no token: a `listener_unprotected` warning at start that
    says what is exposed and how to fix it, and the same as a banner on the status page."""
    async with running(tmp_path, everywhere=True) as rig:
        log = rig.monitor.stderr()
        assert "listener_unprotected" in log
        assert "http.token" in log
        assert "on 0.0.0.0:" in log
        status, body, _ = await ask(rig.monitor.http + "/")
        assert 200 == status
        assert 'id="exposed"' in body
        assert "http.token" in body.split('id="exposed"', 1)[1].split("</p>", 1)[0]
        await rig.assert_healthy()


def bearer_ready(rig: Hostile, token: str | None) -> Callable[[], Awaitable[bool]]:
    """A readiness check that sends the token when /readyz needs it."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}

    async def ready() -> bool:
        try:
            return 200 == (await ask(rig.monitor.http + "/readyz", headers=headers))[0]
        except aiohttp.ClientError:
            return False

    return ready
