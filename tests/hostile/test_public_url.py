"""Hostile `http.public_url` values: feedback links start with it, so it is refused at load."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from monitor.kernel.errors import ConfigError
from monitor.service.config import load_config


@pytest.mark.parametrize(
    "url",
    ['https://x.org/"><script>', "https://x.org/\nBcc: a@b.c", "javascript:alert(1)",
     "https://x.org/?a=1", "/feedback", "https://x.org/ a", "https://u@x.org/"],
)  # fmt: skip
def test_a_hostile_public_url_is_refused(tmp_path: Path, url: str) -> None:
    path = tmp_path / "monitor.yaml"
    path.write_text(f"http:\n  public_url: {json.dumps(url)}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="public_url"):
        load_config({}, path, sends=False)


def test_a_plain_public_url_is_kept(tmp_path: Path) -> None:
    path = tmp_path / "monitor.yaml"
    path.write_text("http:\n  public_url: https://monitor.example.org/\n", encoding="utf-8")
    assert load_config({}, path, sends=False).public_url == "https://monitor.example.org/"
