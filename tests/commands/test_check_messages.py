"""`monitor check`'s messages: every problem in one run, sorted, at the key at fault, with a
column and a hint for YAML mistakes and a "did you mean" for a misspelt name."""

from __future__ import annotations

import io
import textwrap
from pathlib import Path

import pytest

from monitor.commands.check import check
from monitor.kernel.yamlfile import PureLoader, parse_yaml

# Without the shipped pack: these tests count and suggest among their own entities only.
ENTITIES = "shipped_pack: false\nentities:\n  - {id: belarus, type: place, names: [Belarus], tags: [cis]}\n"
FEEDS = 'feeds:\n  - {id: tass, url: "https://example.org/rss", tags: [world]}\n'
CONFIG = "rules_dir: rules\nchannels:\n  console: {kind: console}\n  ops-hook: {kind: console}\n"


def run(tmp_path: Path, rules: str, *, config: str | None = None) -> tuple[int, str, str]:
    root = tmp_path / "rules"
    (root / "entities").mkdir(parents=True, exist_ok=True)
    (root / "watches.yaml").write_text(textwrap.dedent(rules), encoding="utf-8")
    (root / "entities" / "places.yaml").write_text(ENTITIES, encoding="utf-8")
    (root / "feeds.yaml").write_text(FEEDS, encoding="utf-8")
    config_path = None
    if config is not None:
        config_path = tmp_path / "monitor.yaml"
        config_path.write_text(config, encoding="utf-8")
    out, err = io.StringIO(), io.StringIO()
    code = check(None if config_path else root, out, err, config_path=config_path)
    return code, out.getvalue(), err.getvalue()


def test_an_unquoted_star_is_told_with_column_and_hint(tmp_path: Path) -> None:
    """`*defense` unquoted: the line, the column and what to do, not libyaml's words."""
    code, _, err = run(tmp_path, "rules:\n  - id: a\n    match: {any: [*defense]}\n")
    assert 1 == code
    assert (
        f"{tmp_path}/rules/watches.yaml:3:19: invalid YAML: *defense is read as a YAML alias"
    ) in err
    assert "put the value in quotes, as '*defense'" in err
    assert "found undefined alias" not in err


YAML_MISTAKES = [
    ("tab", "rules:\n\t- id: a\n", 2, 1, "a tab indents this line"),
    ("question mark", "rules:\n  - id: a\n    description: ? x\n", 3, 18, "`?` at the start"),
    ("colon", "rules:\n  - id: a\n    description: Breaking: news\n", 3, 26, "`: ` inside a value"),
    ("indentation", "rules:\n  - id: a\n   match: {any: [x]}\n", 3, 4, "out of step"),
    ("list under key", "rules:\n  - id: a\n    feeds: - tass\n", 3, 12, "`- ` list item"),
    ("quote", "rules:\n  - id: 'a\n", 3, 1, "the quote opened on line 2, column 9"),
    ("at sign", "rules:\n  - id: @a\n", 2, 9, "`@` cannot start"),
]


@pytest.mark.parametrize(
    ("text", "line", "column", "hint"),
    [case[1:] for case in YAML_MISTAKES],
    ids=[case[0] for case in YAML_MISTAKES],
)
def test_common_yaml_mistakes_have_hints(text: str, line: int, column: int, hint: str) -> None:
    """A tab, an unquoted `?`, `:` or `@`, a line out of step, an open quote: each told in
    plain words at its line and column, the same from libyaml as from PyYAML's own parser."""
    _, problems = parse_yaml(text, "w.yaml")
    _, pure = parse_yaml(text, "w.yaml", loader=PureLoader)
    assert problems == pure
    [problem] = problems
    assert (line, column) == (problem.line, problem.column)
    assert hint in problem.message
    assert str(problem).startswith(f"w.yaml:{line}:{column}: invalid YAML: ")


def test_an_unknown_feed_shows_beside_a_bad_severity(tmp_path: Path) -> None:
    """A rule with a problem of its own still has its references checked, in the same run."""
    rules = "rules:\n  - id: a\n    match: {any: [x]}\n    severity: huge\n    feeds: [tas]\n"
    code, _, err = run(tmp_path, rules)
    assert 1 == code
    assert "watches.yaml:4: severity must be one of" in err
    assert "watches.yaml:5: rule 'a': unknown feed 'tas': did you mean `tass`?" in err
    assert err.endswith("2 problems found\n")


