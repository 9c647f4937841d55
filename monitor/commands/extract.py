"""`monitor extract (URL | FILE.html)... [--json]`: what the matcher would see for a page.

A URL is fetched as the poller fetches an item's page (the config's poller settings, its
User-Agent, address policy and body limit, and robots.txt unless `--ignore-robots`); a file is
read as it is. A URL given is its own origin: fetched even on a loopback or private address, but
a public page's redirect to one is refused unless `--allow-private`; link-local and cloud
metadata addresses never. stdout carries only the pages (or the JSON); logs go to stderr. The
text is extracted as the service does it, in a worker process with the config's `fulltext`
limits (`page_timeout`, `page_memory_bytes`).

Each page's title, language (the page's `lang`, unless clearly wrong, else detected) and main
text are printed: with `--json`, one JSON object a line with `source`, `title`, `language` and
`text` (or `source` and `error`). Exit 0 when every page gave text, 1 when one did not, 2 when
the extractor is not installed or the config cannot be read.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, TextIO

from yarl import URL

from monitor.commands.common import ALLOW_PRIVATE
from monitor.commands.home import config_arguments
from monitor.feeds.addresses import FLAG
from monitor.feeds.client import Client
from monitor.feeds.extract import EXTRA_HINT, Page, available
from monitor.feeds.fulltext import ACCEPT, PageFailed, extract_in, page_sandbox
from monitor.feeds.guard import guarded_session
from monitor.feeds.robots import Robots
from monitor.feeds.sandbox import Sandbox
from monitor.feeds.settings import FulltextConfig, PollerConfig
from monitor.kernel.errors import ConfigError, FeedFetchError
from monitor.kernel.language import article_language
from monitor.kernel.logs import configure_logging
from monitor.kernel.models import make_article
from monitor.service.config import load_config

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def extract_command(
    inputs: Sequence[str],
    *,
    config_path: Path | None,
    selector: str | None,
    ignore_robots: bool,
    as_json: bool,
    allow_private: bool = False,
    out: TextIO,
    err: TextIO,
) -> int:
    """Print what each input page gives the matcher (see the module docstring)."""
    if not available():
        print(f"monitor extract needs the page extractor: {EXTRA_HINT}", file=err)
        return EXIT_USAGE
    poller, fulltext = PollerConfig(), FulltextConfig()
    if config_path is not None:
        try:
            config = load_config(os.environ, config_path, sends=False)
        except ConfigError as exc:
            print(exc, file=err)
            return EXIT_USAGE
        poller, fulltext = config.poller, config.fulltext
    if allow_private:
        poller = replace(poller, allow_private=True)
    results = asyncio.run(_extract_all(inputs, poller, fulltext, selector, ignore_robots))
    for result in results:
        if as_json:
            print(json.dumps(result, ensure_ascii=False), file=out)
        elif "error" in result:
            print(f"{result['source']}: {result['error']}", file=err)
        else:
            print(f"== {result['source']}", file=out)
            print(f"title: {result['title']}", file=out)
            print(f"language: {result['language'] or 'unknown'}\n", file=out)
            print(result["text"] + "\n", file=out)
    return EXIT_OK if all("error" not in r for r in results) else EXIT_FAILED


async def _extract_all(
    inputs: Sequence[str],
    poller: PollerConfig,
    fulltext: FulltextConfig,
    selector: str | None,
    ignore_robots: bool,
) -> list[dict[str, Any]]:
    sandbox = page_sandbox(fulltext)
    try:
        return await _extract_each(inputs, poller, sandbox, selector, ignore_robots)
    finally:
        sandbox.close()


async def _extract_each(
    inputs: Sequence[str],
    poller: PollerConfig,
    sandbox: Sandbox,
    selector: str | None,
    ignore_robots: bool,
) -> list[dict[str, Any]]:
    async with guarded_session() as session:
        client = Client(session, poller)
        client.hint = FLAG
        user_agent = client.user_agent
        robots = None if ignore_robots else Robots(client, user_agent)
        results = []
        for source in inputs:
            try:
                body, url = await _read(source, client, robots, user_agent)
            except (OSError, FeedFetchError) as exc:
                results.append({"source": source, "error": str(exc)})
                continue
            try:
                page = await extract_in(sandbox, body, url, selector)
            except PageFailed as exc:
                results.append({"source": source, "error": f"{exc} ({exc.result})"})
                continue
            results.append(_result(source, page))
        return results


async def _read(
    source: str, client: Client, robots: Robots | None, user_agent: str
) -> tuple[bytes, str]:
    if not source.startswith(("http://", "https://")):
        return await asyncio.to_thread(Path(source).read_bytes), ""
    await client.check(source, await client.guard(URL(source)))  # before robots.txt is asked
    if robots is not None and not await robots.allowed(source):
        raise FeedFetchError("robots.txt disallows it (the poller would not read it either)")
    fetched = await client.get(source, {"User-Agent": user_agent, "Accept": ACCEPT})
    if fetched.body is None:
        raise FeedFetchError(f"HTTP {fetched.status} {fetched.reason}".strip())
    return fetched.body, str(fetched.url)


def _result(source: str, page: Page) -> dict[str, Any]:
    if not page.text:
        return {"source": source, "error": "no article text found on the page"}
    article = make_article(id=source, title=page.title, content=page.text)
    language = article_language(replace(article, language=page.language))
    return {"source": source, "title": page.title, "language": language, "text": page.text}


def arguments(parser: argparse.ArgumentParser) -> None:
    """The command's arguments."""
    parser.add_argument("inputs", nargs="+", metavar="URL_OR_FILE", help="a URL or an HTML file")
    parser.add_argument("--json", action="store_true", help="one JSON object per page")
    config_arguments(parser, optional=True)  # the poller settings
    parser.add_argument("--selector", help="a CSS selector for the text (`fulltext_selector`)")
    parser.add_argument(
        "--ignore-robots", action="store_true", help="fetch even where robots.txt disallows"
    )
    parser.add_argument("--allow-private", action="store_true", help=ALLOW_PRIVATE)


def main(args: argparse.Namespace) -> int:
    """Run the command; return its exit code."""
    configure_logging("warning")  # to stderr: stdout carries only the pages (or the JSON)
    return extract_command(
        args.inputs,
        config_path=args.config,
        selector=args.selector,
        ignore_robots=args.ignore_robots,
        allow_private=args.allow_private,
        as_json=args.json,
        out=sys.stdout,
        err=sys.stderr,
    )
