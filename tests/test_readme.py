"""The README and the docs pages stay honest: their configuration examples load as written,
every relative link and anchor leads somewhere, the README stays short, the channel tables
name exactly the kinds in the registry, each with an example, and the README's watch, its
sample output and its monitor.yaml are copies of docs/examples/ files that pass `monitor check`
(the output: what `monitor match` prints)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from monitor.alerts.channels import KINDS
from monitor.service.config import load_config
from tests.conftest import ROOT

README = (ROOT / "README.md").read_text()
CHANNELS = (ROOT / "docs" / "channels.md").read_text()
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
EXAMPLE_PAGES = ["README.md", "docs/configuration.md", "docs/channels.md", "docs/stories.md"]
BLOCKS = [
    textwrap.dedent(b)
    for page in EXAMPLE_PAGES
    for b in re.findall(r"```yaml\n(.*?)```", (ROOT / page).read_text(), re.DOTALL)
    if re.search(r"^(channels|health|stories|rules_dir):", textwrap.dedent(b), re.MULTILINE)
]
VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
README_MAX_BYTES = 20_000


def environment(text: str) -> dict[str, str]:
    """A plausible value for every ${VAR} a block names (tokens shaped as their services')."""
    env = dict.fromkeys(VARIABLE.findall(text), "a" * 30)
    env.update(
        {k: "123456:ABC-DEF1234ghIkl" for k in env if "TELEGRAM" in k},
    )
    env.update({k: "https://hooks.example.org/x" for k in env if k.endswith("_URL")})
    return env


@pytest.mark.parametrize("block", BLOCKS, ids=[b.split("\n", 1)[0][:40] for b in BLOCKS])
def test_each_configuration_example_loads(tmp_path: Path, block: str) -> None:
    """Each monitor.yaml example of the README and the docs is a valid config (templates
    included)."""
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "hook.j2").write_text(
        '{% block body %}{"title": "{{ article.title }}"}{% endblock %}'
    )
    config_text = block.split("# rules/feeds.yaml")[0]  # the feed health example has both
    if "ops-hook" in config_text and "ops-hook:" not in config_text:
        config_text += 'channels:\n  ops-hook: {kind: webhook, url: "http://127.0.0.1:9/h"}\n'
    path = tmp_path / "monitor.yaml"
    path.write_text(config_text)
    load_config(environment(config_text), path)


def test_every_channel_kind_has_a_table_row_and_an_example() -> None:
    """A kind added to the registry must be added to the README's table and to docs/channels.md
    (its row, its section and an example of it)."""
    examples = "\n".join(re.findall(r"```yaml\n(.*?)```", CHANNELS, re.DOTALL))
    for kind in KINDS:
        assert re.search(rf"^\| `{kind}` \|", README, re.MULTILINE), f"no table row for {kind}"
        assert re.search(rf"^\| `{kind}` \|", CHANNELS, re.MULTILINE), f"no channels.md row: {kind}"
        assert re.search(rf"^### {kind}$", CHANNELS, re.MULTILINE), (
            f"no channels.md section: {kind}"
        )
        assert re.search(rf"kind: {kind}\b", examples), f"no example of {kind}"


def channel_table(text: str) -> list[str]:
    """The kinds the rows of a page's channel table name (the table headed `channel `kind``)."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| channel `kind` |"))
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        cell = line.split("|")[1].strip()
        rows.append(cell.strip("`"))
    return rows


@pytest.mark.parametrize("page", ["README.md", "docs/channels.md"])
def test_the_channel_table_names_exactly_the_registered_kinds(page: str) -> None:
    """No kind missing, none that does not exist, none twice."""
    rows = channel_table((ROOT / page).read_text())
    assert sorted(rows) == sorted(KINDS)


def test_the_readme_is_short() -> None:
    """The README is for users: reference material lives in docs/."""
    size = len(README.encode())
    assert size <= README_MAX_BYTES, f"README.md is {size} bytes, over {README_MAX_BYTES}"


FENCE = re.compile(r"^(```|~~~).*?^\1", re.MULTILINE | re.DOTALL)
LINK = re.compile(r"!?\[(?:[^\]\[]|\[[^\]]*\])*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")


def prose(text: str) -> str:
    """The page without its code: fenced blocks and inline code hold no links or headings."""
    text = FENCE.sub("", text)
    return re.sub(r"`[^`\n]*`", "", text)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: its text without markup, lower case, punctuation dropped
    (letters, digits, `_` and `-` kept), spaces as hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link: its text
    text = re.sub(r"[*`]", "", text).strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    """Every heading anchor of a page; a repeated slug gets -1, -2, ... as on GitHub."""
    seen: dict[str, int] = {}
    found = set()
    for heading in re.findall(r"^#{1,6} +(.+?) *#*$", FENCE.sub("", page.read_text()), re.M):
        base = slug(heading)
        n = seen.get(base, 0)
        seen[base] = n + 1
        found.add(base if n == 0 else f"{base}-{n}")
    return found


def links(page: Path) -> list[str]:
    """The relative link targets of a page (not web addresses)."""
    return [
        target
        for target in LINK.findall(prose(page.read_text()))
        if not re.match(r"[a-z][a-z0-9+.-]*:", target)
    ]


def test_slugs_follow_github() -> None:
    """The anchors the link check expects, for headings of the shapes our pages use."""
    assert slug("Configuration: `monitor.yaml`") == "configuration-monitoryaml"
    assert slug("`monitor stories --explain ARTICLE_ID`") == "monitor-stories---explain-article_id"
    assert slug("What the dispatcher keeps (issue 31)") == "what-the-dispatcher-keeps-issue-31"
    assert slug("Stories, digests and quiet hours") == "stories-digests-and-quiet-hours"


@pytest.mark.parametrize("page", PAGES, ids=[p.relative_to(ROOT).as_posix() for p in PAGES])
def test_every_relative_link_resolves(page: Path) -> None:
    """Each relative link names a file that exists, and its #anchor a heading in that file."""
    broken = []
    for target in links(page):
        path, _, anchor = target.partition("#")
        where = (page.parent / path).resolve() if path else page
        if not where.exists():
            broken.append(f"{target}: no such file")
        elif anchor and where.suffix == ".md" and anchor not in anchors(where):
            broken.append(f"{target}: no heading #{anchor}")
    assert [] == broken


