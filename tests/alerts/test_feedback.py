"""The verdict store on the local bus (state.db), the feedback key, the pages (in-process) and
the report's arithmetic (issue 35)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from monitor.alerts.feedback import Feedback, LocalFeedback
from monitor.alerts.verdicts import NOT_RELEVANT, RELEVANT, FeedbackSigner
from monitor.commands.feedback import report, suggested_terms
from monitor.kernel.errors import ConfigError
from monitor.service.config import load_config
from monitor.service.feedback import KEY_FILE, feedback_signer, state_key
from monitor.status.feedbackpage import add_feedback_routes
from monitor.store.state import StateStore

ARTICLE = {
    "id": "a1",
    "title": "Wheat harvest up",
    "url": "https://news.example/a1",
    "summary": "grain",
}


async def test_one_verdict_a_rule_and_story_the_latest_wins_and_survives_a_restart(
    tmp_path: Path,
) -> None:
    async with StateStore(tmp_path) as state:
        feedback = Feedback(LocalFeedback(state))
        assert await feedback.record("grain", "s1", RELEVANT, ARTICLE, "ann")
        assert not await feedback.record("grain", "s1", RELEVANT, ARTICLE, "ann")  # twice: once
        assert await feedback.record("grain", "s1", NOT_RELEVANT, ARTICLE, "bob")
        assert await feedback.record("other", "s2", RELEVANT, {"id": "s2"}, "ann")
    async with StateStore(tmp_path) as state:
        feedback = Feedback(LocalFeedback(state))
        (kept,) = await feedback.list("grain")
        assert (NOT_RELEVANT, "bob", ARTICLE) == (kept["verdict"], kept["who"], kept["article"])
        assert 2 == len(await feedback.list())
        got = await feedback.get("other", "s2")
        assert got is not None
        assert RELEVANT == got["verdict"]
        assert await feedback.get("other", "nope") is None


def test_the_state_key_is_made_once_0600_and_refused_when_others_can_read_it(
    tmp_path: Path,
) -> None:
    key = state_key(tmp_path)
    path = tmp_path / KEY_FILE
    assert 0o600 == path.stat().st_mode & 0o777
    assert 32 == len(key)
    assert key == state_key(tmp_path)
    os.chmod(path, 0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        state_key(tmp_path)


def test_http_feedback_key_is_read_masked_and_checked(tmp_path: Path) -> None:
    config_path = tmp_path / "monitor.yaml"
    (tmp_path / "rules").mkdir()
    config_path.write_text('http: {feedback_key: "${FB_KEY}"}\n')
    config = load_config({"FB_KEY": "k" * 20}, config_path, sends=False)
    assert "k" * 20 == config.feedback_key
    assert "k" * 20 not in repr(config)
    signer = feedback_signer(config)
    token = signer.token("r", "s", RELEVANT)
    assert FeedbackSigner(b"k" * 20).read(token) is not None
    assert not (tmp_path / "state" / KEY_FILE).exists()
    config_path.write_text("http: {feedback_key: short}\n")
    with pytest.raises(ConfigError, match="at least 16"):
        load_config({}, config_path, sends=False)


async def page_client(
    tmp_path: Path, state: StateStore
) -> tuple[TestClient[web.Request, web.Application], Feedback, FeedbackSigner]:
    signer = FeedbackSigner(b"x" * 32)
    feedback = Feedback(LocalFeedback(state))

    async def store() -> Feedback:
        return feedback

    async def find(rule: str, story: str, whole: bool) -> dict[str, object]:
        return dict(ARTICLE, whole=whole)

    app = web.Application()
    add_feedback_routes(app, signer, store, find)
    client: TestClient[web.Request, web.Application] = TestClient(TestServer(app))
    await client.start_server()
    return client, feedback, signer


async def test_get_shows_a_confirm_button_and_records_nothing_post_records_once(
    tmp_path: Path,
) -> None:
    async with StateStore(tmp_path) as state:
        client, feedback, signer = await page_client(tmp_path, state)
        try:
            url = f"/feedback/{signer.token('grain', 's1', NOT_RELEVANT)}"
            page = await client.get(url)
            text = await page.text()
            assert 200 == page.status
            assert 'id="confirm"' in text
            assert "Wheat harvest up" in text
            assert [] == await feedback.list()
            first = await client.post(url, headers={"Sec-Fetch-Site": "same-origin"})
            assert 200 == first.status
            assert "Recorded" in await first.text()
            second = await client.post(url)
            assert "already recorded" in await second.text()
            (kept,) = await feedback.list()
            assert (NOT_RELEVANT, True) == (kept["verdict"], kept["article"]["whole"])
            again = await client.get(url)
            assert 'id="confirm"' not in await again.text()
        finally:
            await client.close()


def test_report_gives_precision_and_over_represented_terms() -> None:
    def rec(verdict: str, text: str) -> dict[str, object]:
        return {"rule": "grain", "verdict": verdict, "article": {"title": text}}

    records = [rec(RELEVANT, f"wheat harvest forecast {i}") for i in range(6)]
    records += [rec(NOT_RELEVANT, "wheat beer festival brewery") for _ in range(3)]
    records += [rec(NOT_RELEVANT, "harvest festival music") for _ in range(1)]
    (row,) = report(records)
    assert (10, 6, 4, 0.6) == (
        row["verdicts"],
        row["relevant"],
        row["not_relevant"],
        row["precision"],
    )
    assert "festival" == row["suggested_none"][0]
    assert "wheat" not in row["suggested_none"]
    assert "harvest" not in row["suggested_none"]
    assert [] == suggested_terms([], [{"wheat"}])
