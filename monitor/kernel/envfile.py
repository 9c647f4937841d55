"""A strict reader of `secrets.env`: `NAME=value`, one a line (pure: text in, values out).

The accepted forms (a UTF-8 byte order mark before the first line is allowed and dropped):

    # a comment, and blank lines
    NAME=value                  surrounding spaces dropped; ` #` starts a comment
    export NAME=value           `export ` is allowed and ignored
    NAME='value'                taken as written: no escapes, `#` and spaces kept
    NAME="value"                `\\"`, `\\\\`, `\\$` and `\\`` stand for the character after
                                the backslash; any other backslash is kept

Values are never expanded: `${OTHER}` in a value stays as written. Anything else (a line
without `=`, a bad name, a quote not closed on its line, text after a closing quote, a name set
twice, a NUL) is a problem naming the line, and never the value, which may be a secret.

A shell's `set -a; . secrets.env` reads single-quoted values alike, and others only when they
hold no `$`, space, backslash, `~` or glob: it expands `$X`, `${X}` and `$(...)` unquoted and in
double quotes (here they stay as written), reads `NAME=a b` as running the command `b` with
NAME=a (here NAME is `a b`), and unquoted it expands `~` and globs and takes a backslash as an
escape (here kept). Single quotes give a value one meaning in both.
"""

from __future__ import annotations

import re
from typing import Final

SECRETS_FILE: Final = "secrets.env"  # beside monitor.yaml: NAME=value, mode 0600


def unset_message(name: str, secrets_path: object | None = None) -> str:
    """`${name}` is set neither in the environment nor in secrets.env: say where to set it
    (`secrets_path`: the secrets.env of the config in use, when there is one)."""
    where = secrets_path if secrets_path is not None else f"{SECRETS_FILE} beside monitor.yaml"
    return f"environment variable {name} is not set: set it in the environment or in {where}"


_LINE_RE: Final = re.compile(r"[ \t]*(?:export[ \t]+)?([A-Za-z_][A-Za-z0-9_]*)[ \t]*=(.*)")
_ESCAPED: Final = frozenset('"\\$`')


def parse_env(text: str) -> tuple[dict[str, str], list[tuple[int, str]]]:
    """The values of `text`, and its problems as (line number, message)."""
    values: dict[str, str] = {}
    first_line: dict[str, int] = {}
    problems: list[tuple[int, str]] = []
    text = text.removeprefix("\ufeff")  # a byte order mark some editors write first
    for number, raw in enumerate(text.split("\n"), start=1):
        line = raw.removesuffix("\r")
        stripped = line.strip(" \t")
        if not stripped or stripped.startswith("#"):
            continue
        m = _LINE_RE.fullmatch(line)
        if m is None:
            problems.append((number, _shape_problem(stripped)))
            continue
        name, rest = m.group(1), m.group(2)
        value, problem = _value(rest)
        if problem is None and "\0" in (value or ""):
            problem = "the value holds a NUL character, which no environment variable can"
        if problem is not None:
            problems.append((number, f"{name}: {problem}"))
            continue
        if name in first_line:
            problems.append((number, f"{name} is set twice (first on line {first_line[name]})"))
            continue
        first_line[name] = number
        values[name] = value or ""
    return values, problems


def _shape_problem(stripped: str) -> str:
    """What is wrong with a line that is not `NAME=value` (without quoting the line)."""
    if "=" not in stripped:
        return "expected NAME=value"
    name = stripped.split("=", 1)[0].strip().removeprefix("export").strip()
    if not name:
        return "a value without a NAME before its ="
    return (
        "the name before = must be letters, digits and _ (not starting with a digit), "
        "as an environment variable's"
    )


def _value(rest: str) -> tuple[str | None, str | None]:
    """The value after `=` and None, or None and the problem."""
    spaced = rest[:1] in (" ", "\t")
    rest = rest.lstrip(" \t")
    if rest.startswith("'"):
        end = rest.find("'", 1)
        if end < 0:
            return None, "the ' quote is not closed on its line"
        return _after_quote(rest[1:end], rest[end + 1 :])
    if rest.startswith('"'):
        chars: list[str] = []
        i = 1
        while i < len(rest):
            c = rest[i]
            if c == "\\" and i + 1 < len(rest) and rest[i + 1] in _ESCAPED:
                chars.append(rest[i + 1])
                i += 2
                continue
            if c == '"':
                return _after_quote("".join(chars), rest[i + 1 :])
            chars.append(c)
            i += 1
        return None, 'the " quote is not closed on its line'
    if spaced and rest.startswith("#"):  # `NAME= # note`: empty, as in a shell
        return "", None
    value = re.split(r"[ \t]#", rest, maxsplit=1)[0].strip(" \t")
    return value, None


def _after_quote(value: str, tail: str) -> tuple[str | None, str | None]:
    """A quoted value, if only spaces or a ` #` comment follow its closing quote."""
    tail = tail.strip(" \t")
    if tail and not tail.startswith("#"):
        return None, "text after the closing quote (quote the whole value)"
    return value, None
