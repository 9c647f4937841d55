"""`monitor preview --rule ID ARTICLE_FILE [--channel NAME]`: what each channel would send.

The article is matched against the rules as the matcher would; for a match of the rule, each
of its channels' messages is printed as it would go out (the request, the email, the line),
with the channel's secrets masked, and nothing is sent.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import TextIO

from monitor.alerts.channels import KINDS, ChannelSettings, Outgoing
from monitor.alerts.channels.base import HttpRequest, Text
from monitor.commands.home import config_arguments
from monitor.commands.inputs import read_articles
from monitor.kernel.errors import ConfigError, InputError, RuleError
from monitor.kernel.models import Alert, MatchedArticle, Reported, Story
from monitor.matching.compiler import compile_rules
from monitor.matching.loader import load_rules_dir
from monitor.matching.matcher import match_article
from monitor.service.config import Config, load_config

EXIT_OK, EXIT_NO_MATCH, EXIT_USAGE = 0, 1, 2
MASK = "***"


def preview_command(
    config_path: Path,
    rule_id: str,
    article_file: Path,
    channels: Sequence[str],
    out: TextIO,
    err: TextIO,
) -> int:
    """Print each channel's message for the rule's match of the article; exit 1 on no match."""
    try:
        config = load_config(os.environ, config_path, sends=False)
        compiled = compile_rules(load_rules_dir(config.rules_dir))
        articles = read_articles(article_file)
    except (ConfigError, RuleError, InputError) as exc:
        print(exc, file=err)
        return EXIT_USAGE
    rule = next((r for r in compiled.rules if r.spec.id == rule_id), None)
    if rule is None:
        print(f"no rule {rule_id!r} in {config.rules_dir}", file=err)
        return EXIT_USAGE
    names = list(channels) or list(rule.spec.notify or config.default_notify)
    aside = [n for n in names if n in config.unusable_channels]
    for name in aside:  # its secrets are not in the environment: its message cannot be shown
        print(f"channel {name!r} cannot be previewed: {config.unusable_channels[name]}", file=err)
    if aside:
        return EXIT_USAGE
    unknown = [n for n in names if n not in config.channels]
    if unknown:
        print(f"no channel named {', '.join(map(repr, unknown))} in {config_path}", file=err)
        return EXIT_USAGE
    shown = 0
    for article in articles:
        found = [m for m in match_article(article, compiled) if m.rule_id == rule_id]
        if not found:
            print(f"rule {rule_id!r} does not match {article.title or article.id!r}", file=err)
            continue
        matched = MatchedArticle(
            match=found[0], article=article, description=compiled.descriptions.get(rule_id, "")
        )
        for name in names:
            print(channel_preview(config, name, matched), file=out)
            shown += 1
    if not names:
        print(f"rule {rule_id!r} notifies no channel", file=err)
    return EXIT_OK if shown else EXIT_NO_MATCH


def channel_preview(config: Config, name: str, matched: MatchedArticle) -> str:
    """The heading and the message one channel would send for a matched article."""
    settings = config.channels[name]
    a = matched.article
    seen = a.fetched_at or a.published or datetime.now(UTC)
    reported = Reported(article_id=a.id, feed=a.feed or "", title=a.title, url=a.url, seen_at=seen)
    alert = Alert.for_channel(matched, name, Story(id=a.id, articles=(reported,)))
    outgoing = KINDS[settings.kind].message(settings, alert)
    how = "template" if settings.template is not None else "default message"
    return f"=== channel {name} ({settings.kind}, {how}) ===\n{shown(outgoing, settings)}\n"


def shown(outgoing: Outgoing, settings: ChannelSettings) -> str:
    """The message as text: an HTTP request line, headers and body; an email; a line."""
    if isinstance(outgoing, HttpRequest):
        lines = [f"{outgoing.method} {outgoing.url}"]
        lines += [f"{k}: {v}" for k, v in outgoing.headers.items()]
        try:
            body = json.dumps(json.loads(outgoing.body), ensure_ascii=False, indent=2)
        except ValueError:
            body = outgoing.body.decode("utf-8", "replace")
        text = "\n".join(lines) + "\n\n" + body
    elif isinstance(outgoing, EmailMessage):
        text = outgoing.as_string()
    else:
        assert isinstance(outgoing, Text)  # noqa: S101 - the three kinds of message
        text = f"{outgoing.title}\n{outgoing.text}" if outgoing.title else outgoing.text
    for secret in sorted(settings.secrets(), key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text


def arguments(parser: argparse.ArgumentParser) -> None:
    """The command's arguments."""
    config_arguments(parser)
    parser.add_argument("--rule", required=True, help="the rule's id")
    parser.add_argument(
        "--channel", action="append", default=[], help="only this channel (repeatable)"
    )
    parser.add_argument("article", type=Path, metavar="ARTICLE_FILE", help="JSON article or feed")


def main(args: argparse.Namespace) -> int:
    """Run the command; return its exit code."""
    return preview_command(
        args.config, args.rule, args.article, args.channel, sys.stdout, sys.stderr
    )
