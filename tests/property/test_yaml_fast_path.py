"""The native YAML fast path against PyYAML (`make fuzz` runs it longer).

`monitor.kernel.yamlfile.parse_yaml` first asks libyaml's parser in Rust (`monitor_native.read_yaml`)
to build the located containers; it answers None for whatever PyYAML must decide. Whenever it
answers, its answer must be exactly PyYAML's: the same values of the same types, on the same
lines; and it must never answer for a text PyYAML refuses.
"""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from bench.adversarial import write_rules_dir
from monitor.kernel import native
from monitor.kernel.located import LocDict, LocList
from monitor.kernel.yamlfile import _Loader, parse_yaml

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "150"))
PROFILE = settings(
    max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
fast = native.yaml_reader()
pytestmark = pytest.mark.native

# Scalars PyYAML (YAML 1.1) reads as something other than a string, or nearly so.
TRICKY = [
    "yes", "No", "ON", "off", "y", "n", "true", "False", "null", "~", "Null", "", " ",
    "0", "-0", "+5", "012", "0o17", "0x1F", "0b101", "1_000", "1:20", "190:20:30", "1.5",
    "1e3", "1.0e+3", ".5", ".inf", "-.Inf", ".nan", "2026-11-29", "2026-11-29 10:00:00",
    "2026-1-2T3:04:05Z", "<<", "=", "12345678901234567890", "-9223372036854775808",
    "6h", "tag:x", "/\\bAl[- ]?Qa[ei]da\\b/", "défense", "a: b", "- x", "#x", "'q'", '"d"',
    "&a", "*a", "!x", "%x", "@x", "`x", "|", ">", "x\ny", "\t", "\u2028", "\ufeff",
]  # fmt: skip
KEYS = ["rules", "id", "match", "any", "all", "none", "min", "term", "yes", "1", "null", "<<"]
values = st.recursive(
    st.sampled_from(TRICKY) | st.integers() | st.booleans() | st.none() | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.sampled_from(KEYS) | st.sampled_from(TRICKY), children, max_size=4)
    ),
    max_leaves=25,
)
# What a careless hand adds to a file: YAML's own punctuation, anchors, tags, documents.
NOISE = [
    "&a ", "*a", "!!str ", "!!int ", "!x ", "---\n", "...\n", "? ", ": ", "- ", "#", "\t",
    "{", "}", "[", "]", ",", "'", '"', "|\n", ">-\n", "%YAML 1.1\n---\n", "<<: ", "\\",
    "\n", "  ", "\ufeff",
]  # fmt: skip


def located(value: Any) -> Any:
    """A value with its types and every line it carries, comparable with ==."""
    if isinstance(value, LocDict):
        return ("map", value.line, [(k, value.key_lines[k], located(v)) for k, v in value.items()])
    if isinstance(value, LocList):
        return ("seq", value.line, value.item_lines, [located(v) for v in value])
    return (type(value).__name__, value)


def pyyaml(text: str) -> tuple[bool, Any]:
    """(True, the located value) as PyYAML reads the text, or (False, its error)."""
    try:
        return True, located(yaml.load(text, Loader=_Loader))  # noqa: S506 - a SafeLoader
    except (yaml.YAMLError, ValueError, OverflowError) as exc:
        return False, str(exc)


def agree(text: str) -> bool:
    """Assert the fast path agrees with PyYAML on `text`; return whether it answered."""
    assert fast is not None
    answer = fast(text, LocDict, LocList)
    if answer is None:
        return False
    ok, expected = pyyaml(text)
    assert ok, f"the fast path read a text PyYAML refuses ({expected}):\n{text}"
    assert located(answer) == expected, text
    return True


@st.composite
def documents(draw: st.DrawFn) -> str:
    """A document dumped in block, flow or mixed style, perhaps with noise put in."""
    value = draw(values)
    style = draw(st.sampled_from([False, True, None]))
    text = yaml.safe_dump(
        value, default_flow_style=style, allow_unicode=draw(st.booleans()), width=40
    )
    for _ in range(draw(st.integers(0, 3))):
        at = draw(st.integers(0, len(text)))
        text = text[:at] + draw(st.sampled_from(NOISE)) + text[at:]
    return text


@PROFILE
@given(documents())
@example("rules:\n- id: a\n  match: {any: [x, y]}\n")
@example("a: 1\na: 2\n")
@example("a: &x [1]\nb: *x\n")
@example("a: 1\n---\nb: 2\n")
@example("yes: 1\n")
def test_the_fast_path_reads_as_pyyaml_does(text: str) -> None:
    agree(text)


@PROFILE
@given(st.lists(st.sampled_from([*NOISE, "a", "b", "1", ".", "x: ", "y"]), max_size=30))
def test_text_of_yaml_punctuation_reads_as_pyyaml_does(pieces: list[str]) -> None:
    agree("".join(pieces))


def test_the_fast_path_answers_for_the_files_users_write(tmp_path: Path) -> None:
    # A generated rules directory (block style, as people write it) and the project's own
    # examples are read by the fast path, and read exactly as PyYAML reads them.
    write_rules_dir(tmp_path, 600, files=3)
    root = Path(__file__).resolve().parents[2]
    paths = [*tmp_path.rglob("*.yaml"), *root.glob("rules/**/*.yaml"), *root.glob("monitor*.yaml")]
    paths += root.glob("monitor/matching/entities/*.yaml")  # the shipped entity pack
    assert len(paths) >= 12
    for path in paths:
        assert agree(path.read_text(encoding="utf-8")), path


def test_what_it_leaves_to_pyyaml_is_still_reported_at_its_line() -> None:
    rng = random.Random(5)
    lines = [f"- id: r{i}\n  match: {{any: [w{rng.randrange(99)}]}}\n" for i in range(30)]
    text = "rules:\n" + "".join(lines) + "- id: x\n  match: {any: [a, b]\n"
    assert fast is not None
    assert fast(text, LocDict, LocList) is None
    with pytest.raises(yaml.MarkedYAMLError) as refused:
        yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader
    mark = refused.value.problem_mark
    assert mark is not None
    value, problems = parse_yaml(text, "watches.yaml")
    assert value is None
    # The unclosed flow mapping of line 63, found at the end of the text.
    assert [(p.path, p.line) for p in problems] == [("watches.yaml", mark.line + 1)]
    assert mark.line + 1 in (63, 64)
    assert problems[0].message.startswith("invalid YAML: ")
