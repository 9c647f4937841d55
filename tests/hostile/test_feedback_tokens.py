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


def test_the_service_does_not_start_on_a_key_others_can_read(tmp_path: Path) -> None:
    """`monitor run` with state/feedback.key readable by others: exit 1 with the file and
    `chmod 600` in one line, no traceback (it once ended in an uncaught ExceptionGroup)."""
    import subprocess
    import sys

    from tests.support.processes import CHECKOUT

    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "watches.yaml").write_text("rules:\n  - {id: w, match: {any: [x]}}\n")
    (tmp_path / "rules" / "feeds.yaml").write_text("feeds: []\n")
    (tmp_path / "state").mkdir()
    key = tmp_path / "state" / KEY_FILE
    key.write_bytes(os.urandom(32))
    key.chmod(0o644)
    (tmp_path / "monitor.yaml").write_text(
        'rules_dir: rules\nstate_dir: state\nhttp: {listen: "127.0.0.1:0"}\n'
        "channels:\n  c: {kind: console}\n"
    )
    done = subprocess.run(
        [sys.executable, "-m", "monitor", "run", "--once", "--config", "monitor.yaml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(CHECKOUT)},
        check=False,
    )
    assert 1 == done.returncode, done.stderr
    assert "chmod 600" in done.stderr
    assert "Traceback" not in done.stderr
    assert "monitor did not start" in done.stderr


async def test_a_link_opened_while_the_bus_is_away_says_try_again(tmp_path: Path) -> None:
    """The alert's article cannot be read (the broker away): the page says to try again (503)
    and records nothing, instead of a 500."""
    from aiohttp import web
    from aiohttp.test_utils import TestClient, TestServer

    from monitor.alerts.feedback import Feedback, LocalFeedback
    from monitor.status.feedbackpage import add_feedback_routes

    async with StateStore(tmp_path) as state:
        signer = FeedbackSigner(b"x" * 32)
        feedback = Feedback(LocalFeedback(state))

        async def store() -> Feedback:
            return feedback

        async def away(rule: str, story: str, whole: bool) -> dict[str, object]:
            raise OSError("connection refused")

        app = web.Application()
        add_feedback_routes(app, signer, store, away)
        async with TestClient(TestServer(app)) as client:
            url = f"/feedback/{signer.token('grain', 's1', RELEVANT)}"
            for method in (client.get, client.post):
                async with method(url) as answer:
                    assert 503 == answer.status
                    assert "try again" in await answer.text()
        assert [] == await feedback.list()