def test_the_link_check_sees_links() -> None:
    """The check reads links as GitHub does: a page that links to nothing would pass vacuously."""
    assert "docs/channels.md" in links(ROOT / "README.md")
    assert any("#" in target for page in PAGES for target in links(page))
    assert "configuration-monitoryaml" in anchors(ROOT / "README.md")


# -- the README's examples are copies of files checked here -------------------------------------

EXAMPLES = ROOT / "docs" / "examples"
WATCH = EXAMPLES / "my-watches.yaml"
CONFIG = EXAMPLES / "monitor.yaml"
SEED = "tests/data/articles/seed-cis-defense.json"  # as the README's command names it
CONFIG_ENV = {
    "HOOK_SECRET": "a" * 30,
    "SLACK_WEBHOOK_URL": "https://hooks.example.org/x",
    "TELEGRAM_BOT_TOKEN": "123456:ABC-DEF1234ghIkl",
}


def fenced(text: str, language: str = "") -> list[str]:
    """The text of each fenced block of a page in `language` ("": no language named)."""
    blocks: list[tuple[str, str]] = []
    opened: tuple[str, list[str]] | None = None
    for line in text.splitlines(keepends=True):
        if opened is None and line.lstrip().startswith("```"):
            opened = (line.strip()[3:], [])
        elif opened is not None and line.strip() == "```":
            blocks.append((opened[0], textwrap.dedent("".join(opened[1]))))
            opened = None
        elif opened is not None:
            opened[1].append(line)
    return [body for info, body in blocks if info == language]


def monitor(*args: str, cwd: Path = ROOT, env: dict[str, str] | None = None) -> str:
    """`monitor ARGS` from this checkout, as a user types it: its output (exit 0 asserted)."""
    done = subprocess.run(
        [sys.executable, "-m", "monitor", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
    )
    assert 0 == done.returncode, done.stdout + done.stderr
    return done.stdout


@pytest.fixture
def rules_with_the_example(tmp_path: Path) -> Path:
    """The shipped rules with the README's watch saved beside them, as the README says."""
    rules = tmp_path / "rules"
    shutil.copytree(ROOT / "rules", rules)
    shutil.copy(WATCH, rules)
    return rules


def test_the_readme_s_watch_is_the_example_file() -> None:
    """The "Writing a watch" block is docs/examples/my-watches.yaml, word for word, and the
    README copies that file into rules/."""
    assert WATCH.read_text() in fenced(README, "yaml")
    assert "cp docs/examples/my-watches.yaml rules/" in README


def test_the_example_watch_passes_check_beside_the_shipped_rules(
    rules_with_the_example: Path,
) -> None:
    """Its id is its own: copied into rules/ it passes `monitor check` (a clash is an error)."""
    said = monitor("check", str(rules_with_the_example))
    shipped = len(re.findall(r"^  - id: ", (ROOT / "rules" / "defense.yaml").read_text(), re.M))
    shipped += len(re.findall(r"^  - id: ", (ROOT / "rules" / "hazards.yaml").read_text(), re.M))
    assert said.startswith(f"ok: {shipped + 1} rules"), said


def test_the_readme_s_sample_output_is_what_match_prints(rules_with_the_example: Path) -> None:
    """The sample output is the real output of the README's `monitor match` from the example
    watch's MATCH line to the end, every evidence line of it; what it leaves out (as the README
    says) is the shipped cis-defense-cooperation's match, which comes first."""
    printed = monitor("match", "--rules", str(rules_with_the_example), SEED).splitlines()
    (sample,) = [b for b in fenced(README) if b.startswith(f"{SEED}: MATCH")]
    shown = sample.splitlines()
    assert shown[0].startswith(f"{SEED}: MATCH my-cis-defense [high]"), shown[0]
    start = printed.index(shown[0])
    assert printed[start:] == shown
    left_out = printed[:start]
    assert left_out[0].startswith(f"{SEED}: MATCH cis-defense-cooperation ["), left_out
    assert [left_out[0]] == [line for line in left_out if ": MATCH " in line]
    assert "the shipped\n`cis-defense-cooperation` matches this article too" in README


def test_the_readme_s_monitor_yaml_is_the_example_file_and_passes_check(tmp_path: Path) -> None:
    """The "Configuration" block is docs/examples/monitor.yaml, word for word; beside the
    shipped rules, with its ${VAR}s set, it passes `monitor check --config`."""
    assert CONFIG.read_text() in fenced(README, "yaml")
    shutil.copy(CONFIG, tmp_path / "monitor.yaml")
    shutil.copytree(ROOT / "rules", tmp_path / "rules")
    assert set(CONFIG_ENV) == set(VARIABLE.findall(CONFIG.read_text())) - {"MONITOR_TOKEN"}
    said = monitor("check", "--config", str(tmp_path / "monitor.yaml"), env=CONFIG_ENV)
    assert said.startswith("ok: "), said
    assert "(5 channels)" in said, said
