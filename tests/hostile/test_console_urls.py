"""URLs a console client gives (a watch test's page, a feed to add) aimed inside: loopback in
every spelling, a name for it, the cloud metadata address, a redirect to it. Refused before
anything is asked of them unless `poller.allow_private`; link-local and metadata always."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from monitor.feeds.settings import FulltextConfig, PollerConfig
from monitor.kernel.console import ActionRefused, Trial
from monitor.status.desks import Desks, make_watch_desk
from monitor.stories.settings import StoriesConfig
from tests.status.test_console_feeds import rules_at
from tests.status.test_watchdesk import WHO, _Place
from tests.support.servers import FeedServer, serve

INSIDE = ["127.0.0.1", "localhost", "[::ffff:127.0.0.1]", "2130706433", "0x7f.1", "[::1]"]


def desks_at(tmp_path: Path, allow_private: bool) -> Desks:
    """The console's file parts on a small rules directory."""
    return make_watch_desk(
        rules_at(tmp_path), _Place(tmp_path / "state"), poller=PollerConfig(
            allow_private=allow_private, timeout_s=5), fulltext=FulltextConfig(workers=1),
        stories=StoriesConfig(), environ={},
    )  # fmt: skip


def test_internal_urls_are_refused_unless_allowed(tmp_path: Path) -> None:
    """Every spelling of loopback is refused for the test and for add, and the server sees no
    request; 169.254.169.254 is refused even with private addresses allowed, directly or as a
    redirect's target; feeds.yaml is unchanged."""
    strict, allowed = desks_at(tmp_path / "a", False), desks_at(tmp_path / "b", True)
    server = FeedServer()
    before = (strict.feeds.files.rules_dir / "feeds.yaml").read_text()

    async def refused(call: object) -> ActionRefused:
        with pytest.raises(ActionRefused) as caught:
            await call  # type: ignore[misc]
        return caught.value

    async def run() -> None:
        async with serve(server.app()) as base:
            port = base.rsplit(":", 1)[1]
            for host in INSIDE:
                url = f"http://{host}:{port}/feeds/world"
                tested = await refused(strict.watches.test("quakes", Trial(url=url)))
                assert tested.status == 422
                assert "internal address" in tested.message, tested.message
                added = await refused(strict.feeds.add(url, WHO))
                assert added.status == 422
                assert "internal address" in added.message, added.message
            assert server.requests == []
            for desks in (strict, allowed):
                for url in (
                    "http://169.254.169.254/latest/meta-data/",
                    f"{base}/redirect?to=http://169.254.169.254/latest/meta-data/",
                ):
                    tested = await refused(desks.watches.test("quakes", Trial(url=url)))
                    assert tested.status == 422
                    assert "169.254.169.254" in tested.message, tested.message
                    added = await refused(desks.feeds.add(url, WHO))
                    assert "169.254.169.254" in added.message, added.message
            for url in ("file:///etc/passwd", "gopher://127.0.0.1/", "http://" + "a" * 3000):
                assert (await refused(strict.watches.test("quakes", Trial(url=url)))).status == 422
                assert (await refused(strict.feeds.add(url, WHO))).status == 422
        strict.close()
        allowed.close()

    asyncio.run(run())
    assert (strict.feeds.files.rules_dir / "feeds.yaml").read_text() == before
