"""`monitor demo` against what can go wrong on a user's machine: its port taken."""

from __future__ import annotations

import asyncio
import socket
import time
from pathlib import Path

from tests.support.processes import start_demo


async def test_demo_on_a_busy_port_says_so_and_exits_non_zero(tmp_path: Path) -> None:
    """Another program listening on the asked port: the demo says which port and what to do
    (another --port, or none), prints nothing on stdout, and exits 1 at once."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        started = time.monotonic()
        proc = await start_demo(tmp_path, port)
        out, err = await asyncio.wait_for(proc.communicate(), 20)
    assert 1 == proc.returncode
    assert b"" == out
    message = err.decode()
    assert f"cannot listen on 127.0.0.1:{port}" in message
    assert "--port" in message
    assert "Traceback" not in message
    assert time.monotonic() - started < 10
