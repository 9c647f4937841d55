"""Commands that send nothing need no channel secrets: with a channel's `${VAR}` unset,
`stories`, `backtest`, `shadow-report`, `dlq list`, `feeds export` and `feeds test` run and exit
0; `preview` of that channel says why it cannot; `run` and `dlq retry` still refuse, naming the
variable. Each command runs as a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from tests.support.processes import write_rules
from tests.support.servers import FeedServer, rss, serve

pytestmark = pytest.mark.timeout(120)

WATCHES = (
    "rules:\n  - {id: floods, match: {any: [flood]}, severity: high, notify: [slack, console]}\n"
)
UNSET = "MONITOR_TEST_SLACK_URL_NEVER_SET"


def config(tmp: Path, feed_url: str = "http://127.0.0.1:9/feed") -> Path:
    """A monitor.yaml whose slack channel (the default, and health's) needs an unset variable."""
    write_rules(tmp, {"wire": feed_url}, WATCHES)
    path = tmp / "monitor.yaml"
    path.write_text(
        textwrap.dedent(f"""\
        rules_dir: rules
        state_dir: state
        defaults: {{notify: [slack]}}
        health: {{notify: [slack]}}
        channels:
          slack: {{kind: slack, url: "${{{UNSET}}}"}}
          console: {{kind: console}}
        """)
    )
    return path


def monitor(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`monitor ARGS...` with this worktree's code, `UNSET` not in the environment."""
    environ = {k: v for k, v in os.environ.items() if k != UNSET} | (env or {})
    return subprocess.run(
        [sys.executable, "-m", "monitor", *args],
        capture_output=True, text=True, timeout=90, env=environ, check=False,
    )  # fmt: skip


@pytest.mark.parametrize(
    "command",
    [
        ["stories"],
        ["backtest", "--since", "1d"],
        ["shadow-report"],
        ["dlq", "list"],
        ["dlq", "list", "--json"],
        ["feeds", "export"],
        ["feeds", "export", "--opml"],
    ],
)
def test_read_only_commands_need_no_channel_secret(tmp_path: Path, command: list[str]) -> None:
    """The command reads the config with the slack channel set aside, and exits 0."""
    path = config(tmp_path)
    done = monitor(*command, "--config", str(path))
    assert 0 == done.returncode, done.stderr
    assert UNSET not in done.stdout


async def test_feeds_test_needs_no_channel_secret(tmp_path: Path) -> None:
    """`feeds test` fetches a feed from a local server and shows its item: exit 0."""
    server = FeedServer()
    server.feeds["wire"] = rss("Flood closes Danube roads near Passau")
    async with serve(server.app()) as base:
        server.base = base
        path = config(tmp_path, server.url("/feeds/wire"))
        proc = await _spawn("feeds", "test", "wire", "--allow-private", "--config", str(path))
        out, err = await proc.communicate()
    assert 0 == proc.returncode, err.decode()
    assert "Flood closes Danube roads" in out.decode()


async def _spawn(*args: str) -> Any:
    import asyncio

    environ = {k: v for k, v in os.environ.items() if k != UNSET}
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "monitor", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=environ,
    )  # fmt: skip


def test_run_and_dlq_retry_still_need_the_secret(tmp_path: Path) -> None:
    """`run --once` exits 1 and `dlq retry` 2, each naming the variable and its line, as
    before."""
    path = config(tmp_path)
    wanted = f"{path}:6: environment variable {UNSET} is not set"
    ran = monitor("run", "--once", "--config", str(path))
    assert 1 == ran.returncode
    assert wanted in ran.stderr
    assert "monitor did not start: fix the problems above" in ran.stderr
    retried = monitor("dlq", "retry", "--all", "--config", str(path))
    assert 2 == retried.returncode
    assert wanted in retried.stderr


def test_check_config_still_needs_the_secret(tmp_path: Path) -> None:
    """`check --config` validates what `run` will read: the unset variable is a problem."""
    done = monitor("check", "--config", str(config(tmp_path)))
    assert 1 == done.returncode
    assert f"environment variable {UNSET} is not set" in done.stderr


def test_preview_says_which_channel_cannot_be_shown(tmp_path: Path) -> None:
    """`preview` of the rule: the console channel would be fine, but the slack channel needs
    its variable; exit 2 saying so. `--channel console` alone previews."""
    path = config(tmp_path)
    article = tmp_path / "article.xml"
    article.write_bytes(rss("Flood closes Danube roads near Passau"))
    done = monitor("preview", "--rule", "floods", str(article), "--config", str(path))
    assert 2 == done.returncode
    assert f"channel 'slack' cannot be previewed: environment variable {UNSET} is not set" in (
        done.stderr
    )
    console = monitor(
        "preview", "--rule", "floods", str(article), "--channel", "console", "--config", str(path)
    )
    assert 0 == console.returncode, console.stderr
    assert "=== channel console" in console.stdout
