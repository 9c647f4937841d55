"""A feed's request settings and its own name, where the commands use them: `monitor feeds test
ID` sends the feed's `headers:`, `auth:`, `user_agent:` and `proxy:` as the poller does (with
`${VAR}` from the environment and secrets.env), and `monitor feeds export --opml` names a feed
written by hand by the title and home page its poll read. Real servers on 127.0.0.1; `run
--once` as a subprocess."""

from __future__ import annotations

import asyncio
import textwrap
from pathlib import Path

import pytest
from aiohttp import web

from monitor.feeds.opml import read_opml
from tests.commands.test_feed_commands import RSS_TYPE, feeds, setup, site
from tests.conftest import SEED_FEED
from tests.feeds.test_feed_requests import Proxy
from tests.support.processes import MonitorProcess
from tests.support.servers import serve

pytestmark = pytest.mark.timeout(120)
TOKEN = "tok-feedtest-91c2"  # noqa: S105 - a test value


def guarded_feed(seen: list[dict[str, str]]) -> web.Application:
    """The seed feed at /feed, for a bearer token and an API key only (else 401)."""

    async def feed(request: web.Request) -> web.Response:
        seen.append(dict(request.headers))
        wanted = (f"Bearer {TOKEN}", "key-5d1e")
        if (request.headers.get("Authorization"), request.headers.get("X-Api-Key")) != wanted:
            return web.Response(status=401, reason="Unauthorized")
        return web.Response(body=SEED_FEED.read_bytes(), content_type="application/rss+xml")

    app = web.Application()
    app.router.add_get("/feed", feed)
    return app


