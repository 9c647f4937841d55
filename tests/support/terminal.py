"""`monitor run` with its stderr on a pseudo-terminal, as a person at a terminal sees it."""

from __future__ import annotations

import asyncio
import os
import pty
import signal
import sys
from pathlib import Path

from tests.support.processes import eventually


class TerminalMonitor:
    """A monitor process whose stderr is a pty (so it writes for people); `screen()` is what it
    wrote there, with the pty's CR LF turned back into LF."""

    def __init__(
        self, config: Path, env: dict[str, str] | None = None, args: tuple[str, ...] = ()
    ) -> None:
        self.config = config
        self.env = env or {}
        self.args = args  # after `run --config CONFIG` (`--once`)
        self.proc: asyncio.subprocess.Process | None = None
        self._out = bytearray()
        self._master = -1

    async def start(self) -> None:
        """Start `monitor run --config CONFIG ARGS...` with stderr on the pty."""
        master, slave = pty.openpty()
        self._master = master
        os.set_blocking(master, False)
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "monitor",
            "run",
            "--config",
            str(self.config),
            *self.args,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=slave,
            env={**os.environ, **self.env},
        )
        os.close(slave)
        asyncio.get_running_loop().add_reader(master, self._read)

    def _read(self) -> None:
        try:
            chunk = os.read(self._master, 65536)
        except BlockingIOError:
            return
        except OSError:  # EIO: the child closed its end
            chunk = b""
        if not chunk:
            asyncio.get_running_loop().remove_reader(self._master)
            return
        self._out += chunk

    def screen(self) -> str:
        """Everything written to the terminal so far."""
        return self._out.decode(errors="replace").replace("\r\n", "\n")

    async def wait_for(self, test: str, timeout_s: float = 30) -> None:
        """Until `test` is on the screen."""
        await eventually(lambda: test in self.screen(), timeout_s, describe=self.screen)

    async def exited(self, timeout_s: float = 60) -> int:
        """Wait for the process to end by itself (`--once`); its exit code."""
        assert self.proc is not None
        await asyncio.wait_for(self.proc.wait(), timeout=timeout_s)
        return await self.stop()

    async def stop(self) -> int:
        """SIGTERM; the exit code."""
        assert self.proc is not None
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(self.proc.wait(), timeout=15)
        await asyncio.sleep(0.1)  # the last bytes
        loop = asyncio.get_running_loop()
        loop.remove_reader(self._master)
        os.close(self._master)
        return code
