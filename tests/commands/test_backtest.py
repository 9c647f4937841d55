"""`monitor backtest` folds stories as the service does: the seed report and two copies of it
from other outlets are one story of 3 articles (one would-be alert), a different report on the
same subject is a story of its own; `--json` keeps each article and gives the grouping."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest

from monitor.bus.base import ARTICLES
from monitor.bus.local import LocalBus
from monitor.kernel.models import Article, make_article

pytestmark = pytest.mark.timeout(120)

ROOT = Path(__file__).resolve().parents[2]
SEED = json.loads((ROOT / "tests/data/articles/seed-cis-defense.json").read_text())
RULE = "cis-defense-cooperation"


def article(id: str, **changes: str) -> Article:
    """The seed article as outlet `id` carried it, with `changes`."""
    fields = {**SEED, **changes}
    fields["published"] = datetime.fromisoformat(fields["published"])
    return make_article(id=id, **fields)


SEED_COPIES = [
    article("seed", feed="sputnik-world"),
    article(
        "copy-1",
        feed="wire-a",
        url="https://wire-a.example/belousov-cis",
        title="Belousov pins strengthening of army, regional stability as CIS priorities",
    ),
    article("copy-2", feed="wire-b", url="https://wire-b.example/2025/10/31/cis-defence"),
]
DECOY = make_article(
    id="decoy",
    feed="wire-c",
    url="https://wire-c.example/cis-air-defence-drill",
    title="CIS joint air defence drill opens in Kazakhstan with ten countries' armed forces",
    content=(
        "Air defence units of the Commonwealth of Independent States began a joint exercise "
        "at a range near Sary-Shagan on Monday. Crews from Armenia, Belarus, Kazakhstan, "
        "Kyrgyzstan, Russia and Tajikistan will fire at target drones over four days, the "
        "organisers said; observers from two more armed forces attend."
    ),
)


def stored(tmp_path: Path, articles: list[Article]) -> Path:
    """A config whose local bus holds `articles`, and the shipped rules."""
    shutil.copytree(ROOT / "rules", tmp_path / "rules")
    (tmp_path / "state").mkdir()

    async def publish() -> None:
        async with LocalBus(tmp_path / "state" / "bus.db") as bus:
            await bus.publish(ARTICLES, [(a.id, a.to_bytes()) for a in articles])

    asyncio.run(publish())
    path = tmp_path / "monitor.yaml"
    path.write_text("rules_dir: rules\nstate_dir: state\nchannels: {console: {kind: console}}\n")
    return path


def backtest(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "monitor", "backtest", "--config", str(config),
         "--since", "1d", "--rule", RULE, *args],
        capture_output=True, text=True, timeout=90, check=False, cwd=config.parent,
    )  # fmt: skip


def test_three_copies_are_one_story_and_the_decoy_another(tmp_path: Path) -> None:
    """The seed and two copies show as one story with 2 copies folded; the other report is a
    second story; the counts say 4 articles in 2 stories."""
    done = backtest(stored(tmp_path, [*SEED_COPIES, DECOY]))
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert out.count(f"MATCH {RULE}") == 2, out
    assert "2 copies folded into this story:" in out
    assert "    wire-a: 'Belousov pins" in out
    assert "    wire-b: " in out
    assert "4 record(s) read; 4 matches of 4 articles in 2 stories" in out
    assert f"  {RULE}: 4 articles in 2 stories (" in out
    first, second = (i for i, line in enumerate(out.splitlines()) if "MATCH" in line)
    assert "Belousov Pins" in out.splitlines()[first]
    assert "air defence drill" in out.splitlines()[second]


def test_json_keeps_every_article_and_gives_the_stories(tmp_path: Path) -> None:
    """`--json`: one line per article matched, each with its story; the summary groups them."""
    done = backtest(stored(tmp_path, [*SEED_COPIES, DECOY]), "--json")
    assert done.returncode == 0, done.stderr
    *lines, end = [json.loads(line) for line in done.stdout.splitlines()]
    assert [x["article_id"] for x in lines] == ["seed", "copy-1", "copy-2", "decoy"]
    assert [x["story"] for x in lines] == ["seed", "seed", "seed", "decoy"]
    assert end["records"] == 4
    assert end["articles"] == 4
    assert end["stories"] == [
        {"rule": RULE, "story": "seed", "articles": ["seed", "copy-1", "copy-2"]},
        {"rule": RULE, "story": "decoy", "articles": ["decoy"]},
    ]
    assert end["summary"][RULE]["matches"] == 4
    assert end["summary"][RULE]["stories"] == 2


def test_a_window_of_zero_folds_nothing(tmp_path: Path) -> None:
    """With `stories: {window: 0}` (folding off in the service), each copy is its own story."""
    config = stored(tmp_path, SEED_COPIES)
    config.write_text(config.read_text() + "stories: {window: 0}\n")
    done = backtest(config)
    assert done.returncode == 0, done.stderr
    assert done.stdout.count(f"MATCH {RULE}") == 3
    assert "3 matches of 3 articles in 3 stories" in done.stdout
