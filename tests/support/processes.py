"""`monitor run` as a real subprocess, and waiting for what it does."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import textwrap
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import aiohttp

from tests.support.servers import FeedServer, Receiver, free_port, serve


@dataclass
class MonitorProcess:
    """One monitor process with its config; output goes to files in `logs`."""

    config: Path
    http: str
    logs: Path
    env: dict[str, str] = field(default_factory=dict)
    proc: asyncio.subprocess.Process | None = None

    async def start(self, *args: str) -> asyncio.subprocess.Process:
        """Start `monitor run --config CONFIG ARGS...`."""
        self.logs.mkdir(parents=True, exist_ok=True)
        with (
            (self.logs / "stdout.log").open("ab") as out,
            (self.logs / "stderr.log").open("ab") as err,
        ):
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "monitor",
                "run",
                "--config",
                str(self.config),
                *args,
                stdout=out,
                stderr=err,
                env={**os.environ, **self.env},
            )
        return self.proc

    async def stop(self, timeout_s: float = 10) -> int:
        """SIGTERM, and the exit code."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return await asyncio.wait_for(self.proc.wait(), timeout=timeout_s)

    async def kill(self) -> None:
        """SIGKILL: no chance to clean up."""
        if self.proc is not None and self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()

    async def get(self, path: str) -> tuple[int, str]:
        """GET a path of the process's HTTP listener: (status, body); (0, "") if it is not up."""
        try:
            async with aiohttp.ClientSession() as s, s.get(self.http + path) as resp:
                return resp.status, await resp.text()
        except aiohttp.ClientError:
            return 0, ""

    async def metric(self, name: str, labels: dict[str, str] | None = None) -> float:
        """One sample of /metrics (0 when absent)."""
        _, text = await self.get("/metrics")
        wanted = name + (
            "{" + ",".join(f'{k}="{v}"' for k, v in labels.items()) + "}" if labels else ""
        )
        for line in text.splitlines():
            if line.startswith(wanted + " "):
                return float(line.rsplit(" ", 1)[1])
        return 0.0

    async def metric_sum(self, prefix: str) -> float:
        """The sum of every /metrics sample whose line starts with `prefix`."""
        _, text = await self.get("/metrics")
        return sum(float(ln.rsplit(" ", 1)[1]) for ln in text.splitlines() if ln.startswith(prefix))

    def stderr(self) -> str:
        """What the process logged."""
        path = self.logs / "stderr.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stdout(self) -> str:
        """What the process printed (console alerts)."""
        path = self.logs / "stdout.log"
        return path.read_text(errors="replace") if path.exists() else ""


@dataclass
class ServiceRig:
    """A monitor process with its feed server and webhook receiver, in `tmp`."""

    tmp: Path
    feeds: FeedServer
    receiver: Receiver
    monitor: MonitorProcess

    @property
    def rules(self) -> Path:
        return self.tmp / "rules"

    def alerted(self) -> list[tuple[str, str]]:
        """(rule, article title) of every alert received."""
        return [
            (data["rule"]["id"], data["article"]["title"])
            for data in (json.loads(body) for _, body in self.receiver.received)
        ]

    async def until_ready(self) -> None:
        async def ready() -> bool:
            return (await self.monitor.get("/readyz"))[0] == 200

        await eventually(ready, 20, describe=lambda: self.monitor.stderr()[-2000:])


CHECKOUT = Path(__file__).resolve().parents[2]


async def start_demo(cwd: Path, port: int) -> asyncio.subprocess.Process:
    """`monitor demo --port PORT` as a user starts it, from `cwd` (nothing from the checkout:
    its feeds and watch are package data), stdout and stderr piped."""
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "monitor",
        "demo",
        "--port",
        str(port),
        cwd=cwd,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(CHECKOUT)},
    )


