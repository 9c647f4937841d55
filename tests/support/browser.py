"""A real browser for tests: Debian's chromium, headless, driven over the DevTools protocol.

Only 127.0.0.1 is reached: the browser is started with its background services (updates,
sync, safe browsing) off and a profile of its own in a temporary directory.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp

from tests.support.installs import debian_tool

LISTENING = re.compile(r"DevTools listening on (ws://\S+)")


def chromium() -> str:
    """The path of chromium, installed with apt-get if missing (see tests/support/installs.py)."""
    return debian_tool("chromium", "chromium", "BROWSER")


class Page:
    """One tab, over its DevTools WebSocket."""

    def __init__(self, socket: aiohttp.ClientWebSocketResponse) -> None:
        self.socket = socket
        self._ids = itertools.count(1)

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        """Send a DevTools command and return its result (events in between are skipped)."""
        number = next(self._ids)
        await self.socket.send_json({"id": number, "method": method, "params": params})
        while True:
            message = json.loads((await self.socket.receive(timeout=30)).data)
            if message.get("id") == number:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                result: dict[str, Any] = message["result"]
                return result

    async def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page (DevTools is not bound by the
        page's Content-Security-Policy)."""
        found = await self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in found:  # a script that threw (a selector that found nothing)
            details = found["exceptionDetails"]
            thrown = details.get("exception", {}).get("description") or details.get("text")
            raise RuntimeError(f"{expression[:80]}: {thrown}")
        return found["result"].get("value")

    async def goto(self, url: str) -> None:
        """Open `url` and wait until it has loaded: a new document, not the one shown before
        (which, at the same URL or one starting with it, would pass for it and take a click
        meant for the new one)."""
        await self.evaluate("window.__leaving = true")
        await self.call("Page.navigate", url=url)
        await self.loaded(lambda href: href.startswith(url), fresh=True)

    async def loaded(
        self, where: Any = lambda _: True, timeout_s: float = 20, *, fresh: bool = False
    ) -> None:
        """Wait until the page at a URL `where` accepts has finished loading (`fresh`: a
        document `goto` has not marked as the one it left)."""
        for _ in range(int(timeout_s / 0.1)):
            state = await self.evaluate("[document.readyState, location.href, !!window.__leaving]")
            if state and state[0] == "complete" and where(state[1]) and not (fresh and state[2]):
                return
            await asyncio.sleep(0.1)
        raise TimeoutError(f"the page did not load: {state}")

    async def html(self) -> str:
        """The DOM as it stands, serialized."""
        value: str = await self.evaluate("document.documentElement.outerHTML")
        return value

    async def screenshot(self, path: Path) -> None:
        """Save the whole page as a PNG."""
        shot = await self.call("Page.captureScreenshot", format="png", captureBeyondViewport=True)
        await asyncio.to_thread(path.write_bytes, base64.b64decode(shot["data"]))


@asynccontextmanager
async def browser(profile: Path) -> AsyncIterator[Page]:
    """A headless chromium with one blank tab."""
    process = await asyncio.create_subprocess_exec(
        chromium(),
        "--headless=new",
        "--no-sandbox",  # the suite runs as root in a container
        "--disable-gpu",
        "--remote-debugging-address=127.0.0.1",
        "--remote-debugging-port=0",
        f"--user-data-dir={profile}",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-features=Translate,OptimizationHints,MediaRouter",
        "--window-size=1280,1000",
        "about:blank",
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stderr is not None
        endpoint = None
        while endpoint is None:
            line = await asyncio.wait_for(process.stderr.readline(), 30)
            if not line:
                raise RuntimeError("chromium exited before it listened")
            found = LISTENING.search(line.decode(errors="replace"))
            endpoint = found.group(1) if found else None
        drain = asyncio.create_task(process.stderr.read())  # its log, so it never blocks on it
        port = endpoint.split("//", 1)[1].split("/", 1)[0]
        async with aiohttp.ClientSession() as session:
            async with session.get(f"http://{port}/json/list") as answer:
                targets = await answer.json()
            tab = next(t for t in targets if t["type"] == "page")
            async with session.ws_connect(tab["webSocketDebuggerUrl"], max_msg_size=0) as socket:
                page = Page(socket)
                await page.call("Page.enable")
                yield page
        drain.cancel()
    finally:
        if process.returncode is None:
            process.kill()
        await process.wait()
