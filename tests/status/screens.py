"""The console's pictures for docs/operations.md, taken in a real browser by the tests.

`shoot` saves the page (or the part of it some elements cover) to tests/artifacts/ (git-ignored)
or, with UPDATE_SCREENSHOT=1 (`make screenshot`), to docs/images/, so every committed picture is
one a test took after checking what it shows: the test against the real service takes the
documented ones; the browser test over fakes keeps its pictures (named `fakes-...`) apart.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
from collections.abc import Sequence
from pathlib import Path

from tests.conftest import ROOT
from tests.support.browser import Page

IMAGES = ROOT / "docs" / "images"
ARTIFACTS = ROOT / "tests" / "artifacts"
WATCH_PICTURE = "console-watch.png"  # the watch page after a Test
CONSOLE_PICTURE = "console.png"  # the status page's console sections
LETTERS_PICTURE = "console-dead-letters.png"  # the dead letter list with its buttons


DOCUMENTED = (WATCH_PICTURE, CONSOLE_PICTURE, LETTERS_PICTURE)  # taken against the real service


def picture_path(name: str) -> Path:
    """Where the picture `name` goes: docs/images/ with UPDATE_SCREENSHOT=1 for a picture the
    docs show (taken by tests/status/test_console_service.py), else tests/artifacts/."""
    documented = name in DOCUMENTED and os.environ.get("UPDATE_SCREENSHOT") == "1"
    folder = IMAGES if documented else ARTIFACTS
    folder.mkdir(parents=True, exist_ok=True)
    return folder / name


async def shoot(page: Page, name: str, selectors: Sequence[str] = ()) -> Path:
    """Save the page as the PNG `name` (see `picture_path`): the whole page, or the box from
    the top of the first of `selectors` found to the bottom of the last one found."""
    params: dict[str, object] = {"format": "png", "captureBeyondViewport": True}
    if selectors:
        box = await page.evaluate(
            f"(() => {{ const found = {json.dumps(list(selectors))}"
            ".map(s => document.querySelector(s)).filter(e => e)"
            ".map(e => e.getBoundingClientRect());"
            "if (!found.length) return null;"
            "const top = Math.min(...found.map(r => r.top)) + window.scrollY;"
            "const bottom = Math.max(...found.map(r => r.bottom)) + window.scrollY;"
            "return [Math.max(0, top - 8), bottom - top + 16,"
            " document.documentElement.scrollWidth]; })()"
        )
        if box:
            top, height, width = box
            params["clip"] = {"x": 0, "y": top, "width": width, "height": height, "scale": 1}
    shot = await page.call("Page.captureScreenshot", **params)
    path = picture_path(name)
    await asyncio.to_thread(path.write_bytes, base64.b64decode(shot["data"]))
    return path
