"""`monitor dlq list | retry | drop`: the dead letters, on either bus, from the command line.

Retries send through the channels configured now (a fixed webhook URL or token takes effect),
while the service may be running: the settlement each retry checks and records is the one the
dispatchers read, so an alert delivered in between is not sent again.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AsyncExitStack
from pathlib import Path
from typing import TextIO

import aiohttp

from monitor import __version__
from monitor.alerts.channels import Sender, Tools, make_sender
from monitor.alerts.deadletters import DeadLetter, Retrier, mark_done, read_open_letters
from monitor.commands.home import config_arguments
from monitor.kernel.errors import BusError, ConfigError, DeliveryError, StorageError
from monitor.kernel.logs import configure_logging
from monitor.kernel.metrics import make_metrics
from monitor.kernel.redact import redact
from monitor.service.config import Config, load_config
from monitor.service.wiring import make_wiring
from monitor.store.state import StateStore

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
CONNECT_TIMEOUT_S = 60.0


def dlq_command(
    config_path: Path,
    action: str,
    *,
    ids: Sequence[str],
    every: bool,
    channel: str | None,
    as_json: bool,
    out: TextIO,
    err: TextIO,
) -> int:
    """Run one `monitor dlq` action; exit 0, 1 when a retry failed again, 2 on bad input (an id
    with no open dead letter among them)."""
    try:
        config = load_config(os.environ, config_path, sends=action == "retry")
    except ConfigError as exc:
        print(exc, file=err)
        return EXIT_USAGE
    configure_logging("warning", secrets=config.secrets())
    try:
        return asyncio.run(_run(config, action, ids, every, channel, as_json, out, err))
    except (BusError, StorageError, TimeoutError) as exc:
        print(f"the bus could not be read or written: {str(exc) or type(exc).__name__}", file=err)
        return EXIT_USAGE


async def _run(
    config: Config,
    action: str,
    ids: Sequence[str],
    every: bool,
    channel: str | None,
    as_json: bool,
    out: TextIO,
    err: TextIO,
) -> int:
    letters = await read_open_letters(config)
    if action == "list":
        print_letters(letters, as_json=as_json, out=out)
        return EXIT_OK
    chosen = [
        letter
        for letter in letters
        if every or letter.id in ids or (channel is not None and letter.channel == channel)
    ]
    missing = sorted(set(ids) - {letter.id for letter in letters})
    for key in missing:
        print(f"{key}: no open dead letter with this id", file=err)
    if not chosen:
        print("nothing to do", file=err)
        return EXIT_USAGE if missing else EXIT_OK
    async with AsyncExitStack() as stack:
        metrics = make_metrics()
        wiring = make_wiring(config, metrics)
        bus = wiring.bus
        async with asyncio.timeout(CONNECT_TIMEOUT_S):
            await stack.enter_async_context(bus)
        if action == "drop":
            await mark_done(bus, chosen, "dropped")
            for letter in chosen:
                print(f"{letter.id} {letter.channel}: dropped", file=out)
            return EXIT_USAGE if missing else EXIT_OK
        state = StateStore(config.state_dir)
        await wiring.stores_state(stack, state)
        retrier = Retrier(
            senders=await _senders(config, stack),
            settlements=await wiring.settlements(stack, state),
            claims=await wiring.claims(stack, state),
            bus=bus,
            metrics=metrics,
            delivery=config.delivery,
        )
        failed = 0
        for letter in chosen:
            try:
                result = await retrier.retry(letter)
            except DeliveryError as exc:
                failed += 1
                result = f"failed again: {exc}"
            print(redact(f"{letter.id} {letter.channel}: {result}"), file=out)
    if failed:
        return EXIT_FAILED
    return EXIT_USAGE if missing else EXIT_OK


async def _senders(config: Config, stack: AsyncExitStack) -> dict[str, Sender]:
    session = await stack.enter_async_context(
        aiohttp.ClientSession(headers={"User-Agent": f"monitor/{__version__}"})
    )
    executor = stack.enter_context(ThreadPoolExecutor(max_workers=2))
    tools = Tools(session, executor)
    return {name: make_sender(c, tools) for name, c in config.channels.items()}


def print_letters(letters: Sequence[DeadLetter], *, as_json: bool, out: TextIO) -> None:
    """One JSON object per line, or a table and a count; secrets redacted (a letter written
    before they were is shown without them)."""
    if as_json:
        for letter in letters:
            print(redact(json.dumps(letter.to_dict(), ensure_ascii=False)), file=out)
        return
    for letter in letters:
        rules = ",".join(letter.rules) or "-"
        line = (
            f"{letter.failed_at[:19]}  {letter.id}  {letter.channel}  {rules}  "
            f"attempts={letter.attempts}  {letter.reason}"
        )
        print(redact(line), file=out)
    print(f"{len(letters)} dead letter(s)", file=out)


def arguments(parser: argparse.ArgumentParser) -> None:
    """The command's arguments."""
    dlq_actions = parser.add_subparsers(dest="action", required=True)
    dlq_list = dlq_actions.add_parser("list", help="the open dead letters")
    dlq_list.add_argument("--json", action="store_true", help="one JSON object per line")
    for name, what in (("retry", "send again (at most once per alert)"), ("drop", "forget")):
        action = dlq_actions.add_parser(name, help=what)
        which = action.add_mutually_exclusive_group(required=True)
        which.add_argument("--id", action="append", default=[], help="a dead letter's id")
        which.add_argument("--all", action="store_true", help="every open dead letter")
        if name == "retry":
            which.add_argument("--channel", help="every open dead letter of this channel")
    for action in dlq_actions.choices.values():
        config_arguments(action)


def main(args: argparse.Namespace) -> int:
    """Run the command; return its exit code."""
    return dlq_command(
        args.config,
        args.action,
        ids=getattr(args, "id", []),
        every=getattr(args, "all", False),
        channel=getattr(args, "channel", None),
        as_json=getattr(args, "json", False),
        out=sys.stdout,
        err=sys.stderr,
    )
