"""`monitor demo` as a user runs it: a subprocess that shows an alert, its folded copy and the
status page, offline, until Ctrl-C."""

from __future__ import annotations

import asyncio
import fnmatch
import signal
import tomllib
from pathlib import Path

import aiohttp

from tests.conftest import ROOT
from tests.support.processes import start_demo
from tests.support.servers import free_port

DEMO_DATA = ROOT / "monitor" / "commands" / "demo_data"


async def _lines_until(stream: asyncio.StreamReader, wanted: str, seen: list[str]) -> None:
    """Read lines into `seen` until one starts with `wanted`."""
    while True:
        line = (await stream.readline()).decode()
        if not line:
            raise AssertionError(f"output ended before {wanted!r}: {seen}")
        seen.append(line.rstrip("\n"))
        if line.startswith(wanted):
            return


async def test_demo_alerts_folds_and_serves_its_page_until_ctrl_c(tmp_path: Path) -> None:
    """The plain command prints the page's URL and Ctrl-C, one alert for the seed report, its
    copy from the second feed as folded, and the decoy as not alerted; the page answers with
    the alert on it; SIGINT ends it with exit 0."""
    port = free_port()
    proc = await start_demo(tmp_path, port)
    assert proc.stdout is not None
    assert proc.stderr is not None
    seen: list[str] = []
    try:
        await asyncio.wait_for(_lines_until(proc.stdout, "NO ALERT", seen), 30)
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"http://127.0.0.1:{port}/") as resp,
        ):
            page = await resp.text()
            status = resp.status
        proc.send_signal(signal.SIGINT)
        code = await asyncio.wait_for(proc.wait(), 15)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    rest = (await proc.stdout.read()).decode()
    errors = (await proc.stderr.read()).decode()
    output = "\n".join(seen) + "\n" + rest
    assert f"status page: http://127.0.0.1:{port}/ · Ctrl-C to stop" in output
    alerts = [ln for ln in output.splitlines() if ln.startswith("ALERT ")]
    assert len(alerts) == 1, output
    assert "cis-defense-cooperation" in alerts[0]
    assert "Belousov Pins Strengthening of Army" in alerts[0]
    folded = [ln for ln in output.splitlines() if ln.startswith("FOLDED ")]
    assert len(folded) == 1, output
    assert "Belousov Pins Strengthening of Army" in folded[0]
    assert {"[world]", "[wire]"} == {alerts[0].split("> ")[1][:7].strip(), folded[0][7:14].strip()}
    assert "football" not in alerts[0]
    assert 200 == status
    assert "Belousov Pins Strengthening of Army" in page
    assert 0 == code, errors
    assert "Traceback" not in errors


def test_demo_data_ships_with_the_package() -> None:
    """Every bundled demo file is matched by pyproject's package-data, so an installed monitor
    (not an editable checkout) has them."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    globs = config["tool"]["setuptools"]["package-data"]["monitor"]
    files = [
        p.relative_to(ROOT / "monitor").as_posix() for p in DEMO_DATA.rglob("*") if p.is_file()
    ]
    assert len(files) >= 5
    for name in files:
        assert any(fnmatch.fnmatch(name, g) and name.count("/") == g.count("/") for g in globs), (
            name
        )
