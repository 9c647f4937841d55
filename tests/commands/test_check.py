"""`monitor check`: every kind of mistake is reported as FILE:LINE: message, and exits 1."""

from __future__ import annotations

import io
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from monitor.commands.check import check

GOOD_ENTITIES = """\
entities:
  - {id: russia, type: place, names: [Russia], tags: [cis]}
"""
GOOD_FEEDS = """\
feeds:
  - {id: f1, url: "https://example.org/rss", interval: 5m, tags: [world]}
"""


def make_dir(
    root: Path, rules: str, entities: str = GOOD_ENTITIES, feeds: str = GOOD_FEEDS
) -> Path:
    (root / "entities").mkdir(parents=True, exist_ok=True)
    (root / "watches.yaml").write_text(textwrap.dedent(rules), encoding="utf-8")
    (root / "entities" / "places.yaml").write_text(entities, encoding="utf-8")
    (root / "feeds.yaml").write_text(feeds, encoding="utf-8")
    return root


def run_check(rules_dir: Path) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = check(rules_dir, out, err)
    return code, out.getvalue(), err.getvalue()


CASES = [
    (
        "alias",
        "rules:\n  - id: a\n    match: &m {any: [x]}\n  - id: b\n    match: *m\n",
        "watches.yaml:3:12: invalid YAML: aliases (*name) are not allowed here",
    ),
    (
        "nested too deep",
        "rules:\n  - id: a\n    match:\n      " + "{all: [" * 70 + "x" + "]}" * 70 + "\n",
        "watches.yaml:4:218: invalid YAML: nested more than 64 levels deep",
    ),
    (
        "backreference",
        'rules:\n  - id: a\n    match:\n      any: ["/(\\\\w+) \\\\1/"]\n',
        "watches.yaml:4: bad regular expression /(\\w+) \\1/: ",
    ),
    (
        "lookahead",
        'rules:\n  - id: a\n    match:\n      any: ["/Kiev(?! Oblast)/"]\n',
        "watches.yaml:4: bad regular expression /Kiev(?! Oblast)/: ",
    ),
    (
        "yaml syntax",
        "rules:\n  - id: a\n    match: {any: [x, y]\n",
        "watches.yaml:4:1: invalid YAML: the bracket opened on line 3, column 12 is never closed",
    ),
    (
        "duplicate key",
        "rules:\n  - id: a\n    match: {any: [x]}\n    match: {any: [y]}\n",
        "watches.yaml:4:5: invalid YAML: duplicate key 'match' (first on line 3)",
    ),
    (
        "unknown key",
        "rules:\n  - id: a\n    match: {any: [x]}\n    sevrity: high\n",
        "watches.yaml:4: unknown key 'sevrity' in a rule: did you mean `severity`?",
    ),
    (
        "wrong type for severity",
        "rules:\n  - id: a\n    match: {any: [x]}\n    severity: 5\n",
        "watches.yaml:4: severity must be one of info, low, medium, high, critical, not 5",
    ),
    (
        "wrong type for enabled",
        "rules:\n  - id: a\n    match: {any: [x]}\n    enabled: sometimes\n",
        "watches.yaml:4: enabled must be true or false, not the string 'sometimes'",
    ),
    (
        "condition given as a list",
        "rules:\n  - id: a\n    match: [x, y]\n",
        "watches.yaml:3: `match` must be a mapping, not a list",
    ),
    (
        "no match and no entities",
        "rules:\n  - id: a\n    severity: high\n",
        "watches.yaml:2: rule 'a' needs `match:`, `entities:` or both",
    ),
    (
        "empty any",
        "rules:\n  - id: a\n    match:\n      any: []\n",
        "watches.yaml:4: `match` `any` is empty",
    ),
    (
        "min above the count of any",
        "rules:\n  - id: a\n    match:\n      any: [x, y]\n      min: 3\n",
        "watches.yaml:5: `min: 3` asks for more than the 2 items of `any`",
    ),
    (
        "bad regex",
        'rules:\n  - id: a\n    match:\n      any:\n        - x\n        - "/(unclosed/"\n',
        "watches.yaml:6: bad regular expression /(unclosed/",
    ),
    (
        "star inside a word",
        'rules:\n  - id: a\n    match: {any: ["de*fense"]}\n',
        "watches.yaml:3: term 'de*fense': `*` may stand only at the end of a word",
    ),
    (
        "unknown field",
        "rules:\n  - id: a\n    match: {any: [x]}\n    fields: [title, body]\n",
        "watches.yaml:4: unknown field 'body'",
    ),
    (
        "unknown entity",
        "rules:\n  - id: a\n    entities:\n      any:\n        - russia\n        - atlantis\n",
        "watches.yaml:6: rule 'a': unknown entity 'atlantis'",
    ),
    (
        "entity tag nobody has",
        'rules:\n  - id: a\n    entities: {any: ["tag:narnia"]}\n',
        "watches.yaml:3: rule 'a': no entity has the tag 'narnia'",
    ),
    (
        "unknown entity type",
        'rules:\n  - id: a\n    entities: {any: ["type:planet"]}\n',
        "watches.yaml:3: an entity type must be one of person, org, place, event, other",
    ),
    (
        "unknown feed",
        "rules:\n  - id: a\n    match: {any: [x]}\n    feeds: [f1, f9]\n",
        "watches.yaml:4: rule 'a': unknown feed 'f9'",
    ),
    (
        "bad throttle duration",
        "rules:\n  - id: a\n    match: {any: [x]}\n    throttle: {max: 3, per: soon}\n",
        "watches.yaml:4: throttle `per`: 'soon' is not a duration",
    ),
    (
        "throttle period too long to hold its overflow",
        "rules:\n  - id: a\n    match: {any: [x]}\n    throttle: {max: 3, per: 30d}\n",
        "watches.yaml:4: throttle `per` must be at most 7d, not '30d'",
    ),
    (
        "bad rule id",
        "rules:\n  - id: a b\n    match: {any: [x]}\n",
        "watches.yaml:2: rule `id` 'a b' may hold only letters, digits",
    ),
    (
        "no rules key",
        "watches:\n  - id: a\n",
        "watches.yaml:1: unknown key 'watches' in the file",
    ),
]