async def test_feeds_test_sends_the_feeds_headers_auth_and_user_agent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The token from secrets.env, the key from the environment: the server that answers the
    poller 200 answers `feeds test` 200 too (it answered 401 before)."""
    config = setup(tmp_path)
    secrets = tmp_path / "secrets.env"
    secrets.write_text(f"NEWS_TOKEN={TOKEN}\n")
    secrets.chmod(0o600)
    monkeypatch.setenv("NEWS_KEY", "key-5d1e")
    seen: list[dict[str, str]] = []
    async with serve(guarded_feed(seen)) as base:
        (tmp_path / "rules" / "feeds.yaml").write_text(
            textwrap.dedent(f"""\
            feeds:
              - id: paywalled
                url: {base}/feed
                headers: {{X-Api-Key: "${{NEWS_KEY}}", X-Team: desk}}
                auth: {{bearer: "${{NEWS_TOKEN}}"}}
                user_agent: "NewsDesk/2 (+ops@example.org)"
            """)
        )
        code, out, err = await feeds(config, "test", "paywalled")
    assert (0, "") == (code, err), out
    assert "title: World news (test feed)" in out
    ((headers),) = seen
    assert headers["User-Agent"] == "NewsDesk/2 (+ops@example.org)"
    assert headers["X-Team"] == "desk"


async def test_feeds_test_of_an_unset_variable_says_which(tmp_path: Path) -> None:
    config = setup(tmp_path)
    seen: list[dict[str, str]] = []
    async with serve(guarded_feed(seen)) as base:
        (tmp_path / "rules" / "feeds.yaml").write_text(
            f'feeds:\n  - {{id: a, url: "{base}/feed", auth: {{bearer: "${{NO_SUCH_VAR_7}}"}}}}\n'
        )
        code, _, err = await feeds(config, "test", "a")
    assert (1, []) == (code, seen)
    assert "environment variable NO_SUCH_VAR_7 is not set" in err


async def test_feeds_test_goes_through_the_feeds_proxy(tmp_path: Path) -> None:
    config = setup(tmp_path)
    proxy = Proxy()
    async with (
        site({"/world.rss": (SEED_FEED.read_bytes(), RSS_TYPE)}) as s,
        serve(proxy.app()) as proxy_url,
    ):
        (tmp_path / "rules" / "feeds.yaml").write_text(
            f'feeds:\n  - {{id: w, url: "{s.base}/world.rss", proxy: "{proxy_url}"}}\n'
        )
        code, out, err = await feeds(config, "test", "w")
    assert (0, "") == (code, err), out
    assert [target for target, _ in proxy.seen] == [f"{s.base}/world.rss"]


async def test_export_names_a_hand_written_feed_by_what_its_poll_read(tmp_path: Path) -> None:
    """A feed written by hand (no `title:`, no `site:`), polled by `run --once`: its OPML
    outline is named by the feed's own title and links to its home page; a `title:` written
    in feeds.yaml still comes first."""
    config = setup(tmp_path)
    async with site({"/world.rss": (SEED_FEED.read_bytes(), RSS_TYPE)}) as s:
        (tmp_path / "rules" / "feeds.yaml").write_text(
            textwrap.dedent(f"""\
            feeds:
              - {{id: by-hand, url: "{s.base}/world.rss"}}
              - {{id: named, url: "{s.base}/world.rss?b", title: Mine, site: "https://mine.example/"}}
              - {{id: never-polled, url: "{s.base}/missing.rss"}}
            """)
        )
        code, before, _ = await feeds(config, "export", opml=True)
        assert 0 == code
        first = read_opml(before.encode(), "b")[0]
        assert (first.title, first.site) == ("by-hand", "")
        proc = MonitorProcess(config, "http://127.0.0.1:0", tmp_path / "logs")
        started = await proc.start("--once")
        await asyncio.wait_for(started.wait(), 60)
        code, exported, err = await feeds(config, "export", opml=True)
    assert (0, "") == (code, err)
    assert [(f.title, f.site) for f in read_opml(exported.encode(), "out")] == [
        ("World news (test feed)", "https://example.org/"),
        ("Mine", "https://mine.example/"),
        ("never-polled", ""),
    ], proc.stderr()


async def test_a_state_db_from_before_the_title_column_is_upgraded(tmp_path: Path) -> None:
    """A state.db made before feeds' titles were kept gains the columns at start."""
    import sqlite3

    from monitor.store.state import FeedState, StateStore, read_feed_names

    with sqlite3.connect(tmp_path / "state.db") as db:
        db.execute(
            "CREATE TABLE feed_state (feed_id TEXT PRIMARY KEY, etag TEXT, last_modified TEXT,"
            " failures INTEGER NOT NULL DEFAULT 0, disabled_reason TEXT, disabled_url TEXT)"
        )
        db.execute("INSERT INTO feed_state (feed_id, etag) VALUES ('old', 'e1')")
    async with StateStore(tmp_path) as state:
        assert (await state.feed_state("old")).etag == "e1"
        await state.save_feed_state(FeedState(feed_id="new", title="T", site="https://s.example/"))
    assert read_feed_names(tmp_path) == {"new": ("T", "https://s.example/")}


def test_export_reads_state_db_without_changing_it(tmp_path: Path) -> None:
    """`feeds export` reads the polled titles read-only: a state.db from before the columns
    (or any it cannot read) gives none, and the file is left as it was (no migration, no
    pruning by a command that only reads)."""
    import sqlite3

    from monitor.store.state import read_feed_names

    with sqlite3.connect(tmp_path / "state.db") as db:
        db.execute("CREATE TABLE feed_state (feed_id TEXT PRIMARY KEY, etag TEXT)")
        db.execute("CREATE TABLE seen (article_id TEXT PRIMARY KEY, last_seen_ms INTEGER)")
        db.execute("INSERT INTO seen VALUES ('a', 0)")  # older than any retention
    before = (tmp_path / "state.db").read_bytes()
    assert read_feed_names(tmp_path) == {}
    assert (tmp_path / "state.db").read_bytes() == before
    (tmp_path / "state.db").chmod(0o400)
    assert read_feed_names(tmp_path) == {}
    assert read_feed_names(tmp_path / "nowhere") == {}
