"""The outbound-address policy: every spelling of an address, and the connector that checks the
address it actually connects to."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from yarl import URL

from monitor.feeds import client as client_module
from monitor.feeds.addresses import Address, Guard, addresses, internal_origin, literal
from monitor.feeds.client import Client
from monitor.feeds.guard import GUARD, AddressRefused, guarded_session
from monitor.feeds.settings import PollerConfig
from monitor.kernel.errors import ConfigError, FeedFetchError
from monitor.kernel.models import make_article
from monitor.service.config import load_config
from tests.feeds.test_fulltext import make_rig, one_item
from tests.support.servers import serve

CONFIG = PollerConfig(timeout_s=2.0, host_delay_s=0.0)
PUBLIC_FEED = "http://93.184.216.34/feed.xml"  # never connected to: only its address is read


@pytest.mark.parametrize(
    ("host", "address"),
    [
        ("127.0.0.1", "127.0.0.1"),
        ("[::1]", "::1"),
        ("::ffff:127.0.0.1", "127.0.0.1"),
        ("[::ffff:7f00:1]", "127.0.0.1"),
        ("2130706433", "127.0.0.1"),
        ("0x7f.1", "127.0.0.1"),
        ("127.1", "127.0.0.1"),
        ("0177.0.0.1", "127.0.0.1"),
        ("0xa9fea9fe", "169.254.169.254"),
        ("example.org", None),
        ("localhost", None),
        ("1e100.net", None),
    ],
)
def test_every_spelling_of_an_address_is_read_as_the_address(
    host: str, address: str | None
) -> None:
    """Decimal, hex, octal, short and IPv4-mapped forms are the address the resolver makes of
    them; names are names."""
    found = literal(host)
    assert (str(found) if found is not None else None) == address


def test_an_origin_is_internal_only_when_all_its_addresses_are() -> None:
    """A name resolving to a public and a private address counts as public."""
    assert internal_origin([literal("127.0.0.1"), literal("10.1.2.3")])  # type: ignore[list-item]
    assert not internal_origin([literal("127.0.0.1"), literal("93.184.216.34")])  # type: ignore[list-item]
    assert not internal_origin([literal("169.254.1.1")])  # type: ignore[list-item]
    assert not internal_origin([])


@pytest.fixture
async def secret() -> AsyncIterator[str]:
    async def page(_: web.Request) -> web.Response:
        return web.Response(
            text="<html><body><p>SECRET</p></body></html>", content_type="text/html"
        )

    app = web.Application()
    app.router.add_get("/{tail:.*}", page)
    async with serve(app) as base:
        yield base


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
async def test_the_connector_refuses_what_the_guard_forbids(secret: str, host: str) -> None:
    """With a public origin's guard set, the connector refuses a loopback address (by literal or
    by name) before connecting; without a guard (the webhooks), it connects."""
    url = secret.replace("127.0.0.1", host)
    async with guarded_session() as session:
        token = GUARD.set(Guard(allow_private=False))
        try:
            with pytest.raises(AddressRefused, match="internal address"):
                await session.get(url)
        finally:
            GUARD.reset(token)
        async with session.get(url) as resp:
            assert "SECRET" in await resp.text()


async def test_a_public_origin_cannot_fetch_a_loopback_page(secret: str) -> None:
    """Client.get for a public feed's sake refuses a loopback page, naming the way to allow it;
    for the page's own sake (a URL the user gave) it fetches it; `allow_private` allows it."""
    async with guarded_session() as session:
        client = Client(session, CONFIG)
        with pytest.raises(FeedFetchError, match="allow_private") as refused:
            await client.get(f"{secret}/a", {}, origin=PUBLIC_FEED)
        assert "address_refused" == refused.value.result
        assert (await client.get(f"{secret}/a", {})).body
        allowing = Client(session, PollerConfig(timeout_s=2.0, allow_private=True))
        assert (await allowing.get(f"{secret}/a", {}, origin=PUBLIC_FEED)).body
        with pytest.raises(FeedFetchError, match="never fetched"):
            await allowing.get("http://169.254.169.254/latest/", {}, origin=PUBLIC_FEED)


@pytest.mark.parametrize(
    ("poller", "allowed"),
    [("{}", False), ("{allow_private: true}", True), ("{allow_private_redirects: true}", True)],
)
def test_allow_private_and_its_old_name(tmp_path: Path, poller: str, allowed: bool) -> None:
    """`poller.allow_private`, or its old name `allow_private_redirects`, allows internal
    targets; a value that is not a boolean is reported under either name."""
    path = tmp_path / "monitor.yaml"
    path.write_text(f"rules_dir: rules\nstate_dir: state\npoller: {poller}\n")
    assert allowed == load_config({}, path).poller.allow_private
    path.write_text("rules_dir: rules\nstate_dir: state\npoller: {allow_private_redirects: 1}\n")
    with pytest.raises(ConfigError, match="allow_private_redirects must be true or false"):
        load_config({}, path)