@pytest.mark.parametrize(("name", "rules", "expected"), CASES, ids=[c[0] for c in CASES])
def test_rule_file_problems(tmp_path: Path, name: str, rules: str, expected: str) -> None:
    """Each mistake in a rule file is named with its file and line, and check exits 1."""
    code, out, err = run_check(make_dir(tmp_path, rules))
    assert 1 == code, name
    assert "" == out
    assert f"{tmp_path}/{expected}" in err


def test_duplicate_rule_ids_across_files(tmp_path: Path) -> None:
    """A rule id used in two files is an error that names both places."""
    make_dir(tmp_path, "rules:\n  - {id: dup, match: {any: [x]}}\n")
    (tmp_path / "more.yaml").write_text("rules:\n\n  - {id: dup, match: {any: [y]}}\n")
    code, _, err = run_check(tmp_path)
    assert 1 == code
    assert (
        f"{tmp_path}/watches.yaml:2: duplicate rule id 'dup' (also at {tmp_path}/more.yaml:3)"
        in err
    )


@pytest.mark.parametrize(
    ("feeds", "expected"),
    [
        (
            'feeds:\n  - {id: f1, url: "https://e.org/rss", interval: 5x}\n',
            "feeds.yaml:2: feed `interval`: '5x' is not a duration",
        ),
        (
            'feeds:\n  - {id: f1, url: "https://e.org/rss", interval: 0s}\n',
            "feeds.yaml:2: feed `interval`: '0s' must be longer than zero",
        ),
        (
            'feeds:\n  - {id: f1, url: "ftp://e.org/rss"}\n',
            "feeds.yaml:2: feed `url` must be an http(s) URL",
        ),
        (
            'feeds:\n  - {id: f1, url: "https://e.org/a"}\n  - {id: f1, url: "https://e.org/b"}\n',
            "feeds.yaml:3: duplicate feed id 'f1'",
        ),
    ],
)
def test_feed_file_problems(tmp_path: Path, feeds: str, expected: str) -> None:
    """Bad durations, URLs and duplicate ids in feeds.yaml are located."""
    code, _, err = run_check(make_dir(tmp_path, "rules: []\n", feeds=feeds))
    assert 1 == code
    assert f"{tmp_path}/{expected}" in err


