"""The console's edits of the rules directory: save, mode, pause, test, propose."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from monitor.kernel.console import ActionRefused, Trial, Who
from monitor.kernel.models import make_article
from monitor.matching import propose
from monitor.service.config import load_config, notify_problems
from monitor.status.feeddesk import FeedDesk
from monitor.status.watchdesk import RulesFiles, WatchDesk
from monitor.stories.settings import StoriesConfig

WHO = Who("127.0.0.1", "loopback")
WATCHES = """# reviewed watches
rules:
  - id: quakes  # keep
    match: {any: [earthquake]}
  # the second
  - id: fires
    match: {any: [wildfire]}
"""
FEEDS = "feeds:\n  - id: wire  # the wire\n    url: http://127.0.0.1:9/feed.xml\n"


class _Place:
    bus = None

    def __init__(self, state: Path) -> None:
        self.state_dir = state


def _desk(tmp_path: Path) -> tuple[WatchDesk, Path]:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "watches.yaml").write_text(WATCHES)
    (rules / "feeds.yaml").write_text(FEEDS)
    os.chmod(rules / "watches.yaml", 0o640)
    files = RulesFiles(rules, environ={})
    return WatchDesk(files, _Place(tmp_path / "state"), StoriesConfig()), rules


def test_save_checks_keeps_and_refuses(tmp_path: Path) -> None:
    """A good save keeps comments and mode; a mistake is told at its lines, nothing written;
    a file changed since it was read is refused with 409."""
    desk, rules = _desk(tmp_path)
    path = rules / "watches.yaml"
    source = desk.source("fires")
    assert source["yaml"] == "id: fires\nmatch: {any: [wildfire]}\n"
    assert source["line"] == 6
    answer = asyncio.run(desk.save("fires", "id: fires\nmatch: {any: [forest fire]}\n", WHO))
    assert answer["file"] == "watches.yaml"
    assert answer["committed"] is False
    assert path.read_text() == WATCHES.replace("{any: [wildfire]}", "{any: [forest fire]}")
    assert path.stat().st_mode & 0o777 == 0o640
    before = path.read_text()
    with pytest.raises(ActionRefused) as bad:
        asyncio.run(desk.save("fires", "id: fires\nmatch: {any: [x]}\nseverity: huge\n", WHO))
    assert bad.value.status == 422
    assert "watches.yaml:8:" in bad.value.problems[0]
    assert "(line 3 of the watch)" in bad.value.problems[0]
    assert path.read_text() == before
    with pytest.raises(ActionRefused) as stale:
        asyncio.run(
            desk.save("fires", "id: fires\nmatch: {any: [y]}\n", WHO, version=source["version"])
        )
    assert stale.value.status == 409
    assert path.read_text() == before


def test_mode_and_pause_are_spliced(tmp_path: Path) -> None:
    """set_mode writes `mode:` on the watch, set_enabled `enabled:` on the feed, comments kept."""
    desk, rules = _desk(tmp_path)
    assert asyncio.run(desk.set_mode("quakes", "shadow", WHO))["mode"] == "shadow"
    assert (
        "  - id: quakes  # keep\n    match: {any: [earthquake]}\n    mode: shadow\n"
        in (rules / "watches.yaml").read_text()
    )
    feeds = FeedDesk(desk.files)
    assert asyncio.run(feeds.set_enabled("wire", False, WHO))["line"] == 2
    assert (rules / "feeds.yaml").read_text() == FEEDS + "    enabled: false\n"
    asyncio.run(feeds.set_enabled("wire", True, WHO))  # resumed: the file as it was
    assert (rules / "feeds.yaml").read_text() == FEEDS
    asyncio.run(desk.set_mode("quakes", "live", WHO))
    assert (rules / "watches.yaml").read_text() == WATCHES
    commented = FEEDS + "    enabled: false  # the vendor is down\n"
    (rules / "feeds.yaml").write_text(commented)  # a person's line with a comment stays
    asyncio.run(feeds.set_enabled("wire", True, WHO))
    assert (rules / "feeds.yaml").read_text() == commented.replace("false", "true")
    with pytest.raises(ActionRefused) as unknown:
        asyncio.run(feeds.set_enabled("nope", True, WHO))
    assert unknown.value.status == 404


def test_trial_marks_the_evidence(tmp_path: Path) -> None:
    """A pasted article is matched by the saved watch or by an unsaved edit, with marks."""
    desk, _ = _desk(tmp_path)
    text = "A strong earthquake shook the coast."
    result = asyncio.run(desk.test("quakes", Trial(title="News", text=text)))["results"][0]
    assert result["matched"]
    assert result["evidence"][0]["value"] == "earthquake"
    field, start, end = result["marks"][0]
    assert result["text"][field][start:end] == "earthquake"
    edit = Trial(title="News", text=text, yaml="id: quakes\nmatch: {any: [tsunami]}\n")
    assert not asyncio.run(desk.test("quakes", edit))["results"][0]["matched"]


def test_proposed_phrases_are_the_rare_ones() -> None:
    """The phrases proposed are those fewest other articles hold, as YAML that names them."""
    one = make_article(id="1", title="Volcanic ash cloud grounds flights", content="Airports shut.")
    others = [make_article(id=str(n), title="Airports shut again", content="") for n in range(3)]
    terms = propose.rarest(one, [one, *others])
    assert "volcanic ash cloud" in terms
    assert "airports shut" not in terms[:2]
    assert propose.fresh_id(one.title, {"like-volcanic-ash-cloud-grounds"}).endswith("-2")


def test_a_new_watch_is_added_to_console_yaml(tmp_path: Path) -> None:
    """Saving an id not in the rules ("make a watch like this") adds it to console.yaml,
    checked as any save: a second one is appended after it, a mistake leaves no file, and an
    id another file has is refused as a duplicate."""
    desk, rules = _desk(tmp_path)
    new = rules / "console.yaml"
    with pytest.raises(ActionRefused) as unknown:  # a typo in a PUT's id adds nothing
        asyncio.run(desk.save("storms", "id: storms\nmatch: {any: [storm]}\n", WHO))
    assert unknown.value.status == 404
    assert '"new": true' in unknown.value.message
    with pytest.raises(ActionRefused) as refused:
        asyncio.run(desk.save("storms", "id: storms\nmatch: {any: [storm\n", WHO, create=True))
    assert refused.value.status == 422
    assert not new.exists()
    answer = asyncio.run(
        desk.save("storms", "id: storms\nmatch: {any: [storm]}\n", WHO, create=True)
    )
    assert (answer["file"], answer["created"]) == ("console.yaml", True)
    asyncio.run(desk.save("floods", "id: floods\nmatch: {any: [flood]}\n", WHO, create=True))
    with pytest.raises(ActionRefused) as exists:  # "new" never overwrites a watch
        asyncio.run(desk.save("fires", "id: fires\nmatch: {any: [x]}\n", WHO, create=True))
    assert exists.value.status == 409
    text = new.read_text()
    assert text.startswith("# Watches made in the console")
    assert "rules:\n  - id: storms\n    match: {any: [storm]}\n  - id: floods\n" in text
    assert desk.source("floods")["line"] == answer["line"] + 2
    assert desk.source("storms")["file"] == "console.yaml"
    asyncio.run(desk.save("storms", "id: storms\nmatch: {any: [storms]}\n", WHO))  # an edit now
    assert "[storms]" in new.read_text()
    assert (rules / "watches.yaml").read_text() == WATCHES
    with pytest.raises(ActionRefused) as twice:
        desk._create("quakes", "id: quakes\nmatch: {any: [quake]}\n", WHO)
    assert twice.value.status == 422
    assert any("quakes" in p for p in twice.value.problems)


def test_a_save_is_committed_alone_when_asked(tmp_path: Path) -> None:
    """With `http.git_commit: true` and the rules directory in a git work tree, a save is one
    commit naming the watch, holding that file alone (another edit in progress stays out);
    outside a work tree the save is written and the answer says why it was not committed."""
    import subprocess

    desk, rules = _desk(tmp_path)
    desk.files.git_commit = True
    outside = asyncio.run(desk.save("fires", "id: fires\nmatch: {any: [bushfire]}\n", WHO))
    assert outside["committed"] is False
    assert "not in a git work tree" in outside["git"]
    assert "bushfire" in (rules / "watches.yaml").read_text()

    def git(*args: str) -> str:
        env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t",
               "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}  # fmt: skip
        done = subprocess.run(
            ["git", "-C", str(rules), *args],  # noqa: S607
            capture_output=True, text=True, check=True, env=env,
        )  # fmt: skip
        return done.stdout

    git("init", "-q")
    git("add", ".")
    git("commit", "-qm", "the team's watches")
    (rules / "feeds.yaml").write_text(FEEDS + "# an edit in progress\n")
    answer = asyncio.run(desk.save("fires", "id: fires\nmatch: {any: [forest fire]}\n", WHO))
    assert (answer["committed"], answer["git"]) == (True, "committed")
    assert git("log", "-1", "--format=%s").strip() == "monitor console: edit watch fires"
    assert git("show", "--name-only", "--format=", "HEAD").split() == ["watches.yaml"]
    assert git("status", "--porcelain").split() == ["M", "feeds.yaml"]


def test_a_save_tells_every_problem_at_once(tmp_path: Path) -> None:
    """A watch with a bad severity and a channel monitor.yaml lacks: both problems in one 422
    (the channel check ran only once the rules had none, so the operator met them one by one)."""
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "watches.yaml").write_text(WATCHES)

    config = load_config({}, write_config(tmp_path))
    files = RulesFiles(rules, environ={}, extra_checks=lambda rs: notify_problems(config, rs))
    desk = WatchDesk(files, _Place(tmp_path / "state"), StoriesConfig())
    edit = "id: fires\nmatch: {any: [x]}\nseverity: huge\nnotify: [slack-desk]\n"
    with pytest.raises(ActionRefused) as bad:
        asyncio.run(desk.save("fires", edit, WHO))
    said = "\n".join(bad.value.problems)
    assert "severity" in said
    assert "slack-desk" in said
    assert (rules / "watches.yaml").read_text() == WATCHES


def write_config(tmp_path: Path) -> Path:
    """A monitor.yaml with one channel, `hook`, beside the rules."""
    path = tmp_path / "monitor.yaml"
    path.write_text('channels:\n  hook: {kind: webhook, url: "http://127.0.0.1:9/x"}\n')
    return path
