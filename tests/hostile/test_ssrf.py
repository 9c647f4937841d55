"""Attacks through the addresses a feed, a page or an OPML file names (SSRF), and the user-run
commands' caps and output.

The SSRF cases need a "public" address: they run in a network namespace that has only loopback
(`tests/hostile/ssrf_namespace.py`, as root, `unshare -n -m`), with the service as a subprocess.
Where that is impossible they are skipped loudly, and under CI=true they fail instead.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from tests.hostile import ssrf_namespace as ns
from tests.support.servers import free_port, serve

ROOT = Path(__file__).resolve().parents[2]
UNSHARE, IP = shutil.which("unshare"), shutil.which("ip")


def _namespace_problem() -> str | None:
    if sys.platform != "linux":
        return f"not Linux ({sys.platform})"
    if os.geteuid() != 0:
        return "not root (unshare -n and addresses on lo need it)"
    if UNSHARE is None or IP is None:
        return "unshare or ip is not installed"
    probe = subprocess.run(
        [UNSHARE, "-n", "-m", "--", IP, "link", "set", "lo", "up"],
        capture_output=True,
        text=True,
        check=False,
    )
    if probe.returncode != 0:
        return f"unshare -n -m failed: {probe.stderr.strip()}"
    return None


def in_namespace(tmp: Path, *args: str, timeout_s: float) -> dict[str, Any]:
    """Run `ssrf_namespace` with `args` in a loopback-only namespace; its JSON report. Skipped
    loudly where no namespace can be made, and failed instead under CI."""
    problem = _namespace_problem()
    if problem is not None:
        message = f"SSRF NAMESPACE TESTS NOT RUN: {problem}"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)  # -ra (the project's addopts) prints it in the summary
    command = [UNSHARE or "unshare", "-n", "-m", "--", sys.executable]
    command += ["-m", "tests.hostile.ssrf_namespace", *args, str(tmp)]
    done = subprocess.run(
        command, capture_output=True, text=True, cwd=ROOT, timeout=timeout_s, check=False
    )
    assert 0 == done.returncode, done.stderr[-4000:]
    report: dict[str, Any] = json.loads(done.stdout)
    return report


@pytest.fixture(scope="module")
def attacked(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The scenario's report (see `ssrf_namespace`): run once for the module's tests."""
    return in_namespace(tmp_path_factory.mktemp("ssrf"), timeout_s=240)


def test_no_internal_page_reaches_an_alert_or_the_state(attacked: dict[str, Any]) -> None:
    """A public fulltext feed whose items link to 127.0.0.1, localhost, a hosts-file name,
    ::ffff:127.0.0.1, ::1, 0x7f.1, 2130706433, 10.0.0.5, the metadata address and a redirect to
    loopback: every item alerts with the feed's own text, no webhook body and no byte of
    state.db holds the secret, and the public item's page is read."""
    hooks = attacked["hooks"]
    titles = sorted(json.loads(h)["article"]["title"] for h in hooks)
    assert sorted(ns.ITEMS) == titles, attacked["log"]
    assert [h for h in hooks if ns.MARK in h] == []
    assert not attacked["state_has_secret"]
    assert attacked["state_has_good"]
    good = next(json.loads(h) for h in hooks if "alpha good" in h)
    assert "public pages say" in good["article"]["content"]


def test_nothing_is_asked_of_an_internal_address(attacked: dict[str, Any]) -> None:
    """Not a page, not a robots.txt: the internal servers (loopback, ::1, 10.0.0.5, the metadata
    address) saw no request from the service."""
    assert [] == attacked["asked"]


def test_the_refusals_are_counted_and_the_service_stays_up(attacked: dict[str, Any]) -> None:
    """Ten pages refused, counted as `monitor_fulltext_total{result="refused"}` and logged;
    the public page fetched; the service ran throughout."""
    assert attacked["alive"]
    assert 10 == attacked["refused"]
    assert 1 == attacked["fetched"]
    assert attacked["log"].count("fulltext_failed") >= 10
    assert "is not fetched for a public origin" in attacked["log"]


def test_user_run_commands_refuse_what_a_public_url_leads_to(attacked: dict[str, Any]) -> None:
    """`monitor extract` and `monitor feeds test` refuse a public page's redirect to an internal
    host, `feeds add` a feed an internal address that a public page names, each naming the URL
    and --allow-private, with nothing written; the metadata address is refused even with the
    flag; with the flag, the redirect is followed."""
    cli = attacked["cli"]
    assert [] == attacked["cli_asked"]
    for name in ("extract_redirect", "feeds_add", "feeds_test"):
        said = cli[name]["out"] + cli[name]["err"]
        assert 1 == cli[name]["code"], said
        assert "--allow-private" in said, said
        assert ns.MARK not in said
    assert f"internal.example:{ns.SECRET_PORT}/secret/cli" in cli["extract_redirect"]["out"]
    assert f"127.0.0.1:{ns.SECRET_PORT}/feed" in cli["feeds_add"]["err"]
    assert "feeds: []\n" == cli["feeds_yaml"]
    metadata = json.loads(cli["extract_metadata"]["out"])
    assert "never fetched" in metadata["error"]
    assert ns.MARK in cli["extract_allowed"]["out"]