@pytest.mark.parametrize(
    ("entities", "expected"),
    [
        (
            "entities:\n  - {id: x, type: planet, names: [X]}\n",
            "places.yaml:2: entity `type` must be one of person, org, place, event, other",
        ),
        (
            "entities:\n  - {id: x, type: place}\n",
            "places.yaml:2: `names` must be a list, not nothing",
        ),
        (
            'entities:\n  - {id: x, type: person, names: [X], context: ["/[/"]}\n',
            "places.yaml:2: bad regular expression /[/",
        ),
    ],
)
def test_entity_file_problems(tmp_path: Path, entities: str, expected: str) -> None:
    """Mistakes in entity files are located too."""
    code, _, err = run_check(make_dir(tmp_path, "rules: []\n", entities=entities))
    assert 1 == code
    assert f"{tmp_path}/entities/{expected}" in err


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    """check does not stop at the first problem."""
    rules = "rules:\n  - {id: a, match: {any: [x]}, severity: huge}\n  - {id: b, colour: red}\n"
    code, _, err = run_check(make_dir(tmp_path, rules))
    assert 1 == code
    assert "watches.yaml:2: severity" in err
    assert "watches.yaml:3: unknown key 'colour'" in err
    assert "3 problems found" in err


def test_missing_directory(tmp_path: Path) -> None:
    """A rules directory that does not exist is an error, not an empty rule set."""
    code, _, err = run_check(tmp_path / "nope")
    assert 1 == code
    assert "no such rules directory" in err


def test_shipped_rules_pass_through_the_real_command(shipped_rules: Path) -> None:
    """`monitor check rules` on the shipped rules succeeds with a one-line summary."""
    done = subprocess.run(
        [sys.executable, "-m", "monitor", "check", str(shipped_rules)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert 0 == done.returncode, done.stderr
    (line,) = done.stdout.splitlines()
    assert line.startswith("ok: ")
    assert "entities" in line
    assert "feeds" in line


def test_broken_rules_fail_through_the_real_command(tmp_path: Path) -> None:
    """The real command exits 1 and prints FILE:LINE on stderr."""
    make_dir(tmp_path, "rules:\n  - id: a\n    match: {any: [x]}\n    severity: 5\n")
    done = subprocess.run(
        [sys.executable, "-m", "monitor", "check", str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert 1 == done.returncode
    assert f"{tmp_path}/watches.yaml:4: severity" in done.stderr


def test_a_link_out_of_the_rules_directory_is_named_not_read(tmp_path: Path) -> None:
    """A rule file that links to a file elsewhere is refused by name; none of its contents
    reach the error."""
    secret = tmp_path / "secret.txt"
    secret.write_text("root:hunter2-do-not-print\n")
    rules = make_dir(tmp_path / "rules", "rules:\n  - {id: a, match: {any: [x]}}\n")
    (rules / "stolen.yaml").symlink_to(secret)
    code, _, err = run_check(rules)
    assert 1 == code
    assert f"{rules}/stolen.yaml: links outside the rules directory; not read" in err
    assert "hunter2" not in err


def test_a_value_in_an_error_is_quoted_short(tmp_path: Path) -> None:
    """A file that is one long string where a mapping belongs is quoted in 60 characters."""
    rules = make_dir(tmp_path, "x" * 5000 + "\n")
    code, _, err = run_check(rules)
    assert 1 == code
    assert "x" * 100 not in err
    assert "x" * 50 in err


def test_cost_ranks_the_watches_on_generated_text(tmp_path: Path) -> None:
    # No config, so no stored articles: the text is made of the watches' own words. A watch
    # naming a hundred of them costs more than any watch of one word, but some 0.04 ms an
    # article: under the floor, so not flagged (tests/matching/test_cost.py flags a costly one).
    words = [f"term{n}" for n in range(100)]
    rules = "rules:\n" + "".join(
        f"  - {{id: w{n}, match: {{any: [{w}]}}}}\n" for n, w in enumerate(words)
    )
    rules += f"  - {{id: heavy, match: {{any: [{', '.join(words)}], min: 3}}}}\n"
    root = make_dir(tmp_path, rules)
    done = subprocess.run(
        [sys.executable, "-m", "monitor", "check", "--cost", "--sample", "50", str(root)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    header, columns, *rows = done.stdout.splitlines()
    assert "101 watches over 50 generated articles" in header
    assert columns.split() == ["watch", "where", "ms/article", "share"]
    assert rows[0].startswith("heavy ")
    assert "watches.yaml:102" in rows[0]
    assert ("COSTLY" in rows[0]) == (float(rows[0].split()[2]) > 0.2)
    assert rows[-1].startswith("101 watches measured one by one")


def test_cost_of_invalid_rules_is_their_problems(tmp_path: Path) -> None:
    root = make_dir(tmp_path, "rules:\n  - {id: x, match: {any: ['/(a)\\1/']}}\n")
    done = subprocess.run(
        [sys.executable, "-m", "monitor", "check", "--cost", str(root)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1
    assert "watches.yaml:2: bad regular expression" in done.stderr
