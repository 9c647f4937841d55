"""`monitor demo`: the monitor at work in seconds, offline.

It serves three bundled sample feeds (`demo_data/feeds/`) from a server of its own on
127.0.0.1: a world feed carrying a report on the CIS defence ministers, a wire feed carrying a
copy of it, and a sport feed whose football story names the CIS and its defence minister (a
decoy the watch excludes). It runs the monitor against them with a bundled watch
(`demo_data/rules/`), a temporary state directory, the console channel and the status page, and
prints the alert, the folded copy and the page's URL. Nothing leaves 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import socket
import sys
import tempfile
import textwrap
from datetime import UTC, datetime
from email.utils import format_datetime
from importlib import resources
from pathlib import Path

import aiohttp
from aiohttp import web

from monitor.commands.common import EXIT_INVALID, EXIT_OK
from monitor.commands.run import first_of
from monitor.kernel.errors import ConfigError, RuleError
from monitor.kernel.logs import configure_logging
from monitor.matching.loader import load_rules_dir
from monitor.service.app import Service
from monitor.service.config import load_config

FEEDS = ("world", "wire", "sport")  # the bundled feeds, demo_data/feeds/NAME.rss
POLL_INTERVAL = "30s"  # each feed's first poll comes within a tenth of it (jitter)
ONCE_TIMEOUT_S = 30.0  # --once: how long the alert and the fold may take


def arguments(parser: argparse.ArgumentParser) -> None:
    """The command's arguments."""
    parser.add_argument(
        "--port",
        type=int,
        default=0,
        help="the status page's port on 127.0.0.1 (default: a free one)",
    )
    parser.add_argument(
        "--once",
        action="store_true",
        help=f"exit once the alert and the folded copy are shown (exit 1 if not in "
        f"{ONCE_TIMEOUT_S:g}s)",
    )


def main(args: argparse.Namespace) -> int:
    """Run the demo until Ctrl-C (or, with --once, until it has shown its alert and fold)."""
    port: int = args.port
    try:
        port = _check_port(port)
    except OSError as exc:
        print(
            f"monitor demo: cannot listen on 127.0.0.1:{port} ({exc.strerror or exc}): "
            "another program holds it; choose another port with --port N, or leave --port out "
            "for a free one",
            file=sys.stderr,
        )
        return EXIT_INVALID
    with tempfile.TemporaryDirectory(prefix="monitor-demo-") as tmp:
        try:
            return asyncio.run(_demo(Path(tmp), port, once=args.once))
        except (OSError, ExceptionGroup) as exc:  # the port taken since the check, or the like
            failed = first_of(exc, OSError)
            if failed is None:
                raise
            print(f"monitor demo: did not start: {failed}", file=sys.stderr)
            return EXIT_INVALID


def _check_port(port: int) -> int:
    """`port` if it is free on 127.0.0.1 (a free one for 0); OSError if it is taken."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))
        bound: int = s.getsockname()[1]
        return bound


def feed_document(name: str, now: datetime) -> bytes:
    """The bundled feed `name`, its items dated `now` (so they are news whenever it runs)."""
    text = (resources.files("monitor.commands") / "demo_data" / "feeds" / f"{name}.rss").read_text(
        "utf-8"
    )
    date = format_datetime(now, usegmt=True)
    return text.replace("Fri, 31 Oct 2025 15:02:00 GMT", date).encode()


def write_setup(tmp: Path, feeds_base: str, port: int) -> Path:
    """The demo's rules (the bundled watch, feeds at `feeds_base`) and monitor.yaml in `tmp`;
    the config's path."""
    rules = tmp / "rules"
    bundled = resources.files("monitor.commands") / "demo_data" / "rules"
    with resources.as_file(bundled) as source:
        shutil.copytree(source, rules)
    lines = [
        f"  - {{id: {f}, url: {feeds_base}/{f}.rss, interval: {POLL_INTERVAL}}}" for f in FEEDS
    ]
    (rules / "feeds.yaml").write_text("feeds:\n" + "\n".join(lines) + "\n")
    config = tmp / "monitor.yaml"
    config.write_text(
        textwrap.dedent(f"""\
        rules_dir: rules
        state_dir: state
        poller: {{host_delay: 0s}}  # the three feeds share one host, 127.0.0.1
        http: {{listen: "127.0.0.1:{port}"}}
        defaults: {{notify: [console]}}
        channels:
          console: {{kind: console}}
        """)
    )
    return config


