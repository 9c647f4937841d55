"""`monitor init [DIR]`: write a starter directory of one's own, outside the checkout.

DIR gets monitor.yaml (the console channel, the local bus, state/ inside DIR), rules/ with one
example watch and a feeds.yaml, and a secrets.env template (mode 0600). Nothing that exists is
overwritten: each file is created exclusively (`O_EXCL`, so never through a symlink either), and
when any of them is there already the command names them and writes nothing.

Without DIR it writes to $MONITOR_HOME, so the commands after it find the directory unasked, or
else to $XDG_CONFIG_HOME/monitor (~/.config/monitor): per user, outside any checkout.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Final, TextIO

from monitor.commands.home import CONFIG_NAME, HOME_VAR, default_init_dir

EXIT_OK, EXIT_EXISTS, EXIT_CANNOT_WRITE = 0, 1, 2

MONITOR_YAML: Final = """\
# monitor's configuration, written by `monitor init`. Paths are relative to this file.
# `${NAME}` in a value is read from the environment, or else from secrets.env beside this file.
# Every key: docs/configuration.md.
rules_dir: rules
state_dir: state          # the local bus, seen items, alert history: all kept here
bus: local
http: {listen: "127.0.0.1:9464"}   # the status page, /metrics and /healthz
defaults: {notify: [console]}
channels:
  console: {kind: console}
  # More channels (docs/channels.md); put their secrets in secrets.env:
  # team-slack: {kind: slack, url: "${SLACK_WEBHOOK_URL}"}
  # ops-hook: {kind: webhook, url: "https://example.org/hook", secret: "${HOOK_SECRET}"}
"""

FEEDS_YAML: Final = """\
# The feeds to poll (docs/rules.md). `monitor feeds add URL --config-dir DIR` adds one.
feeds:
  - id: bbc-world
    url: https://feeds.bbci.co.uk/news/world/rss.xml
    interval: 5m
"""

WATCHES_YAML: Final = """\
# Your watches (docs/rules.md). `monitor check --config-dir DIR` checks them; the service
# reloads this directory when a file changes. The entity pack that ships with monitor (the
# 193 UN member states and their tags, such as `tag:eu` or `tag:cis`) comes with every rules
# directory; entities/*.yaml here add to it.
rules:
  - id: my-first-watch
    description: Earthquakes, floods and wildfires, in every feed (an example to edit)
    match:
      any: [earthquake*, "flood*", wildfire*]
    # No `feeds:`, so every feed counts, those `monitor feeds add` adds too; `feeds: [ID]`
    # keeps a watch to some of them.
    severity: medium
"""

SECRETS_ENV: Final = """\
# Secrets for monitor.yaml's ${NAME}s, one NAME=value a line (quote values with spaces or #).
# Every monitor command that reads this directory reads this file; the environment wins over
# it. monitor refuses it if group or others may read it: keep it mode 0600, out of git.
# SLACK_WEBHOOK_URL=https://hooks.slack.com/services/T000/B000/XXXX
# HOOK_SECRET='a long random string'
"""

# (path inside DIR, text, mode): in the order written.
FILES: Final = (
    (CONFIG_NAME, MONITOR_YAML, 0o644),
    ("rules/feeds.yaml", FEEDS_YAML, 0o644),
    ("rules/watches.yaml", WATCHES_YAML, 0o644),
    ("secrets.env", SECRETS_ENV, 0o600),
)


def arguments(parser: argparse.ArgumentParser) -> None:
    """The command's arguments."""
    parser.add_argument(
        "directory",
        nargs="?",
        type=Path,
        metavar="DIR",
        help=f"where to write (default: ${HOME_VAR}, else ~/.config/monitor)",
    )


def main(args: argparse.Namespace) -> int:
    """Run the command; return its exit code."""
    directory = args.directory or default_init_dir(os.environ)
    program = program_name(sys.argv[0], shutil.which, sys.executable)
    return init(directory.expanduser(), sys.stdout, sys.stderr, program=program)


def program_name(argv0: str, which: Callable[[str], str | None], executable: str) -> str:
    """How the next steps can run monitor again, as this process was run: `monitor` when that
    name on PATH is this very script, else the script's path (`.venv/bin/monitor` is not on
    PATH until the venv is activated), or `python -m monitor` with this interpreter."""
    script = Path(argv0)
    if script.name == "__main__.py":  # python -m monitor
        return f"{shlex.quote(executable)} -m monitor"
    found = which("monitor")
    if found is not None and _same_file(Path(found), script):
        return "monitor"
    return shlex.quote(str(script.absolute()))


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.samefile(b)
    except OSError:
        return False


def init(directory: Path, out: TextIO, err: TextIO, *, program: str = "monitor") -> int:
    """Write the starter files into `directory`: 0 written, 1 some exist already (nothing
    written), 2 the directory cannot be made or written. `program`: how the next steps it
    prints run monitor."""
    there = [name for name, _, _ in FILES if os.path.lexists(directory / name)]
    if there:
        print(
            f"monitor init: {directory} already has {', '.join(there)}; nothing written "
            "(move them away, or choose another directory)",
            file=err,
        )
        return EXIT_EXISTS
    written: list[str] = []
    try:
        for name, text, mode in FILES:
            path = directory / name
            path.parent.mkdir(parents=True, exist_ok=True)
            _create(path, text, mode)
            written.append(name)
    except OSError as exc:
        where = exc.filename or directory
        done = f" (written before it: {', '.join(written)})" if written else ""
        print(f"monitor init: cannot write {where}: {exc.strerror or exc}{done}", file=err)
        return EXIT_CANNOT_WRITE
    print(next_steps(directory, program), file=out)
    return EXIT_OK


def _create(path: Path, text: str, mode: int) -> None:
    """Create `path` with `text`: never an existing file, never through a symlink."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(path, flags, mode)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)


def next_steps(directory: Path, program: str = "monitor") -> str:
    """What `monitor init` prints once it has written `directory`; `program` runs monitor."""
    shown = shlex.quote(str(directory.absolute()))
    steps = (
        (f"{program} check --config-dir {shown}", "check the config and the watches"),
        (f"{program} run --config-dir {shown}", "run it; the status page: http://127.0.0.1:9464"),
        (f"export {HOME_VAR}={shown}", "then --config-dir can be left out"),
    )
    width = max(len(command) for command, _ in steps) + 3
    return "\n".join(
        (
            f"wrote {directory.absolute()}: {CONFIG_NAME}, rules/feeds.yaml, "
            "rules/watches.yaml, secrets.env (mode 0600)",
            "next:",
            *(f"  {command.ljust(width)}{what}" for command, what in steps),
            f"secrets (webhook URLs, tokens, passwords) go in {shown}/secrets.env as NAME=value;",
            "monitor.yaml names them as ${NAME}. The environment wins over the file.",
        )
    )
