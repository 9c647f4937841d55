"""Hostile input to what issue 33's own-directory fixes read: `shipped_pack:` in an entity
file, a term with an unquoted `: ` (echoed in a hint), and secrets.env's byte order mark."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.kernel.envfile import parse_env
from monitor.kernel.yamlfile import parse_yaml
from monitor.matching.loader import read_rules_dir
from monitor.matching.spec import yaml_quoted


def entities(tmp_path: Path, text: str) -> tuple[list[str], list[str]]:
    """Read a rules dir whose one entity file is `text`: (entity ids, problem messages)."""
    (tmp_path / "entities").mkdir(exist_ok=True)
    (tmp_path / "entities" / "e.yaml").write_text(text, encoding="utf-8")
    rule_set, problems = read_rules_dir(tmp_path)
    return [e.id for e in rule_set.entities], [p.message for p in problems]


@pytest.mark.parametrize(
    "value", ['"no"', "0", "[false]", "{off: true}", "null", '"\\e[2J"', "x" * 5000]
)
def test_shipped_pack_takes_only_true_or_false(tmp_path: Path, value: str) -> None:
    """Anything but a boolean is one problem, quoted short, and the pack stays in."""
    ids, problems = entities(tmp_path, f"shipped_pack: {value}\nentities: []\n")
    assert 1 == len(problems), problems
    assert problems[0].startswith("`shipped_pack` must be true or false, not ")
    assert len(problems[0]) < 200
    assert "\x1b" not in problems[0]
    assert "kazakhstan" in ids


def test_shipped_pack_alone_and_in_two_files(tmp_path: Path) -> None:
    """A file holding only `shipped_pack: false` is valid; one false among trues wins."""
    (tmp_path / "entities").mkdir()
    (tmp_path / "entities" / "a.yaml").write_text("shipped_pack: true\nentities: []\n")
    ids, problems = entities(tmp_path, "shipped_pack: false\n")
    assert ([], []) == (ids, problems)


def test_an_own_entity_cannot_break_the_pack(tmp_path: Path) -> None:
    """An invalid own entity with a pack id is a problem of one's file; two own entities with
    a pack id are a duplicate of each other, not of the pack."""
    ids, problems = entities(
        tmp_path,
        "entities:\n  - {id: germany, type: nowhere, names: [X]}\n"
        "  - {id: france, type: place, names: [A]}\n  - {id: france, type: place, names: [B]}\n",
    )
    assert "germany" in ids  # the pack's, the broken own one being left out
    assert 2 == len(problems), problems
    assert any("duplicate entity id 'france'" in p and "/e.yaml" in p for p in problems)


def test_a_symlinked_entity_file_out_of_the_dir_is_still_refused(tmp_path: Path) -> None:
    """The pack is read from the package, which does not open the rules dir's links out."""
    outside = tmp_path / "outside.yaml"
    outside.write_text("entities:\n  - {id: leak, type: org, names: [Leak]}\n")
    rules = tmp_path / "rules"
    (rules / "entities").mkdir(parents=True)
    (rules / "entities" / "l.yaml").symlink_to(outside)
    rule_set, problems = read_rules_dir(rules)
    assert "leak" not in {e.id for e in rule_set.entities}
    assert ["links outside the rules directory; not read"] == [p.message for p in problems]


@pytest.mark.parametrize(
    ("term", "quoted"),
    [
        ("Note: this", '"Note: this"'),
        ('Say: it\'s "so"', '"Say: it\'s \\"so\\""'),
        ("a: b\\c", '"a: b\\\\c"'),
        ("Z: 3", '"Z: 3"'),
        ("rtl: x\u202ey", '"rtl: x\\u202ey"'),  # a bidi override is escaped, not acted on
        ("k: " + "w" * 500, None),
    ],
)
def test_the_colon_hint_quotes_any_text_safely(
    tmp_path: Path, term: str, quoted: str | None
) -> None:
    """The hint's quoted form parses back to the text meant, shows no character a terminal
    acts on, and a long one is cut."""
    line = (
        f"      any: [{term}, grain]\n"
        if '"' not in term and "\\" not in term
        else (f"      any:\n        - {term}\n")
    )
    (tmp_path / "w.yaml").write_text(f"rules:\n  - id: w\n    match:\n{line}", encoding="utf-8")
    _, problems = read_rules_dir(tmp_path)
    assert 1 == len(problems), problems
    message = problems[0].message
    assert "was read as a mapping" in message
    assert all(c.isprintable() for c in message)
    shown = message.rsplit(", as ", 1)[1]
    if quoted is not None:
        assert quoted == shown
        value, found = parse_yaml(f"x: {shown}\n", "q.yaml")
        assert ([], term) == (found, value["x"])
    else:
        assert len(message) < 300
        assert shown.endswith('…"')


def test_yaml_quoted_escapes_astral_controls() -> None:
    """A character beyond the BMP that prints is kept; one that does not is escaped."""
    assert '"\U0001f600"' == yaml_quoted("\U0001f600")
    assert '"\\U000e0001"' == yaml_quoted("\U000e0001")


@pytest.mark.parametrize(
    ("text", "values", "lines"),
    [
        ("\ufeffA=1\r\nB=2\r\n", {"A": "1", "B": "2"}, []),  # BOM and CRLF, as Notepad saves
        ("\ufeff# comment\nA=1\n", {"A": "1"}, []),
        ("\ufeff\ufeffA=1\n", {}, [1]),  # only one mark is a mark
        ("A=1\n\ufeffB=2\n", {"A": "1"}, [2]),  # not on line 1: a bad name, as before
        ("A=\ufeffx\n", {"A": "\ufeffx"}, []),  # inside a value: the value's own
    ],
)
def test_a_byte_order_mark_only_at_the_start(
    text: str, values: dict[str, str], lines: list[int]
) -> None:
    """The mark is dropped before line 1 only; anywhere else it stays what it was."""
    found, problems = parse_env(text)
    assert (values, lines) == (found, [line for line, _ in problems])
