"""A feed's `headers:`, `user_agent:`, `auth:` and `proxy:`, against real servers on 127.0.0.1
that check what they receive: the feed's server, a second server a redirect leads to, and a
forward proxy."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from monitor.bus.local import LocalBus
from monitor.feeds.guard import guarded_session
from monitor.feeds.poller import Poller
from monitor.feeds.request import env_problems, resolve
from monitor.feeds.settings import PollerConfig
from monitor.feeds.spec import FeedSpec, parse_feed_file
from monitor.kernel.metrics import make_metrics
from monitor.kernel.yamlfile import read_yaml
from monitor.store.state import StateStore
from tests.conftest import SEED_FEED
from tests.support.servers import serve

CONFIG = PollerConfig(timeout_s=2.0, host_delay_s=0.0, max_age_s=3650 * 86400.0)


@dataclass
class Site:
    """Serves the seed feed at /feed and a redirect at /hop?to=URL; records what it got."""

    seen: list[tuple[str, dict[str, str]]] = field(default_factory=list)

    def app(self) -> web.Application:
        async def feed(request: web.Request) -> web.Response:
            self.seen.append((request.path, dict(request.headers)))
            return web.Response(body=SEED_FEED.read_bytes(), content_type="application/rss+xml")

        async def hop(request: web.Request) -> web.Response:
            self.seen.append((request.path, dict(request.headers)))
            raise web.HTTPFound(request.query["to"])

        app = web.Application()
        app.router.add_get("/feed", feed)
        app.router.add_get("/hop", hop)
        return app


@dataclass
class Proxy:
    """A forward HTTP proxy: records each request's target, then fetches it."""

    seen: list[tuple[str, dict[str, str]]] = field(default_factory=list)

    def app(self) -> web.Application:
        async def forward(request: web.Request) -> web.Response:
            target = f"http://{request.headers['Host']}{request.path_qs}"
            self.seen.append((target, dict(request.headers)))
            drop = {"host", "proxy-connection", "connection"}
            sent = {k: v for k, v in request.headers.items() if k.lower() not in drop}
            async with (
                aiohttp.ClientSession() as session,
                session.get(target, headers=sent, allow_redirects=False) as resp,
            ):
                body = await resp.read()
                kept = ("location", "content-type")
                keep = {k: v for k, v in resp.headers.items() if k.lower() in kept}
                return web.Response(status=resp.status, body=body, headers=keep)

        app = web.Application()
        app.router.add_route("GET", "/{tail:.*}", forward)
        return app


def feeds_of(tmp_path: Path, text: str) -> tuple[list[FeedSpec], list[str]]:
    path = tmp_path / "feeds.yaml"
    path.write_text(text)
    data, problems = read_yaml(path)
    assert problems == []
    feeds, found = parse_feed_file(str(path), data)
    return feeds, [f"{p.line}: {p.message}" for p in found]


@pytest.fixture
async def poller(tmp_path: Path) -> AsyncIterator[Poller]:
    async with (
        LocalBus(tmp_path / "bus.db") as bus,
        StateStore(tmp_path) as state,
        guarded_session() as session,
    ):
        environ = {"TOKEN": "tok-4f9a2c-secret", "KEY": "key-77aa", "PASS": "pw-93j1"}
        yield Poller(
            config=CONFIG,
            session=session,
            state=state,
            bus=bus,
            metrics=make_metrics(),
            environ=environ,
        )


async def test_headers_user_agent_and_bearer_reach_the_feed(tmp_path: Path, poller: Poller) -> None:
    site = Site()
    async with serve(site.app()) as base:
        feeds, problems = feeds_of(
            tmp_path,
            f"""feeds:
  - id: a
    url: {base}/feed
    headers: {{X-Api-Key: "${{KEY}}", X-Team: news}}
    user_agent: "NewsDesk/2 (+ops@example.org)"
    auth: {{bearer: "${{TOKEN}}"}}
""",
        )
        assert problems == []
        result = await poller.poll(feeds[0])
    assert result.result == "ok"
    ((_, headers),) = site.seen
    assert headers["X-Api-Key"] == "key-77aa"
    assert headers["X-Team"] == "news"
    assert headers["User-Agent"] == "NewsDesk/2 (+ops@example.org)"
    assert headers["Authorization"] == "Bearer tok-4f9a2c-secret"