def test_an_unknown_channel_is_told_at_notify(tmp_path: Path) -> None:
    """The problem points at `notify:`, not at the rule's `id:`, and names the channel meant."""
    rules = "rules:\n  - id: a\n    match: {any: [x]}\n    severity: high\n    notify: [ops-hok]\n"
    code, _, err = run(tmp_path, rules, config=CONFIG)
    assert 1 == code
    assert (
        "watches.yaml:5: rule 'a': notify names unknown channel 'ops-hok': did you mean `ops-hook`?"
    ) in err


def test_did_you_mean_for_keys_entities_and_tags(tmp_path: Path) -> None:
    """`sevrity`, `belarusia` and `tag:cys` each come with the name meant."""
    rules = """\
        rules:
          - id: a
            entities: {any: [belarusia, "tag:cys"]}
            sevrity: high
        """
    code, _, err = run(tmp_path, rules)
    assert 1 == code
    assert "watches.yaml:3: rule 'a': unknown entity 'belarusia': did you mean `belarus`?" in err
    assert "watches.yaml:3: rule 'a': no entity has the tag 'cys': did you mean `cis`?" in err
    assert "watches.yaml:4: unknown key 'sevrity' in a rule: did you mean `severity`?" in err


@pytest.mark.parametrize(
    ("written", "meant"),
    [("english", "en"), ("Russian", "ru"), ("eng", "en"), ("deutsch", "de"), ("en_US", "en-US")],
)
def test_language_names_are_refused_with_the_code_meant(
    tmp_path: Path, written: str, meant: str
) -> None:
    """`languages: [english]` never matched an article; now it is a problem naming `en`."""
    rules = f"rules:\n  - id: a\n    match: {{any: [x]}}\n    languages: [{written}]\n"
    code, _, err = run(tmp_path, rules)
    assert 1 == code
    assert f"watches.yaml:4: `languages`: {written!r} is not a language code" in err
    assert f"did you mean `{meant}`" in err


@pytest.mark.parametrize("code", ["en", "ru", "zh-Hant", "pt-BR", "EN", "fil"])
def test_real_language_codes_pass(tmp_path: Path, code: str) -> None:
    """ISO 639 codes, with BCP 47 subtags, are accepted as before."""
    rules = f"rules:\n  - id: a\n    match: {{any: [x]}}\n    languages: [{code}]\n"
    assert 0 == run(tmp_path, rules)[0]


def test_problems_are_sorted_by_file_and_line_across_config_and_rules(tmp_path: Path) -> None:
    """A broken config no longer hides the rules' problems; all come sorted."""
    (tmp_path / "rules" / "entities").mkdir(parents=True)
    (tmp_path / "rules" / "entities" / "b.yaml").write_text(
        "entities:\n  - {id: x, type: plac, names: [X]}\n", encoding="utf-8"
    )
    rules = (
        "rules:\n  - id: a\n    match: {any: [x]}\n    severity: hgh\n  - id: b\n    mode: lve\n"
    )
    code, _, err = run(tmp_path, rules, config=CONFIG + "log: {level: loud}\n")
    assert 1 == code
    lines = err.splitlines()
    assert lines[-1] == "5 problems found"
    where = [line.split(": ", 1)[0].removeprefix(str(tmp_path) + "/") for line in lines[:-1]]
    assert where == [
        "monitor.yaml:5",
        "rules/entities/b.yaml:2",
        "rules/watches.yaml:4",
        "rules/watches.yaml:5",
        "rules/watches.yaml:6",
    ]
    assert "did you mean `high`?" in err
    assert "did you mean `live`?" in err
    assert "did you mean `place`?" in err


def test_one_channel_is_singular(tmp_path: Path) -> None:
    """`1 channel`, `1 rule`, `1 entity`, `1 feed`: no "1 channels"."""
    config = "rules_dir: rules\nchannels:\n  console: {kind: console}\n"
    code, out, _ = run(tmp_path, "rules:\n  - {id: a, match: {any: [x]}}\n", config=config)
    assert 0 == code
    assert "ok: 1 rule (1 enabled), 1 entity, 1 feed in" in out
    assert "(1 channel)" in out