async def serve_feeds() -> tuple[web.AppRunner, str]:
    """The bundled feeds at http://127.0.0.1:PORT/NAME.rss (a free port): the runner and base."""
    now = datetime.now(UTC)
    documents = {f"{name}.rss": feed_document(name, now) for name in FEEDS}

    async def feed(request: web.Request) -> web.Response:
        body = documents.get(request.match_info["name"])
        if body is None:
            raise web.HTTPNotFound
        return web.Response(body=body, content_type="application/rss+xml")

    app = web.Application()
    app.router.add_get("/{name}", feed)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    return runner, f"http://127.0.0.1:{port}"


async def _demo(tmp: Path, port: int, *, once: bool) -> int:
    runner, base = await serve_feeds()
    try:
        config_path = write_setup(tmp, base, port)
        try:
            config = load_config(os.environ, config_path)
            rule_set = load_rules_dir(config.rules_dir)
        except (ConfigError, RuleError) as exc:  # a broken install: the bundled files
            print(f"monitor demo: {exc}", file=sys.stderr)
            return EXIT_INVALID
        configure_logging("error", secrets=config.secrets())  # its own lines say it all
        service = Service(config, rule_set)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        page = f"http://127.0.0.1:{port}/"
        async with asyncio.TaskGroup() as tg:
            running = tg.create_task(service.run(stop))
            shown = await narrate(service, page, base, stop, running, once=once)
            stop.set()  # the service finishes what it holds, and the group waits for it
        return EXIT_OK if shown or not once else EXIT_INVALID
    finally:
        await runner.cleanup()


async def narrate(
    service: Service,
    page: str,
    base: str,
    stop: asyncio.Event,
    running: asyncio.Task[None],
    *,
    once: bool,
) -> bool:
    """Say what the demo does, then each folded copy as it comes (the console channel prints
    the alerts) and, once the sport feed is read, that its decoy did not alert. Return when
    `stop` is set, or with `once` when both are said (True; False after `ONCE_TIMEOUT_S`)."""
    if not await _page_up(page, running):
        return False
    say(f"monitor demo: sample feeds world, wire and sport served at {base}/ (offline)")
    say("watch: cis-defense-cooperation (CIS defence news, never football); alerts print here")
    say(f"status page: {page} · Ctrl-C to stop")
    told: set[str] = set()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + ONCE_TIMEOUT_S
    while not stop.is_set() and not running.done():
        for line in news(service, told):
            say(line)
        if once and "decoy" in told and len(told) > 1:
            return True
        if once and loop.time() > deadline:
            say(f"monitor demo: no folded copy within {ONCE_TIMEOUT_S:g}s", err=True)
            return False
        await asyncio.sleep(0.2)
    return len(told) > 1


def news(service: Service, told: set[str]) -> list[str]:
    """The lines not yet said (`told` keeps what was): each folded copy, and the decoy's
    silence once the sport feed is read and a copy has folded."""
    lines = []
    recent = service.status.recent
    for alert in recent.newest_first() if recent is not None else []:
        folded = any(state == "folded" for state, _ in alert.channels.values())
        if folded and alert.key not in told:
            told.add(alert.key)
            lines.append(f"FOLDED [{alert.feed}] {alert.title}: the same report, no second alert")
            lines.append(f"  ({alert.story or 'the story above'})")
    board = service.status.board
    sport = board.snapshot().get("sport") if board is not None else None
    if told and "decoy" not in told and sport is not None and sport.last_poll_ms is not None:
        told.add("decoy")
        lines.append("NO ALERT [sport] Local football club wins CIS youth championship: it names")
        lines.append("  the CIS and its defence minister, but the watch excludes football")
    return lines


async def _page_up(page: str, running: asyncio.Task[None]) -> bool:
    """Wait until the status page answers (False if the service ended first)."""
    async with aiohttp.ClientSession() as session:
        while not running.done():
            try:
                async with session.get(page + "healthz") as resp:
                    if resp.status == 200:
                        return True
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    return False


def say(line: str, *, err: bool = False) -> None:
    """One line of the demo's own, at once (stdout may be a pipe)."""
    print(line, file=sys.stderr if err else sys.stdout, flush=True)