async def test_basic_auth_reaches_the_feed(tmp_path: Path, poller: Poller) -> None:
    site = Site()
    async with serve(site.app()) as base:
        feeds, _ = feeds_of(
            tmp_path,
            f"""feeds:
  - id: a
    url: {base}/feed
    auth:
      basic: {{username: reader, password: "${{PASS}}"}}
""",
        )
        assert (await poller.poll(feeds[0])).result == "ok"
    expected = "Basic " + base64.b64encode(b"reader:pw-93j1").decode()
    assert site.seen[0][1]["Authorization"] == expected
    assert "monitor" in site.seen[0][1]["User-Agent"]  # no `user_agent:`: the poller's


async def test_credentials_do_not_follow_a_redirect_to_another_origin(
    tmp_path: Path, poller: Poller
) -> None:
    first, second = Site(), Site()
    async with serve(first.app()) as one, serve(second.app()) as two:
        feeds, _ = feeds_of(
            tmp_path,
            f"""feeds:
  - id: a
    url: {one}/hop?to={two}/feed
    headers: {{X-Api-Key: "${{KEY}}", X-Team: news}}
    auth: {{bearer: "${{TOKEN}}"}}
""",
        )
        assert (await poller.poll(feeds[0])).result == "ok"
    assert first.seen[0][1]["Authorization"] == "Bearer tok-4f9a2c-secret"
    ((_, arrived),) = second.seen
    assert "Authorization" not in arrived
    assert "X-Api-Key" not in arrived  # a header from ${VAR} is a credential too
    assert arrived["X-Team"] == "news"  # a plain one is not


async def test_credentials_follow_a_redirect_within_the_origin(
    tmp_path: Path, poller: Poller
) -> None:
    site = Site()
    async with serve(site.app()) as base:
        feeds, _ = feeds_of(
            tmp_path,
            f"""feeds:
  - id: a
    url: {base}/hop?to=/feed
    auth: {{bearer: "${{TOKEN}}"}}
""",
        )
        assert (await poller.poll(feeds[0])).result == "ok"
    assert [h["Authorization"] for _, h in site.seen] == ["Bearer tok-4f9a2c-secret"] * 2


async def test_a_feed_goes_through_its_proxy(tmp_path: Path, poller: Poller) -> None:
    site, proxy = Site(), Proxy()
    async with serve(site.app()) as base, serve(proxy.app()) as proxy_url:
        feeds, problems = feeds_of(
            tmp_path,
            f"""feeds:
  - id: a
    url: {base}/feed
    proxy: "{proxy_url}"
    auth: {{bearer: "${{TOKEN}}"}}
""",
        )
        assert problems == []
        assert (await poller.poll(feeds[0])).result == "ok"
    assert [target for target, _ in proxy.seen] == [f"{base}/feed"]
    assert site.seen[0][1]["Authorization"] == "Bearer tok-4f9a2c-secret"


async def test_through_a_proxy_a_redirect_to_the_metadata_address_is_refused(
    tmp_path: Path, poller: Poller
) -> None:
    site, proxy = Site(), Proxy()
    async with serve(site.app()) as base, serve(proxy.app()) as proxy_url:
        feeds, _ = feeds_of(
            tmp_path,
            f"""feeds:
  - id: a
    url: {base}/hop?to=http://169.254.169.254/latest/meta-data/
    proxy: "{proxy_url}"
""",
        )
        result = await poller.poll(feeds[0])
    assert result.result == "redirect_refused"
    assert [target.split("?")[0] for target, _ in proxy.seen] == [f"{base}/hop"]


def test_an_unset_variable_is_a_problem_at_its_line(tmp_path: Path) -> None:
    feeds, problems = feeds_of(
        tmp_path,
        """feeds:
  - id: a
    url: https://example.org/rss
    headers:
      X-Api-Key: "${NEWS_KEY}"
    auth: {bearer: "${NEWS_TOKEN}"}
""",
    )
    assert problems == []  # reading the file needs no secret
    found = [f"{p.line}: {p.message}" for p in env_problems(feeds, {"NEWS_KEY": "k" * 8})]
    assert found == [
        "6: environment variable NEWS_TOKEN is not set: set it in the environment or in "
        "secrets.env beside monitor.yaml"
    ]


def test_a_header_named_twice_or_set_by_monitor_is_a_problem(tmp_path: Path) -> None:
    _, problems = feeds_of(
        tmp_path,
        """feeds:
  - id: a
    url: https://example.org/rss
    headers:
      Authorization: "Bearer x"
      content-length: "3"
      X-A: "1"
      x-a: "2"
""",
    )
    assert problems == [
        "5: header Authorization is set by monitor; use the feed's `auth:`",
        "6: header content-length is set by monitor",
        "8: header x-a is given twice",
    ]