class Rebound(Client):
    """A client whose check before the request passes: as when a name resolved to a public
    address then and resolves to loopback when connected (DNS rebinding)."""

    async def check(self, url: str | URL, guard: Guard, result: str = "address_refused") -> None:
        return None


async def test_a_rebound_name_is_refused_where_it_connects(secret: str) -> None:
    """Past the check, the guarded connector refuses the loopback address it would connect to:
    a fresh connection, and one kept alive from a fetch for a loopback feed."""
    async with guarded_session() as session:
        for _ in range(2):
            with pytest.raises(FeedFetchError, match=r"internal address 127\.0\.0\.1") as refused:
                await Rebound(session, CONFIG).get(f"{secret}/a", {}, origin=PUBLIC_FEED)
            assert "address_refused" == refused.value.result
            assert (await Client(session, CONFIG).get(f"{secret}/a", {})).body  # kept alive
        assert session.connector is not None
        assert session.connector._conns  # the pool, to be sure


async def test_a_page_kept_for_a_loopback_feed_is_not_given_to_a_public_one(
    tmp_path: Path,
) -> None:
    """The page cache is no way around the policy: a loopback feed's page, read and kept, is
    refused to a public feed linking to the same URL, and counted `refused`."""
    config = PollerConfig(timeout_s=2.0, host_delay_s=0.0)
    async for rig in make_rig(tmp_path, config):
        one_item(rig, "a", "/news/a")
        assert "ok" == (await rig.poller.poll(rig.feed("a"))).result
        public = dataclasses.replace(rig.feed("a"), id="pub", url=PUBLIC_FEED)
        article = make_article(id="x", url=rig.site.url("/news/a"), title="t", summary="teaser")
        (done,) = await rig.poller.fulltext.complete(public, [article])
        assert "" == done.content
        assert {"fetched": 1.0, "refused": 1.0} == rig.results()


@pytest.fixture
async def feed() -> AsyncIterator[str]:
    async def rss(request: web.Request) -> web.Response:
        if request.headers.get("If-None-Match") == "v1":
            return web.Response(status=304)
        return web.Response(text="<rss/>", headers={"ETag": "v1"})

    app = web.Application()
    app.router.add_get("/{tail:.*}", rss)
    async with serve(app) as base:
        yield base


async def test_a_fetch_says_the_address_it_came_from(feed: str) -> None:
    """Fetched.peer is the address the response came from: for a body and for a 304 (whose
    connection is released before Client.get sees the response: the connector tells it)."""
    async with guarded_session() as session:
        client = Client(session, CONFIG)
        assert "127.0.0.1" == (await client.get(f"{feed}/f", {})).peer
        not_modified = await client.get(f"{feed}/f", {"If-None-Match": "v1"})
        assert (304, "127.0.0.1") == (not_modified.status, not_modified.peer)


async def test_a_fetched_origin_is_judged_by_its_peer_not_by_a_lookup(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A name server answering 10.0.0.5 to the guard's lookups decides only for a host never
    fetched; once fetched from a public address, the host is public, and an internal address
    on a later fetch within the keep time leaves it public. A host fetched from an internal
    address (an intranet feed) is internal."""

    async def lying(host: str, port: int | None) -> list[Address]:
        return addresses(["10.0.0.5"])

    monkeypatch.setattr(client_module, "resolve", lying)
    async with guarded_session() as session:
        client = Client(session, CONFIG)
        evil = URL("http://evil.example/feed")
        assert (await client.guard(evil)).allow_private  # never fetched: the lookup decides
        assert not client._fetched_from(evil, "93.184.216.34").allow_private
        assert not (await client.guard(URL("http://evil.example:8080/other"))).allow_private
        assert not client._fetched_from(evil, "10.0.0.5").allow_private
        assert not (await client.guard(evil)).allow_private
        intranet = URL("http://intranet.example/feed")
        assert client._fetched_from(intranet, "::ffff:10.0.0.6").allow_private
        assert (await client.guard(intranet)).allow_private


async def test_an_ip_literal_origin_is_what_it_spells(monkeypatch: pytest.MonkeyPatch) -> None:
    """No lookup is made for an origin that is an IP address."""

    async def no_lookup(host: str, port: int | None) -> list[Address]:
        raise AssertionError(f"{host} looked up")

    monkeypatch.setattr(client_module, "resolve", no_lookup)
    async with guarded_session() as session:
        client = Client(session, CONFIG)
        assert (await client.guard(URL("http://10.1.2.3/feed"))).allow_private
        assert (await client.guard(URL("http://[::1]:8080/feed"))).allow_private
        assert not (await client.guard(URL(PUBLIC_FEED))).allow_private
