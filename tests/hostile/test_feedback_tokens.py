"""Hostile feedback links (issue 35): forged, flipped, huge and garbage tokens, a cross-site
POST, and a key file others can read: each refused, and nothing recorded."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest

from monitor.alerts.verdicts import NOT_RELEVANT, RELEVANT, FeedbackSigner
from monitor.kernel.errors import ConfigError
from monitor.service.feedback import KEY_FILE, state_key
from monitor.store.state import StateStore
from tests.alerts.test_feedback import page_client


def flipped(token: str) -> str:
    """The same token saying the other verdict (its MAC kept)."""
    return token.replace(f".{RELEVANT}.", f".{NOT_RELEVANT}.")


def other_story(token: str) -> str:
    parts = token.split(".")
    parts[2] = base64.urlsafe_b64encode(b"another-story").decode().rstrip("=")
    return ".".join(parts)


async def test_bad_tokens_are_404_and_record_nothing(tmp_path: Path) -> None:
    async with StateStore(tmp_path) as state:
        client, feedback, signer = await page_client(tmp_path, state)
        good = signer.token("grain", "s1", RELEVANT)
        bad = [
            flipped(good),
            other_story(good),
            FeedbackSigner(b"y" * 32).token("grain", "s1", RELEVANT),  # another key's
            good[:-1] + ("A" if good[-1] != "A" else "B"),
            "v1." + "A" * 3000,  # huge
            "x" * 1999,
            "v1....",
            "v1.%00.%ff.relevant.zz",
            "..%2F..%2Fetc%2Fpasswd",
            "v1.Zw.czE.relevant.!!!!",
        ]
        try:
            for token in bad:
                for method in (client.get, client.post):
                    answer = await method(f"/feedback/{token}")
                    assert answer.status in (404, 400), (token[:40], answer.status)
            assert [] == await feedback.list()
        finally:
            await client.close()


async def test_a_cross_site_post_is_refused(tmp_path: Path) -> None:
    async with StateStore(tmp_path) as state:
        client, feedback, signer = await page_client(tmp_path, state)
        url = f"/feedback/{signer.token('grain', 's1', RELEVANT)}"
        try:
            for headers in (
                {"Sec-Fetch-Site": "cross-site"},
                {"Sec-Fetch-Site": "same-site"},
                {"Origin": "https://evil.example"},
                {"Origin": "null"},
            ):
                answer = await client.post(url, headers=headers)
                assert 403 == answer.status, headers
            assert [] == await feedback.list()
            answer = await client.post(url, headers={"Sec-Fetch-Site": "same-origin"})
            assert 200 == answer.status
            assert 1 == len(await feedback.list())
        finally:
            await client.close()


def test_a_key_file_others_can_read_or_a_short_one_is_refused(tmp_path: Path) -> None:
    path = tmp_path / KEY_FILE
    path.write_bytes(b"k" * 32)
    os.chmod(path, 0o640)
    with pytest.raises(ConfigError, match="group or others"):
        state_key(tmp_path)
    os.chmod(path, 0o600)
    path.write_bytes(b"short")
    with pytest.raises(ConfigError, match="not a feedback key"):
        state_key(tmp_path)
