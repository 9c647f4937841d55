"""secrets.env, read by a strict parser of our own (monitor.kernel.envfile): garbage lines,
`export`, quotes, no trailing newline, CRLF, a value holding `${...}`; every problem names its
line and never the value (a secret); fuzzed with hypothesis: it never raises, and what a
writer quotes comes back exactly."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitor.kernel.envfile import parse_env
from monitor.kernel.errors import ConfigError
from monitor.service.config import load_config

SECRET = "hunter2-the-real-one"  # noqa: S105 (a stand-in secret to look for)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("A=1", {"A": "1"}),  # no trailing newline
        ("A=1\r\nB=2\r\n", {"A": "1", "B": "2"}),  # CRLF
        ("export A=1\n  export\tB = 2 \n", {"A": "1", "B": "2"}),
        ("A='x # y '\n", {"A": "x # y "}),
        ('A="say \\"hi\\" \\\\ \\$HOME \\n"\n', {"A": 'say "hi" \\ $HOME \\n'}),
        ("A=two words # a note\n", {"A": "two words"}),
        ("A=#not-a-comment\nB= # a comment\n", {"A": "#not-a-comment", "B": ""}),
        ("A=${B}\nB='${A}'\nC=\"${HOME}\"\n", {"A": "${B}", "B": "${A}", "C": "${HOME}"}),
        ("A=\nB=''\nC=\"\"\n", {"A": "", "B": "", "C": ""}),
        ("# only a comment\n\n   \n\t# another\n", {}),
        ("A='it''s'", {}),  # text after the closing quote: a problem, below
        ("a_1=x=y\n", {"a_1": "x=y"}),
        ("A=é€😀\n", {"A": "é€😀"}),
    ],
)
def test_accepted_forms(text: str, expected: dict[str, str]) -> None:
    """What each accepted form reads as; values are never expanded."""
    values, _ = parse_env(text)
    assert expected == values


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        (f"just some words {SECRET}\n", 1, "expected NAME=value"),
        (f"A=1\n1BAD={SECRET}\n", 2, "letters, digits and _"),
        (f"MY-KEY={SECRET}\n", 1, "letters, digits and _"),
        (f"={SECRET}\n", 1, "without a NAME"),
        (f"A='{SECRET}\n", 1, "not closed"),
        (f'A="{SECRET}\nmore"\n', 1, "not closed"),
        (f"A='{SECRET}' trailing\n", 1, "after the closing quote"),
        (f"A=other\nA={SECRET}\n", 2, "set twice (first on line 1)"),
        (f"A={SECRET}\0\n", 1, "NUL"),
        (f"export {SECRET}\n", 1, "expected NAME=value"),
    ],
)
def test_problems_name_the_line_never_the_value(text: str, line: int, words: str) -> None:
    """Each malformed line is a problem at its number, in plain words, without its text; the
    value is not taken either."""
    values, problems = parse_env(text)
    assert line == problems[0][0]
    assert words in problems[0][1]
    assert not any(SECRET in message for _, message in problems)
    assert SECRET not in values.values()


def test_a_bad_line_is_a_config_error_without_the_secret(tmp_path: Path) -> None:
    """Through load_config: a garbage line of secrets.env fails the config at FILE:LINE and
    the error does not carry the secret."""
    config = tmp_path / "monitor.yaml"
    config.write_text("channels:\n  console: {kind: console}\n")
    secrets = tmp_path / "secrets.env"
    secrets.write_text(f"GOOD=1\nthis line is {SECRET}\n")
    secrets.chmod(0o600)
    with pytest.raises(ConfigError) as caught:
        load_config({}, config)
    assert str(caught.value).startswith(f"{secrets}:2: expected NAME=value")
    assert SECRET not in str(caught.value)


def test_not_utf8_is_a_config_error(tmp_path: Path) -> None:
    """Bytes that are not UTF-8: a config error naming the file, not a UnicodeDecodeError."""
    config = tmp_path / "monitor.yaml"
    config.write_text("channels: {}\n")
    secrets = tmp_path / "secrets.env"
    secrets.write_bytes(b"A=\xff\xfe\n")
    secrets.chmod(0o600)
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_config({}, config)


def test_a_directory_named_secrets_env(tmp_path: Path) -> None:
    """secrets.env that is a directory (mode 0700): a config error, not an IsADirectoryError."""
    config = tmp_path / "monitor.yaml"
    config.write_text("channels: {}\n")
    (tmp_path / "secrets.env").mkdir(mode=0o700)
    with pytest.raises(ConfigError, match="cannot read file"):
        load_config({}, config)


@given(st.text())
def test_any_text_parses_without_raising(text: str) -> None:
    """Arbitrary text gives values and problems, never an exception; no value holds a NUL,
    and every problem has a real line number."""
    values, problems = parse_env(text)
    assert all("\0" not in v for v in values.values())
    lines = text.count("\n") + 1
    assert all(1 <= n <= lines for n, _ in problems)


NAMES = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,15}", fullmatch=True)
VALUES = st.text(st.characters(blacklist_characters="\n\r\0", blacklist_categories=["Cs"]))


def quoted(value: str) -> str:
    """`value` written as a careful writer would: in double quotes, the four escaped."""
    return '"' + "".join("\\" + c if c in '"\\$`' else c for c in value) + '"'


@given(st.dictionaries(NAMES, VALUES, max_size=8), st.booleans(), st.booleans())
def test_quoted_values_come_back_exactly(
    env: dict[str, str], export: bool, trailing_newline: bool
) -> None:
    """Whatever a value holds (quotes, `#`, `${...}`, backslashes, spaces at the ends), written
    in double quotes it reads back exactly, with or without `export` and a final newline."""
    prefix = "export " if export else ""
    text = "\n".join(f"{prefix}{k}={quoted(v)}" for k, v in env.items())
    values, problems = parse_env(text + ("\n" if trailing_newline else ""))
    assert [] == problems
    assert env == values


def test_the_documented_example_reads_as_documented() -> None:
    """docs/configuration.md's secrets.env example has no problem and reads as it says."""
    page = (Path(__file__).resolve().parents[2] / "docs" / "configuration.md").read_text()
    block = page.split("### secrets.env", 1)[1].split("```sh\n", 1)[1].split("```", 1)[0]
    values, problems = parse_env(block)
    assert [] == problems
    assert "a long random string" == values["HOOK_SECRET"]
    assert 'with "quotes" and # inside' == values["SMTP_PASSWORD"]
