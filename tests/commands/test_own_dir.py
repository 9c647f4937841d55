"""One's own directory works like the checkout (issue 33): the shipped entity pack comes with
every rules directory, init's example watch matches every feed, and the messages point the way
(where to set a secret, how to quote a `: `, where the config is looked for)."""

from __future__ import annotations

import io
import os
import shlex
import shutil
import sys
from pathlib import Path

import pytest

from monitor.commands.check import check
from monitor.commands.init import init, program_name
from monitor.kernel.envfile import parse_env
from monitor.kernel.models import make_article
from monitor.matching.compiler import compile_rules
from monitor.matching.loader import load_rules_dir, read_rules_dir
from monitor.matching.matcher import match_article
from monitor.service.config import load_config
from tests.commands.test_config_dir import monitor
from tests.conftest import SHIPPED_RULES

pytestmark = pytest.mark.timeout(120)

CIS_WATCH = """\
rules:
  - id: cis-watch
    entities: {any: ["tag:cis"]}
"""


def starter(tmp_path: Path) -> Path:
    """A directory `monitor init` wrote."""
    home = tmp_path / "osint"
    assert 0 == init(home, io.StringIO(), io.StringIO())
    return home


def checked(rules_dir: Path | None, config: Path | None = None) -> tuple[int, str, str]:
    """`check` in-process: (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    return check(rules_dir, out, err, config_path=config), out.getvalue(), err.getvalue()


def test_an_init_directory_has_the_shipped_entities(tmp_path: Path) -> None:
    """After `monitor init`, the README's `tag:cis` watch checks in one's own directory: the
    193 states and their tags ship with monitor, not only in the checkout's rules/."""
    home = starter(tmp_path)
    (home / "rules" / "cis.yaml").write_text(CIS_WATCH)
    code, out, err = checked(None, home / "monitor.yaml")
    assert 0 == code, err
    assert "2 rules (2 enabled), 203 entities" in out
    rule_set = load_rules_dir(home / "rules")
    assert {"kazakhstan", "cis", "andrei-belousov"} <= {e.id for e in rule_set.entities}


def test_the_checkout_counts_are_unchanged() -> None:
    """`monitor check rules` in the checkout says what it said before the pack moved."""
    code, out, err = checked(SHIPPED_RULES)
    assert 0 == code, err
    assert f"ok: 6 rules (6 enabled), 203 entities, 4 feeds in {SHIPPED_RULES}" in out


def test_own_entities_add_to_the_pack_and_override_it(tmp_path: Path) -> None:
    """An own entity with a pack id takes its place (no duplicate), a new one adds to it."""
    (tmp_path / "entities").mkdir()
    (tmp_path / "entities" / "mine.yaml").write_text(
        "entities:\n"
        "  - {id: kazakhstan, type: place, names: [Qazaqstan], tags: [mine]}\n"
        "  - {id: acme, type: org, names: [Acme Corp]}\n"
    )
    (tmp_path / "w.yaml").write_text(
        "rules:\n  - {id: w, entities: {any: [acme, 'tag:mine', 'tag:eu']}}\n"
    )
    rule_set, problems = read_rules_dir(tmp_path)
    assert [] == problems
    by_id = {e.id: e for e in rule_set.entities}
    assert 204 == len(by_id) == len(rule_set.entities)
    assert ("mine",) == by_id["kazakhstan"].tags
    assert ["Qazaqstan"] == [t.source for t in by_id["kazakhstan"].names]


def test_shipped_pack_false_leaves_the_pack_out(tmp_path: Path) -> None:
    """`shipped_pack: false` in an entity file: only one's own entities, and a watch naming a
    pack tag is told so."""
    (tmp_path / "entities").mkdir()
    (tmp_path / "entities" / "mine.yaml").write_text(
        "shipped_pack: false\nentities:\n  - {id: acme, type: org, names: [Acme]}\n"
    )
    (tmp_path / "w.yaml").write_text(CIS_WATCH)
    rule_set, problems = read_rules_dir(tmp_path)
    assert ["acme"] == [e.id for e in rule_set.entities]
    assert ["rule 'cis-watch': no entity has the tag 'cis'"] == [p.message for p in problems]