def write_rules(tmp_path: Path, feeds: dict[str, str], watches: str) -> Path:
    """A rules directory in `tmp_path/rules`: the feeds (id -> URL, polled every second), the
    watches file's text and an empty entities directory."""
    rules = tmp_path / "rules"
    (rules / "entities").mkdir(parents=True, exist_ok=True)
    lines = [f'  - {{id: {feed}, url: "{url}", interval: 1s}}\n' for feed, url in feeds.items()]
    (rules / "feeds.yaml").write_text("feeds:\n" + "".join(lines))
    (rules / "watches.yaml").write_text(watches)
    return rules


def console_config(
    tmp_path: Path,
    feeds: dict[str, str],
    watches: str = "rules: []\n",
    *,
    port: int | None = None,
    http: str = "",
) -> Path:
    """`tmp_path/monitor.yaml` for a monitor that alerts on the console: `write_rules`' rules
    directory, no per-host delay, the page on `port` (a free one by default; `http`: more keys
    of `http:`, such as `, token: ...`)."""
    write_rules(tmp_path, feeds, watches)
    config = tmp_path / "monitor.yaml"
    config.write_text(
        "rules_dir: rules\n"
        "state_dir: state\n"
        "poller: {host_delay: 0s}\n"
        f'http: {{listen: "127.0.0.1:{port if port is not None else free_port()}"{http}}}\n'
        "defaults: {notify: [console]}\n"
        "channels:\n"
        "  console: {kind: console}\n"
    )
    return config


def webhook_service(
    tmp_path: Path,
    hook_url: str,
    port: int,
    *,
    kind: str = "webhook",
    http: str = "",
    env: dict[str, str] | None = None,
    channel: str = "",
) -> MonitorProcess:
    """Write a monitor.yaml (rules in `tmp_path/rules`, state beside it, every alert to the
    channel of `kind` at `hook_url` with more `channel` keys, listening on `port`, with more
    `http` settings) and return its process, not yet started."""
    config = tmp_path / "monitor.yaml"
    config.write_text(
        textwrap.dedent(f"""\
        rules_dir: rules
        state_dir: state
        poller: {{host_delay: 0s, max_age: 3650d}}  # one local server, many feeds each second (see test_fulltext)
        http: {{listen: "127.0.0.1:{port}"{http}}}
        defaults: {{notify: [hook]}}
        channels:
          hook: {{kind: {kind}, url: "{hook_url}"{channel}}}
        """)
    )
    return MonitorProcess(config, f"http://127.0.0.1:{port}", tmp_path / "logs", env=env or {})


R = TypeVar("R", bound=ServiceRig)


@asynccontextmanager
async def service_rig(
    tmp_path: Path,
    feeds: dict[str, bytes],
    watches: str,
    rig: type[R],
    *,
    channel: str = "",
    env: dict[str, str] | None = None,
) -> AsyncIterator[R]:
    """A feed server serving `feeds` (id -> document, at /feeds/ID), a webhook receiver, a
    rules directory polling every feed each second with `watches`, and the monitor process
    (not yet started; killed on the way out). `channel`: more keys of the webhook channel."""
    server, receiver = FeedServer(), Receiver()
    async with serve(server.app()) as feed_base, serve(receiver.app()) as hook_base:
        server.base, receiver.base = feed_base, hook_base
        server.feeds.update(feeds)
        write_rules(tmp_path, {f: server.url(f"/feeds/{f}") for f in feeds}, watches)
        monitor = webhook_service(
            tmp_path, receiver.url("/hook"), free_port(), channel=channel, env=env
        )
        try:
            yield rig(tmp_path, server, receiver, monitor)
        finally:
            await monitor.kill()


async def eventually(
    check: Callable[[], Awaitable[bool] | bool],
    timeout_s: float = 20,
    describe: Callable[[], object] | None = None,
) -> None:
    """Wait until `check` holds (the monitor works asynchronously); `describe` explains a failure."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        result = check()
        if await result if isinstance(result, Awaitable) else result:
            return
        if loop.time() > deadline:
            detail = f": {describe()}" if describe is not None else ""
            raise AssertionError(f"condition not reached in {timeout_s:g}s{detail}")
        await asyncio.sleep(0.1)