def test_resolve_keeps_plain_headers_apart_from_credentials(tmp_path: Path) -> None:
    feeds, _ = feeds_of(
        tmp_path,
        """feeds:
  - id: a
    url: https://example.org/rss
    headers: {X-Key: "k=${K}", X-Plain: plain}
    proxy: "http://user:${P}@127.0.0.1:3128"
""",
    )
    sends = resolve(feeds[0].request, {"K": "abcd1234", "P": "pp-secret"})
    assert sends.headers == {"X-Plain": "plain"}
    assert sends.credentials == {"X-Key": "k=abcd1234"}
    assert sends.proxy == "http://user:pp-secret@127.0.0.1:3128"
    assert set(sends.secrets) == {"abcd1234", "http://user:pp-secret@127.0.0.1:3128", "pp-secret"}


def article_site(seen: list[tuple[str, dict[str, str]]]) -> web.Application:
    """A feed at /feed whose one item's page is /article, and a robots.txt; records requests."""

    async def any_path(request: web.Request) -> web.Response:
        seen.append((request.path, dict(request.headers)))
        base = f"http://{request.headers['Host']}"
        if request.path == "/feed":
            rss = (
                '<?xml version="1.0"?><rss version="2.0"><channel><title>T</title>'
                f"<item><title>A story</title><link>{base}/article</link><guid>g1</guid>"
                "</item></channel></rss>"
            )
            return web.Response(text=rss, content_type="application/rss+xml")
        if request.path == "/robots.txt":
            return web.Response(text="User-agent: *\nAllow: /\n", content_type="text/plain")
        words = " ".join(["The whole article text, read from its page."] * 30)
        html = f"<html><head><title>A story</title></head><body><article><p>{words}</p>"
        return web.Response(text=html + "</article></body></html>", content_type="text/html")

    app = web.Application()
    app.router.add_get("/{tail:.*}", any_path)
    return app


async def test_a_feeds_pages_and_robots_go_through_its_proxy_without_its_credentials(
    tmp_path: Path, poller: Poller
) -> None:
    """`fulltext: true` behind a `proxy:`: the page and its robots.txt go through the proxy too
    (they went direct), and neither carries the feed's auth or custom headers."""
    seen: list[tuple[str, dict[str, str]]] = []
    proxy = Proxy()
    async with serve(article_site(seen)) as base, serve(proxy.app()) as proxy_url:
        feeds, problems = feeds_of(
            tmp_path,
            f"""feeds:
  - id: a
    url: {base}/feed
    fulltext: true
    proxy: "{proxy_url}"
    headers: {{X-Api-Key: "${{KEY}}", X-Team: news}}
    auth: {{bearer: "${{TOKEN}}"}}
""",
        )
        assert problems == []
        result = await poller.poll(feeds[0])
        poller.fulltext.close()
    assert result.result == "ok"
    targets = [target for target, _ in proxy.seen]
    assert targets == [f"{base}/feed", f"{base}/robots.txt", f"{base}/article"]
    assert [path for path, _ in seen] == ["/feed", "/robots.txt", "/article"]
    for _, headers in proxy.seen[1:]:
        assert not {"Authorization", "X-Api-Key", "X-Team"} & set(headers)
    assert proxy.seen[0][1]["Authorization"] == "Bearer tok-4f9a2c-secret"


@pytest.mark.parametrize("scheme", ["https", "http"])
async def test_a_proxys_refusal_is_worded_as_the_proxys(poller: Poller, scheme: str) -> None:
    """A 407 (to a CONNECT for https, or as the answer to a GET for http) is the proxy's: its
    host and port, "proxy refused", never the feed's host nor its password."""
    from tests.support.netservers import raw_server

    refusal = (
        b"HTTP/1.1 407 Proxy Authentication Required\r\n"
        b"Content-Length: 0\r\nConnection: close\r\n\r\n"
    )
    async with raw_server(refusal) as proxy_url:
        written = proxy_url.replace("http://", "http://reader:pw-k3y9@")
        feeds, _ = parse_feed_file(
            "feeds.yaml",
            read_yaml_text(f'feeds:\n  - {{id: a, url: "{scheme}://127.0.0.1:9/feed", '
                           f'proxy: "{written}"}}\n'),
        )  # fmt: skip
        result = await poller.poll(feeds[0])
    where = proxy_url.removeprefix("http://")
    assert result.result == "http_error"
    assert result.reason == f"{where}: proxy refused: 407 Proxy Authentication Required"
    assert result.problem is not None
    assert result.problem.where == where


def read_yaml_text(text: str) -> object:
    """`text` read as feeds.yaml is read (with lines)."""
    from monitor.kernel.yamlfile import parse_yaml

    data, problems = parse_yaml(text, "feeds.yaml")
    assert problems == []
    return data