def test_the_init_watch_matches_a_feed_added_without_tags(tmp_path: Path) -> None:
    """A feed added as `monitor feeds add` writes it (no tags) is watched by init's example:
    the example does not depend on a tag the new feed lacks."""
    home = starter(tmp_path)
    feeds = home / "rules" / "feeds.yaml"
    feeds.write_text(feeds.read_text() + "  - id: added\n    url: https://example.org/rss\n")
    compiled = compile_rules(load_rules_dir(home / "rules"))
    article = make_article(id="1", feed="added", title="A strong earthquake hits Chile")
    assert ["my-first-watch"] == [m.rule_id for m in match_article(article, compiled)]


@pytest.mark.parametrize(
    ("argv0", "on_path", "expected"),
    [
        ("v/bin/monitor", "v/bin/monitor", "name"),  # `monitor` on PATH is this script
        ("v/bin/monitor", None, "path"),  # .venv/bin/monitor, the venv not activated
        ("v/bin/monitor", "usr/bin/monitor", "path"),  # another monitor on PATH
        ("v b/bin/monitor", None, "path"),  # a space: quoted for the shell
        ("x/monitor/__main__.py", "v/bin/monitor", "module"),  # python -m monitor
    ],
)
def test_next_steps_name_monitor_as_it_can_be_run(
    tmp_path: Path, argv0: str, on_path: str | None, expected: str
) -> None:
    """init's next steps print `monitor` only when that name on PATH is this very script,
    else the script's path, or `python -m monitor` as it was run."""
    for name in (argv0, on_path):
        if name is not None:
            (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / name).write_text("")
    found = str(tmp_path / on_path) if on_path else None
    shown = program_name(str(tmp_path / argv0), lambda _: found, "/py")
    assert {
        "name": "monitor",
        "path": shlex.quote(str(tmp_path / argv0)),
        "module": "/py -m monitor",
    }[expected] == shown


async def test_init_as_a_module_prints_steps_that_run(tmp_path: Path) -> None:
    """`python -m monitor init` prints `python -m monitor check ...`, which works as printed."""
    code, out, err = await monitor("init", str(tmp_path / "home"), cwd=tmp_path)
    assert 0 == code, err
    step = next(line for line in out.splitlines() if " check --config-dir " in line)
    assert step.strip().startswith(f"{sys.executable} -m monitor check --config-dir ")
    assert shutil.which("monitor") is None or "monitor check" in step


def problem_lines(err: str) -> list[str]:
    """The `FILE:LINE: message` lines of a command's error output."""
    return [line for line in err.splitlines() if ": " in line and line.startswith("/")]


def unset_home(tmp_path: Path) -> Path:
    """An init directory with two problems in the config (a channel's `${VAR}` unset, a bad
    log level) and two in the rules (a feed's `${VAR}` unset, an unknown severity)."""
    home = starter(tmp_path)
    config = home / "monitor.yaml"
    config.write_text(
        config.read_text()
        .replace("  # team-slack:", "  team-slack:")
        .replace("defaults: {notify: [console]}", "defaults: {notify: [console, team-slack]}")
        + "log: {level: loud}\n"
    )
    feeds = home / "rules" / "feeds.yaml"
    feeds.write_text(feeds.read_text() + '    auth: {bearer: "${NEWS_TOKEN}"}\n')
    watches = home / "rules" / "watches.yaml"
    watches.write_text(watches.read_text().replace("severity: medium", "severity: urgent"))
    return home


def test_an_unset_variable_says_where_to_set_it_and_nothing_else(tmp_path: Path) -> None:
    """A channel's unset `${VAR}` is its one problem (no "url must be a non-empty string"),
    and each unset variable names the environment and the directory's secrets.env."""
    home = unset_home(tmp_path)
    code, _, err = checked(None, home / "monitor.yaml")
    assert 1 == code
    secrets = home / "secrets.env"
    lines = problem_lines(err)
    assert 4 == len(lines), err
    where = f"set it in the environment or in {secrets}"
    assert (
        f"{home}/monitor.yaml:12: environment variable SLACK_WEBHOOK_URL is not set: {where}"
        in lines
    )
    assert (
        f"{home}/rules/feeds.yaml:6: environment variable NEWS_TOKEN is not set: {where}" in lines
    )
    assert "non-empty" not in err
    assert "unknown channel" not in err