@pytest.fixture(scope="module")
def split(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The split-answer attack's report (`ssrf_namespace --origin`)."""
    return in_namespace(tmp_path_factory.mktemp("split"), "--origin", timeout_s=120)


def test_a_feeds_own_dns_cannot_make_it_an_internal_origin(split: dict[str, Any]) -> None:
    """evil.example's name server says 10.0.0.5 to the lookups monitor makes of it while its
    feed comes from its public address: the feed is judged by the address it came from, so its
    item on 10.0.0.5 is refused (the check, robots.txt, the page), a redirect of the feed's own
    URL to 10.0.0.5 too, and 10.0.0.5 is asked nothing."""
    assert [] == split["asked"]
    for step in ("check", "page", "redirect"):
        assert split[step].startswith("refused:"), split[step][:300]
        assert "is not fetched for a public origin" in split[step]
    assert split["robots"] is False  # its robots.txt refused: read as unreachable
    assert ns.PUBLIC == split["feed_peer"]


def test_a_feed_answered_from_public_after_an_internal_hop_is_public(
    split: dict[str, Any],
) -> None:
    """A feed URL on 10.0.0.5 that redirects to a public server: its body is the public
    server's, so the feed counts as public and its item on 10.0.0.5 is refused."""
    assert "<rss" in split["bounced_feed"], split["bounced_feed"][:300]
    assert split["bounced_page"].startswith("refused:"), split["bounced_page"][:300]
    assert "is not fetched for a public origin" in split["bounced_page"]


# -- without a namespace ------------------------------------------------------------------------


def monitor(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "monitor", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
        check=False,
    )


@pytest.fixture
def config(tmp_path: Path) -> Path:
    rules = tmp_path / "rules"
    (rules / "entities").mkdir(parents=True)
    (rules / "feeds.yaml").write_text("feeds:\n  - {id: kept, url: 'https://example.org/f'}\n")
    (rules / "watches.yaml").write_text("rules:\n  - {id: word, match: {any: [alpha]}}\n")
    path = tmp_path / "monitor.yaml"
    path.write_text("rules_dir: rules\nstate_dir: state\n")
    return path


def opml(urls: list[str]) -> str:
    outlines = "".join(f'<outline text="f{n}" xmlUrl="{u}"/>' for n, u in enumerate(urls))
    return f'<?xml version="1.0"?><opml version="2.0"><body>{outlines}</body></opml>'


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9/feed",
        "http://localhost/feed",
        "http://[::ffff:127.0.0.1]/feed",
        "http://2130706433/feed",
        "http://10.1.2.3/feed",
        "http://169.254.169.254/latest/meta-data/",
    ],
)
def test_an_opml_file_cannot_add_internal_feeds(config: Path, url: str) -> None:
    """An OPML file listing a feed on an internal address is refused whole, naming the URL and
    --allow-private; nothing is written."""
    before = (config.parent / "rules" / "feeds.yaml").read_text()
    path = config.parent / "list.opml"
    path.write_text(opml(["https://example.com/ok.xml", url]))
    done = monitor("feeds", "import", path, "--config", config, cwd=config.parent)
    assert 1 == done.returncode, done.stdout + done.stderr
    assert url in done.stderr
    assert "--allow-private" in done.stderr
    assert before == (config.parent / "rules" / "feeds.yaml").read_text()
    if "169.254" not in url:  # the flag allows loopback and private feeds, never metadata
        allowed = monitor(
            "feeds", "import", path, "--config", config, "--allow-private", cwd=config.parent
        )
        assert 0 == allowed.returncode, allowed.stderr
    else:
        again = monitor(
            "feeds", "import", path, "--config", config, "--allow-private", cwd=config.parent
        )
        assert 1 == again.returncode
        assert "never fetched" in again.stderr


