"""A user's own config directory: `--config-dir DIR` or `MONITOR_HOME=DIR` read DIR/monitor.yaml
from any working directory, with rules and state inside DIR (--config > --config-dir >
MONITOR_HOME > ./monitor.yaml); a missing monitor.yaml and a busy listen port are each said in
one line with what to do. The monitor runs as a subprocess against a feed server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
import time
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path

import pytest

from monitor.commands.home import choose_config
from tests.support.servers import FeedServer, free_port, serve

pytestmark = pytest.mark.timeout(120)

ROOT = Path(__file__).resolve().parents[2]
WATCHES = "rules:\n  - {id: floods, match: {any: [flood]}, severity: high}\n"


def feed(*titles: str) -> bytes:
    """An RSS feed whose items are dated now (so that no first-poll rule holds them back)."""
    date = format_datetime(datetime.now(UTC))
    items = "".join(
        f"<item><title>{t}</title><guid>{t}</guid><pubDate>{date}</pubDate></item>" for t in titles
    )
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>{items}</channel></rss>'.encode()


def env(**more: str) -> dict[str, str]:
    """The environment of a monitor subprocess: this checkout's code, no MONITOR_HOME unless
    given."""
    base = {k: v for k, v in os.environ.items() if k != "MONITOR_HOME"}
    return {**base, "PYTHONPATH": str(ROOT), **more}


async def monitor(
    *args: str, cwd: Path, extra: dict[str, str] | None = None
) -> tuple[int, str, str]:
    """`python -m monitor ARGS` in `cwd`: (exit code, stdout, stderr)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "monitor",
        *args,
        cwd=cwd,
        env=env(**(extra or {})),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 90)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def write_home(home: Path, feed_url: str, port: int) -> None:
    """A config directory: monitor.yaml with relative rules and state, and rules/."""
    (home / "rules").mkdir(parents=True)
    (home / "rules" / "feeds.yaml").write_text(f'feeds:\n  - {{id: wire, url: "{feed_url}"}}\n')
    (home / "rules" / "watches.yaml").write_text(WATCHES)
    (home / "monitor.yaml").write_text(
        "rules_dir: rules\nstate_dir: state\npoller: {host_delay: 0s}\n"
        f'http: {{listen: "127.0.0.1:{port}"}}\n'
        "defaults: {notify: [console]}\nchannels:\n  console: {kind: console}\n"
    )


@pytest.mark.parametrize(
    ("config", "config_dir", "home", "expected", "source"),
    [
        ("a/m.yaml", "b", "c", "a/m.yaml", "--config"),
        (None, "b", "c", "b/monitor.yaml", "--config-dir"),
        (None, None, "c", "c/monitor.yaml", "MONITOR_HOME"),
        (None, None, "", "monitor.yaml", "the current directory"),
        (None, None, None, "monitor.yaml", "the current directory"),
    ],
)
def test_which_config_wins(
    config: str | None, config_dir: str | None, home: str | None, expected: str, source: str
) -> None:
    """--config beats --config-dir, which beats MONITOR_HOME, which beats ./monitor.yaml (an
    empty MONITOR_HOME counts as unset)."""
    environ = {} if home is None else {"MONITOR_HOME": home}
    choice = choose_config(
        Path(config) if config else None, Path(config_dir) if config_dir else None, environ
    )
    assert choice is not None
    assert (Path(expected), source) == (choice.path, choice.source)


def test_optional_config_is_none_without_a_choice() -> None:
    """`check` and `extract` read no config unless one is chosen: not ./monitor.yaml."""
    assert choose_config(None, None, {}, optional=True) is None
    chosen = choose_config(None, None, {"MONITOR_HOME": "h"}, optional=True)
    assert chosen is not None
    assert Path("h/monitor.yaml") == chosen.path


@pytest.mark.parametrize("how", ["MONITOR_HOME", "--config-dir"])
async def test_a_config_dir_runs_from_another_directory(tmp_path: Path, how: str) -> None:
    """From an unrelated working directory, `run --once` reads DIR/monitor.yaml, polls DIR's
    feeds, alerts, writes its state inside DIR and leaves the working directory empty; its start
    event names the config file."""
    home, elsewhere = tmp_path / "home", tmp_path / "elsewhere"
    elsewhere.mkdir()
    server = FeedServer(feeds={"wire": feed("Flood closes Danube roads near Passau")})
    async with serve(server.app()) as base:
        server.base = base
        write_home(home, server.url("/feeds/wire"), free_port())
        if how == "MONITOR_HOME":
            code, out, err = await monitor("run", "--once", cwd=elsewhere, extra={how: str(home)})
        else:
            code, out, err = await monitor(
                "run", "--once", "--config-dir", str(home), cwd=elsewhere
            )
    assert 0 == code, err[-2000:]
    assert "floods" in out
    assert (home / "state").is_dir()
    assert [] == list(elsewhere.iterdir())
    assert str(home / "monitor.yaml") in err  # monitor_started names the file


async def test_check_says_which_config_it_read(tmp_path: Path) -> None:
    """With MONITOR_HOME, `check`'s first line names the config file and what chose it, and it
    checks that config's rules directory."""
    home = tmp_path / "home"
    write_home(home, "http://127.0.0.1:9/feed", free_port())
    code, out, err = await monitor("check", cwd=tmp_path, extra={"MONITOR_HOME": str(home)})
    assert 0 == code, err
    first, second = out.splitlines()[:2]
    assert f"config: {home / 'monitor.yaml'} (from MONITOR_HOME)" == first
    assert f"in {home / 'rules'}" in second


@pytest.mark.parametrize(
    ("args", "extra", "looked_at"),
    [
        (("run",), {}, "{cwd}/monitor.yaml (from the current directory)"),
        (
            ("stories",),
            {"MONITOR_HOME": "{cwd}/nohome"},
            "{cwd}/nohome/monitor.yaml (from MONITOR_HOME)",
        ),
        (
            ("dlq", "list", "--config-dir", "{cwd}/d"),
            {},
            "{cwd}/d/monitor.yaml (from --config-dir)",
        ),
    ],
)
async def test_a_missing_config_says_where_and_what_to_do(
    tmp_path: Path, args: tuple[str, ...], extra: dict[str, str], looked_at: str
) -> None:
    """No monitor.yaml where a command looks: one line naming the path and how it was chosen,
    pointing to `monitor init` and the three ways to name a config; exit 2."""
    cwd = str(tmp_path)
    code, _, err = await monitor(
        *(a.format(cwd=cwd) for a in args),
        cwd=tmp_path,
        extra={k: v.format(cwd=cwd) for k, v in extra.items()},
    )
    assert 2 == code
    (line,) = err.splitlines()
    assert looked_at.format(cwd=cwd) in line
    for hint in ("monitor init", "--config FILE", "--config-dir DIR", "MONITOR_HOME=DIR"):
        assert hint in line


async def test_a_busy_port_is_said_and_the_monitor_exits(tmp_path: Path) -> None:
    """`run` whose http.listen port another program holds exits non-zero within seconds,
    saying the address is in use and what to change, with no traceback or errno text."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        write_home(tmp_path / "home", "http://127.0.0.1:9/feed", port)
        began = time.monotonic()
        code, _, err = await monitor("run", "--config-dir", str(tmp_path / "home"), cwd=tmp_path)
        took = time.monotonic() - began
    assert 0 != code
    assert took < 30
    assert (
        f"monitor did not start: 127.0.0.1:{port} is already in use (another monitor running?)"
        " — set http.listen in monitor.yaml to another port"
    ) in err
    assert "Traceback" not in err
    assert "Errno" not in err