def test_a_feed_variable_in_secrets_env_is_set_though_the_config_is_invalid(
    tmp_path: Path,
) -> None:
    """With the config invalid, the rules are still checked against secrets.env's values: a
    feed's variable set there is not reported unset."""
    home = unset_home(tmp_path)
    (home / "secrets.env").write_text("NEWS_TOKEN=abcdef\n")
    _, _, err = checked(None, home / "monitor.yaml")
    assert "NEWS_TOKEN" not in err
    assert 3 == len(problem_lines(err)), err


async def test_run_lists_the_problems_check_lists(tmp_path: Path) -> None:
    """`run --once` on an invalid directory prints the very set `check` prints, in its order
    (it used to leave out the rules' problems when the config had some)."""
    home = unset_home(tmp_path)
    _, _, check_err = await monitor("check", "--config-dir", str(home), cwd=tmp_path)
    code, _, run_err = await monitor("run", "--once", "--config-dir", str(home), cwd=tmp_path)
    assert 1 == code
    assert 4 == len(problem_lines(check_err)), check_err
    assert problem_lines(check_err) == problem_lines(run_err)
    assert "monitor did not start" in run_err


async def test_check_without_a_config_or_rules_says_where_to_look(tmp_path: Path) -> None:
    """In a folder with neither monitor.yaml nor rules/, check names --config-dir,
    MONITOR_HOME and `monitor init`; with MONITOR_HOME set it reads that directory."""
    here = tmp_path / "empty"
    here.mkdir()
    code, _, err = await monitor("check", cwd=here)
    assert 1 == code
    for hint in ("--config-dir DIR", "MONITOR_HOME=DIR", "monitor init DIR"):
        assert hint in err
    home = starter(tmp_path)
    code, out, err = await monitor("check", cwd=here, extra={"MONITOR_HOME": str(home)})
    assert 0 == code, err
    assert f"in {home}/rules" in out


def test_repr_of_config_shows_no_secret(tmp_path: Path) -> None:
    """repr(Config) hides secrets.env's values and the channel URLs made from them."""
    home = starter(tmp_path)
    config = home / "monitor.yaml"
    config.write_text(config.read_text().replace("  # team-slack:", "  team-slack:"))
    url = "https://hooks.slack.com/services/T0/B0/sekrit-3f9a"
    (home / "secrets.env").write_text(f"SLACK_WEBHOOK_URL={url}\nUNUSED=other-secret-77\n")
    loaded = load_config({k: v for k, v in os.environ.items() if k != "SLACK_WEBHOOK_URL"}, config)
    shown = repr(loaded)
    assert "team-slack" in shown
    assert "sekrit-3f9a" not in shown
    assert "other-secret-77" not in shown


def test_an_unquoted_colon_in_a_term_is_told_once_with_the_quoted_form(tmp_path: Path) -> None:
    """`any: [Note: this, grain]`: one problem, saying it was read as a mapping and how to
    quote it, not "needs `term:`" and "unknown key"."""
    (tmp_path / "w.yaml").write_text(
        "rules:\n  - id: w\n    match:\n      any: [Note: this, grain]\n"
    )
    _, problems = read_rules_dir(tmp_path)
    assert [
        "`Note: this` was read as a mapping (a `: ` inside a value starts a key): put the term "
        'in quotes, as "Note: this"'
    ] == [p.message for p in problems]
    assert 4 == problems[0].line


def test_a_byte_order_mark_on_line_one_of_secrets_env_is_accepted() -> None:
    """An editor's UTF-8 BOM before the first name is not a "bad name"."""
    assert ({"A": "1", "B": "2"}, []) == parse_env("\ufeffA=1\nB=2\n")


def test_the_pack_is_package_data() -> None:
    """Each pack file is matched by pyproject's package-data: an installed monitor has it."""
    import fnmatch
    import tomllib

    config = tomllib.loads((SHIPPED_RULES.parent / "pyproject.toml").read_text())
    globs = config["tool"]["setuptools"]["package-data"]["monitor"]
    pack = sorted((SHIPPED_RULES.parent / "monitor" / "matching" / "entities").glob("*.yaml"))
    assert 3 == len(pack)
    for path in pack:
        name = f"matching/entities/{path.name}"
        assert any(fnmatch.fnmatch(name, g) for g in globs), name
