"""`monitor feeds add|import|export|test` against a real site on 127.0.0.1, other readers' OPML
and autodiscovery pages (coldsweat's, MIT, in tests/data/thirdparty/coldsweat), and the
service as a subprocess picking up a feed the command added."""

from __future__ import annotations

import asyncio
import functools
import io
import shutil
import sys
import textwrap
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from monitor.commands.check import check
from monitor.commands.feeds import feeds_command
from monitor.feeds.opml import read_opml
from monitor.matching.loader import read_rules_dir
from tests.conftest import DATA, ROOT, SEED_FEED
from tests.support.processes import MonitorProcess, eventually
from tests.support.servers import free_port, serve

COLDSWEAT = DATA / "thirdparty" / "coldsweat"
ATOM = b"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>Blog (Atom)</title><id>urn:b</id>
<link rel="self" href="http://blog.test/blog/atom.xml"/><link href="http://blog.test/blog/"/>
<updated>2026-11-29T10:00:00Z</updated>
<entry><title>Hello</title><id>urn:b:1</id><updated>2026-11-29T10:00:00Z</updated></entry>
</feed>"""


def page(*links: str) -> bytes:
    """An HTML page whose head holds `links` (whole `<link>` elements)."""
    head = "".join(links)
    return f"<!doctype html><html><head><title>A site</title>{head}</head><body>Hi</body></html>".encode()


@dataclass
class Site:
    """A small site: paths to (body, content type); every request is logged."""

    paths: dict[str, tuple[bytes, str]] = field(default_factory=dict)
    requests: list[str] = field(default_factory=list)
    base: str = ""

    def app(self) -> web.Application:
        async def any_path(request: web.Request) -> web.Response:
            self.requests.append(request.path)
            found = self.paths.get(request.path)
            if found is None:
                return web.Response(status=404, text="not here")
            return web.Response(body=found[0], headers={"Content-Type": found[1]})

        app = web.Application()
        app.router.add_get("/{tail:.*}", any_path)
        return app


RSS_TYPE, ATOM_TYPE, HTML = (
    "application/rss+xml",
    "application/atom+xml",
    "text/html; charset=utf-8",
)


@asynccontextmanager
async def site(paths: dict[str, tuple[bytes, str]]) -> AsyncIterator[Site]:
    served = Site(paths)
    async with serve(served.app()) as base:
        served.base = base
        yield served


def setup(tmp: Path) -> Path:
    """A config whose rules are the shipped watches and a copy of the shipped feeds.yaml."""
    rules = tmp / "rules"
    shutil.copytree(ROOT / "rules", rules)
    config = tmp / "monitor.yaml"
    config.write_text(
        f"rules_dir: rules\nstate_dir: state\nhttp: {{listen: '127.0.0.1:{free_port()}'}}\n"
        "poller: {host_delay: 0s, timeout: 5s, max_age: 3650d}\n"
    )
    return config


async def feeds(
    config: Path, action: str, target: str = "", **options: Any
) -> tuple[int, str, str]:
    """Run `monitor feeds ACTION` in a thread (it runs its own event loop); code, out, err."""
    out, err = io.StringIO(), io.StringIO()
    run = functools.partial(
        feeds_command, action, config_path=config, target=target, out=out, err=err, **options
    )
    code = await asyncio.to_thread(run)
    return code, out.getvalue(), err.getvalue()


def listed(config: Path) -> dict[str, tuple[str, tuple[str, ...]]]:
    rule_set, problems = read_rules_dir(config.parent / "rules")
    assert [] == problems
    return {f.id: (f.url, f.tags) for f in rule_set.feeds}


# -- discovery ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("html5-xhtml.html", "http://example.com/feed"),
        ("xhtml.html", "http://somedomain.com/articles.xml"),
        ("html4-base.html", "http://somedomain.com/articles.xml"),
        ("html4-no-base.html", "http://example.com/articles.xml"),
    ],
)
def test_autodiscovery_finds_what_coldsweat_expects(name: str, expected: str) -> None:
    from monitor.feeds.discover import feed_links

    found = feed_links((COLDSWEAT / name).read_bytes(), "http://example.com")
    assert expected == found[0].url


def test_feed_links_keep_order_types_and_titles_and_drop_the_rest() -> None:
    from monitor.feeds.discover import Candidate, feed_links

    html = page(
        '<link rel="stylesheet" href="/s.css">',
        '<link rel="alternate" type="application/rss+xml" title=" Main\n feed " href="rss.xml">',
        '<link rel="Alternate Home" type="application/atom+xml" href="https://x.test/atom">',
        '<link rel="alternate" type="application/feed+json" href="/feed.json">',
        '<link rel="alternate" type="application/rss+xml" href="rss.xml">',  # a repeat
        '<link rel="alternate" type="text/html" href="/fr/">',  # a translation, not a feed
        '<link rel="alternate" type="application/rss+xml" href="javascript:alert(1)">',
        '<link rel="alternate" type="application/rss+xml">',  # no href
    )
    assert [
        Candidate("http://site.test/news/rss.xml", "Main feed", "rss"),
        Candidate("https://x.test/atom", "", "atom"),
        Candidate("http://site.test/feed.json", "", "json"),
    ] == feed_links(html, "http://site.test/news/")
    assert [] == feed_links(b"", "http://site.test/")
    flood = page(
        *(f'<link rel="alternate" type="application/rss+xml" href="/f{i}">' for i in range(5000))
    )
    assert 50 == len(feed_links(flood, "http://site.test/"))
    assert [] == feed_links(b"\x00\xff garbage", "http://site.test/")


# -- feeds add ----------------------------------------------------------------------------------


async def test_add_from_a_page_lists_its_feeds_and_appends_the_chosen_one(tmp_path: Path) -> None:
    """Two feeds on a page: without --pick (and no terminal) nothing is written and both are
    shown; with --pick 2 the Atom feed is checked, named from its title and appended after the
    last feed, every line of the file before it as it was; `monitor check` passes."""
    config = setup(tmp_path)
    feeds_yaml = tmp_path / "rules" / "feeds.yaml"
    before = feeds_yaml.read_text()
    paths = {
        "/blog/": (
            page(
                '<link rel="alternate" type="application/rss+xml" title="Blog" href="rss.xml">',
                '<link rel="alternate" type="application/atom+xml" href="atom.xml">',
            ),
            HTML,
        ),
        "/blog/rss.xml": (SEED_FEED.read_bytes(), RSS_TYPE),
        "/blog/atom.xml": (ATOM, ATOM_TYPE),
    }
    async with site(paths) as blog:
        code, out, err = await feeds(config, "add", blog.base + "/blog/")
        assert 1 == code
        assert f'1. {blog.base}/blog/rss.xml  (rss "Blog")' in out
        assert f"2. {blog.base}/blog/atom.xml  (atom)" in out
        assert "choose one with --pick N" in err
        assert before == feeds_yaml.read_text()

        code, out, err = await feeds(
            config, "add", blog.base + "/blog/", pick=2, tags=["blogs", "test"]
        )
        assert (0, "") == (code, err)
        assert "is a feed: 1 item(s)" in out
        assert "added feed 'blog-atom'" in out
    after = feeds_yaml.read_text()
    assert after.startswith(before)
    assert after[len(before) :] == (
        f"  - id: blog-atom\n    url: {blog.base}/blog/atom.xml\n    title: Blog (Atom)\n"
        "    site: http://blog.test/blog/\n    tags: [blogs, test]\n"
    )
    assert (f"{blog.base}/blog/atom.xml", ("blogs", "test")) == listed(config)["blog-atom"]
    assert 0 == check(None, io.StringIO(), io.StringIO(), config_path=config)


async def test_add_refuses_repeats_taken_ids_and_links_that_are_not_feeds(tmp_path: Path) -> None:
    config = setup(tmp_path)
    feeds_yaml = tmp_path / "rules" / "feeds.yaml"
    paths = {
        "/news.rss": (SEED_FEED.read_bytes(), RSS_TYPE),
        "/broken": (
            page('<link rel="alternate" type="application/rss+xml" href="/gone.rss">'),
            HTML,
        ),
        "/html-feed": (
            page('<link rel="alternate" type="application/rss+xml" href="/broken">'),
            HTML,
        ),
    }
    async with site(paths) as s:
        code, out, _ = await feeds(config, "add", s.base + "/news.rss", feed_id="local-news")
        assert 0 == code, out
        text = feeds_yaml.read_text()
        cases: list[tuple[str, dict[str, Any], str]] = [
            (s.base + "/news.rss/", {}, "already in feeds.yaml as 'local-news'"),
            (s.base.upper().replace("HTTP://", "http://") + "/news.rss", {}, "already in"),
            (s.base + "/broken", {}, "/gone.rss: HTTP 404"),
            (s.base + "/html-feed", {}, "is a web page, not a feed"),
            (s.base + "/news.rss?x=1", {"feed_id": "bbc-world"}, "feed id 'bbc-world' is taken"),
            (s.base + "/broken", {"pick": 3}, "no feed number 3"),
        ]
        for url, options, words in cases:
            code, out, err = await feeds(config, "add", url, **options)
            assert 1 == code, (url, out, err)
            assert words in err, (url, err)
            assert text == feeds_yaml.read_text()


async def test_add_finds_a_feed_at_a_common_path_when_the_page_names_none(tmp_path: Path) -> None:
    config = setup(tmp_path)
    async with site({"/": (page(), HTML), "/index.xml": (ATOM, ATOM_TYPE)}) as s:
        code, out, err = await feeds(config, "add", s.base + "/")
        assert (0, "") == (code, err), out
        assert f"{s.base}/index.xml" == listed(config)["blog-atom"][0]
        assert {"/", "/feed", "/rss", "/feed.xml", "/rss.xml", "/atom.xml", "/index.xml"} <= set(
            s.requests
        )
    async with site({"/": (page(), HTML)}) as s:
        code, out, err = await feeds(config, "add", s.base + "/")
        assert 1 == code
        assert f"no feed found at {s.base}/" in err


@pytest.mark.parametrize(
    ("text", "tail"),
    [
        ("", "feeds:\n  - id: new\n    url: http://x.test/f\n"),
        ("# my feeds\n", "# my feeds\nfeeds:\n  - id: new\n    url: http://x.test/f\n"),
        ("keep: 1\n", "keep: 1\n\nfeeds:\n  - id: new\n    url: http://x.test/f\n"),
        ("feeds: []  # none\n", "feeds: # none\n  - id: new\n    url: http://x.test/f\n"),
        (
            "feeds:\n- id: a\n  url: http://a.test/\n# old:\n# - id: z\n",
            "feeds:\n- id: a\n  url: http://a.test/\n- id: new\n  url: http://x.test/f\n# old:\n# - id: z\n",
        ),
        (
            "feeds:\r\n    - id: a\r\n      url: http://a.test/",
            "feeds:\r\n    - id: a\r\n      url: http://a.test/\r\n    - id: new\r\n      url: http://x.test/f\r\n",
        ),
    ],
)
def test_appending_keeps_the_files_style(text: str, tail: str) -> None:
    from monitor.feeds.feedsfile import NewFeed, append_feeds

    assert tail == append_feeds(text, [NewFeed("new", "http://x.test/f")])


def test_a_flow_style_list_is_refused_with_the_line() -> None:
    from monitor.feeds.feedsfile import FeedsFileError, NewFeed, append_feeds

    with pytest.raises(FeedsFileError, match="line 2: `feeds:` is written in flow style"):
        append_feeds(
            "# x\nfeeds: [{id: a, url: 'http://a.test/'}]\n", [NewFeed("n", "http://x.test/")]
        )


async def test_a_feed_added_while_the_service_runs_is_polled(tmp_path: Path) -> None:
    """The command as a user types it (a subprocess), with the service running: the service
    reloads the new list and polls the new feed; the command said where it wrote it."""
    config = setup(tmp_path)
    (tmp_path / "rules" / "feeds.yaml").write_text("# only the one we add\nfeeds: []\n")
    port = int(config.read_text().split("127.0.0.1:")[1].split("'")[0])
    async with site({"/news.rss": (SEED_FEED.read_bytes(), RSS_TYPE)}) as s:
        monitor = MonitorProcess(config, f"http://127.0.0.1:{port}", tmp_path / "logs")
        await monitor.start()
        try:
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "monitor", "feeds", "add", s.base + "/news.rss",
                "--tags", "local", "--interval", "1s", "--config", str(config),
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            )  # fmt: skip
            out, err = await process.communicate()
            assert 0 == process.returncode, err.decode()
            assert "feeds.yaml:3; a running monitor polls it" in out.decode()
            # The command reads the feed once; the service may poll it before this line runs.
            assert 1 <= s.requests.count("/news.rss")

            async def published() -> bool:
                return await monitor.metric_sum("monitor_articles_published_total") == 5

            await eventually(published, 20, monitor.stderr)
            assert s.requests.count("/news.rss") >= 2  # the command's read and the service's
        finally:
            await monitor.stop()


# -- import and export --------------------------------------------------------------------------


def test_other_readers_opml_is_read_with_folders_as_tags() -> None:
    sample = read_opml((COLDSWEAT / "sample-subscriptions.opml").read_bytes(), "s.opml")
    assert 20 == len(sample)
    assert ("https://bjango.com/rss/articles.xml", "Bjango Articles", ()) == (
        sample[1].url,
        sample[1].title,
        sample[1].tags,
    )
    assert ("Erica Sadun", ("computers-technology",)) == (sample[5].title, sample[5].tags)
    tests = read_opml((COLDSWEAT / "test-subscriptions.xml").read_bytes(), "t.xml")
    assert ("500px: Editor’s Choice", ("graphics",)) == (tests[1].title, tests[1].tags)


@pytest.mark.parametrize(
    ("document", "words"),
    [
        (b"", "e.opml:1: not OPML"),
        (b"<rss version='2.0'/>", "e.opml:1: not OPML: the root is <rss>"),
        (b"<opml version='2.0'><head/></opml>", "e.opml: not OPML: no <body>"),
        (b"<opml>\n<body>\n<outline text='x'>\n</body></opml>", "e.opml:4: not OPML"),
    ],
)
def test_unreadable_opml_is_named_at_its_line(document: bytes, words: str) -> None:
    from monitor.kernel.errors import InputError

    with pytest.raises(InputError, match=words):
        read_opml(document, "e.opml")


def test_hostile_opml_expands_no_entity_and_reads_no_file(tmp_path: Path) -> None:
    """Billion laughs and an external entity (XXE): neither is expanded."""
    from monitor.kernel.errors import InputError

    secret = tmp_path / "secret"
    secret.write_text("TOP-SECRET")
    laughs = "".join(f'<!ENTITY l{i} "{f"&l{i - 1};" * 10}">' for i in range(1, 10))
    hostile = (
        f'<?xml version="1.0"?><!DOCTYPE opml [<!ENTITY l0 "lol">{laughs}'
        f'<!ENTITY xxe SYSTEM "file://{secret}">]>'
        '<opml version="2.0"><body><outline text="&l9;&xxe;" xmlUrl="http://x.test/f"/>'
        "</body></opml>"
    )
    try:
        found = read_opml(hostile.encode(), "h.opml")
    except InputError:
        return  # refused outright: as good
    assert len(found) == 1
    assert "TOP-SECRET" not in found[0].title
    assert len(found[0].title) < 100


async def test_import_adds_what_is_new_and_export_gives_it_back(tmp_path: Path) -> None:
    config = setup(tmp_path)
    shipped = listed(config)
    code, out, err = await feeds(
        config, "import", str(COLDSWEAT / "sample-subscriptions.opml"), tags=["imported"]
    )
    assert (0, "") == (code, err), out
    assert "imported 20 feed(s)" in out
    now = listed(config)
    assert 20 + len(shipped) == len(now)
    assert ("https://ericasadun.com/feed/", ("computers-technology", "imported")) == now[
        "erica-sadun"
    ]
    assert 0 == check(None, io.StringIO(), io.StringIO(), config_path=config)

    code, out, _ = await feeds(config, "import", str(COLDSWEAT / "sample-subscriptions.opml"))
    assert 0 == code
    assert "nothing to add: 20 feed(s)" in out
    assert now == listed(config)

    code, exported, _ = await feeds(config, "export", opml=True)
    assert 0 == code
    opml = tmp_path / "out.opml"
    opml.write_text(exported)
    other = setup(tmp_path / "other")
    (tmp_path / "other" / "rules" / "feeds.yaml").write_text("feeds:\n")
    code, out, err = await feeds(other, "import", str(opml))
    assert (0, "") == (code, err), out
    assert {(url, tags) for url, tags in now.values()} == set(listed(other).values())

    code, plain, _ = await feeds(config, "export")
    assert f"bbc-world\t{shipped['bbc-world'][0]}\tworld,english" == plain.splitlines()[0]
    assert len(now) == len(plain.splitlines())


async def test_import_of_a_missing_or_broken_file_says_so(tmp_path: Path) -> None:
    config = setup(tmp_path)
    code, _, err = await feeds(config, "import", str(tmp_path / "none.opml"))
    assert 2 == code
    assert "none.opml: No such file or directory" in err
    broken = tmp_path / "broken.opml"
    broken.write_text("<opml><body><outline")
    code, _, err = await feeds(config, "import", str(broken))
    assert (2, True) == (code, err.startswith(f"{broken}:1: not OPML"))


# -- feeds test ---------------------------------------------------------------------------------


async def test_test_shows_the_parse_and_the_watches_that_would_match(tmp_path: Path) -> None:
    """The seed feed as a configured feed: its parser, items, newest time and the shipped
    watch that matches the seed article; nothing published, no state written."""
    config = setup(tmp_path)
    async with site({"/world.rss": (SEED_FEED.read_bytes(), RSS_TYPE)}) as s:
        (tmp_path / "rules" / "feeds.yaml").write_text(
            textwrap.dedent(f"""\
            feeds:
              - {{id: world, url: "{s.base}/world.rss", tags: [world]}}
            """)
        )
        code, out, err = await feeds(config, "test", "world")
    assert (0, "") == (code, err)
    lines = out.splitlines()
    assert f"feed world: {s.base}/world.rss" == lines[0]
    assert lines[1].startswith("fetched: HTTP 200, ")
    assert "parser: lxml" == lines[2]
    assert lines[4].startswith("items: 5, newest 20")
    assert any(line.startswith("  cis-defense-cooperation: Russia") for line in lines), out
    assert lines[-1].startswith("would match: 1 of 5 item(s); nothing was published")
    assert not (tmp_path / "state").exists()


async def test_test_of_a_url_that_fails_says_why(tmp_path: Path) -> None:
    config = setup(tmp_path)
    async with site({"/page": (page(), HTML)}) as s:
        code, out, err = await feeds(config, "test", s.base + "/missing.rss")
        assert (1, True) == (code, "HTTP 404" in err)
        assert f"feed (not in feeds.yaml): {s.base}/missing.rss" in out
        code, _, err = await feeds(config, "test", s.base + "/page")
        assert 1 == code
        assert "is a web page, not a feed" in err
    code, _, err = await feeds(config, "test", "no-such-feed")
    assert 2 == code
    assert "no feed 'no-such-feed' in feeds.yaml" in err


async def test_export_names_each_feed_by_its_title_and_site_and_import_keeps_them(
    tmp_path: Path,
) -> None:
    """An exported outline's text is the feed's title (`title:`, else its id) and its htmlUrl
    the site (`site:`); importing the export elsewhere keeps both."""
    config = setup(tmp_path)
    (tmp_path / "rules" / "feeds.yaml").write_text(
        textwrap.dedent("""\
        feeds:
          - id: wire
            url: https://example.org/rss
            title: "The Wire: World"
            site: https://example.org/
            tags: [world]
          - id: bare
            url: https://example.net/feed
        """)
    )
    code, exported, err = await feeds(config, "export", opml=True)
    assert (0, "") == (code, err)
    found = read_opml(exported.encode(), "out.opml")
    assert [(f.url, f.title, f.site) for f in found] == [
        ("https://example.org/rss", "The Wire: World", "https://example.org/"),
        ("https://example.net/feed", "bare", ""),
    ]
    opml = tmp_path / "out.opml"
    opml.write_text(exported)
    other = setup(tmp_path / "other")
    (tmp_path / "other" / "rules" / "feeds.yaml").write_text("feeds:\n")
    code, out, err = await feeds(other, "import", str(opml))
    assert (0, "") == (code, err), out
    code, again, _ = await feeds(other, "export", opml=True)
    assert [(f.url, f.title, f.site, f.tags) for f in read_opml(again.encode(), "again")] == [
        (f.url, f.title, f.site, f.tags) for f in found
    ]
