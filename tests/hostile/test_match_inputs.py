"""Hostile files given to `monitor match`: pages and extract output built to break the reader.
Each exits 0 with what it could read or 2 with the file and a reason, quickly, never a traceback.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

DEEP = 100_000  # nested elements: past lxml's default depth limit
CASES = {
    "deep.html": b"<html><body>" + b"<div>" * DEEP + b"words " * 50 + b"</div>" * DEEP,
    "garbage.html": bytes(range(256)) * 400,
    "empty.html": b"",
    "no-text.html": b"<!doctype html><html><head><title>t</title></head><body></body></html>",
    "xhtml-doctype.xml": b'<?xml version="1.0"?><!DOCTYPE html><html><body><p>x</p></body></html>',
    "rss-mentions-html.xml": b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>'
    b"<item><title><![CDATA[an <html> item]]></title><guid>1</guid></item></channel></rss>",
    "text-a-number.json": json.dumps({"source": "a.html", "text": 5}).encode(),
    "lines-not-objects.json": b'{"source": "a.html", "text": "words"}\n[1]\n"x"\n',
    "line-broken.json": b'{"source": "a.html", "text": "words"}\n{"source": \n',
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_hostile_input_is_read_or_refused_with_a_reason(
    shipped_rules: Path, tmp_path: Path, name: str
) -> None:
    """Every case ends within 60 s, exit 0 or 2, and a refusal names the file without a
    traceback."""
    path = tmp_path / name
    path.write_bytes(CASES[name])
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "monitor", "match", "--rules", str(shipped_rules), str(path)],
        capture_output=True,
        text=True,
        check=False,
        timeout=90,
    )
    assert time.monotonic() - started < 60
    assert done.returncode in (0, 2), done.stderr
    assert "Traceback" not in done.stderr
    if done.returncode == 2:
        assert str(path) in done.stderr
    else:
        assert "article(s)" in done.stdout


def test_a_feed_whose_text_mentions_html_stays_a_feed(shipped_rules: Path, tmp_path: Path) -> None:
    """An RSS document is read as a feed even when an item's text holds `<html>`."""
    path = tmp_path / "feed.html"  # and even under an HTML name
    path.write_bytes(CASES["rss-mentions-html.xml"])
    done = subprocess.run(
        [sys.executable, "-m", "monitor", "match", "--rules", str(shipped_rules), str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert 0 == done.returncode, done.stderr
    assert "1 article(s)" in done.stdout