def test_an_opml_file_of_100000_outlines_is_refused_quickly(config: Path) -> None:
    """100,000 outlines (7.7 s and 278 MB before the cap) are refused in seconds, naming the file,
    the count and --max-outlines, with nothing written; the flag raises the cap."""
    path = config.parent / "huge.opml"
    path.write_text(opml([f"https://example.com/{n}.xml" for n in range(100_000)]))
    started = time.monotonic()
    done = monitor("feeds", "import", path, "--config", config, cwd=config.parent)
    assert time.monotonic() - started < 10
    assert 2 == done.returncode, done.stderr
    assert str(path) in done.stderr
    assert "100,000 outlines" in done.stderr
    assert "--max-outlines" in done.stderr
    assert "kept" in (config.parent / "rules" / "feeds.yaml").read_text()
    assert "example.com" not in (config.parent / "rules" / "feeds.yaml").read_text()
    small = config.parent / "small.opml"
    small.write_text(opml([f"https://example.com/{n}.xml" for n in range(3)]))
    capped = monitor(
        "feeds", "import", small, "--config", config, "--max-outlines", "2", cwd=config.parent
    )
    assert 2 == capped.returncode
    assert "3 outlines" in capped.stderr
    raised = monitor(
        "feeds", "import", small, "--config", config, "--max-outlines", "3", cwd=config.parent
    )
    assert 0 == raised.returncode, raised.stderr


@pytest.fixture
async def site() -> AsyncIterator[str]:
    """A page whose robots.txt answers 503 (the robots module logs it as unreachable) and a page
    that is readable."""

    async def robots(_: web.Request) -> web.Response:
        return web.Response(status=503)

    async def page(_: web.Request) -> web.Response:
        text = "<p>" + "Readable words about alpha. " * 40 + "</p>"
        return web.Response(text=f"<html><body><article>{text}</article></body></html>",
                            content_type="text/html")  # fmt: skip

    app = web.Application()
    app.router.add_get("/robots.txt", robots)
    app.router.add_get("/{tail:.*}", page)
    async with serve(app) as base:
        yield base


async def test_extract_json_prints_only_json(site: str, tmp_path: Path) -> None:
    """`monitor extract --json` with a page whose robots.txt fails (a log line) and one read
    with --ignore-robots: every stdout line is a JSON object; the log goes to stderr."""
    import asyncio

    first = await asyncio.to_thread(monitor, "extract", "--json", f"{site}/a", cwd=tmp_path)
    second = await asyncio.to_thread(
        monitor, "extract", "--json", "--ignore-robots", f"{site}/b", cwd=tmp_path
    )
    for done in (first, second):
        lines = done.stdout.splitlines()
        assert 1 == len(lines), done.stdout
        assert isinstance(json.loads(lines[0]), dict)
    assert "robots.txt" in json.loads(first.stdout)["error"]
    assert "Readable words" in json.loads(second.stdout)["text"]
    assert free_port()  # the listener ports stay loopback-only


async def test_a_console_added_feed_rebound_to_loopback_is_refused_when_polled(
    tmp_path: Path,
) -> None:
    """DNS rebinding through the console: a feed added by URL is written `public_only: true`;
    when its name later points at 127.0.0.1 (here `localhost`, the add allowed as if the name
    had been public then) the poller refuses it before asking anything, and its internal
    answer never becomes an article. A `public_only:` that is not on or off is a problem at
    its line."""
    import aiohttp

    from monitor.bus.local import LocalBus
    from monitor.feeds.poller import Poller
    from monitor.feeds.settings import PollerConfig
    from monitor.kernel.metrics import make_metrics
    from monitor.matching.loader import read_rules_dir
    from monitor.status.feeddesk import FeedDesk
    from monitor.status.watchdesk import RulesFiles
    from monitor.store.state import StateStore
    from tests.status.test_watchdesk import WHO
    from tests.support.servers import FeedServer

    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "feeds.yaml").write_text("feeds: []\n")
    server = FeedServer()
    async with serve(server.app()) as base:
        server.base = base
        url = f"{base}/feeds/world".replace("127.0.0.1", "localhost")
        desk = FeedDesk(RulesFiles(rules, environ={}), PollerConfig(allow_private=True))
        added = await desk.add(url, WHO)
        assert added["added"] is not None
        rule_set, problems = read_rules_dir(rules)
        assert [] == problems
        (feed,) = rule_set.feeds
        assert feed.public_only
        asked = len(server.requests)
        async with (
            LocalBus(tmp_path / "bus.db") as bus,
            StateStore(tmp_path / "state") as state,
            aiohttp.ClientSession() as session,
        ):
            config = PollerConfig(timeout_s=2.0, host_delay_s=0.0)
            poller = Poller(
                config=config, session=session, state=state, bus=bus, metrics=make_metrics()
            )
            result = await poller.poll(feed)
    assert "address_refused" == result.result
    assert asked == len(server.requests)
    (rules / "feeds.yaml").write_text(
        f"feeds:\n  - id: x\n    url: {url}\n    public_only: maybe\n"
    )
    _, problems = read_rules_dir(rules)
    assert ["`public_only`"] == [p.message.split(" ")[0] for p in problems]
    assert [4] == [p.line for p in problems]
