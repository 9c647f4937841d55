"""Editing one watch of a rules file as text: spans, splices, keys set in place."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.kernel.yamlfile import parse_yaml
from monitor.matching import editing

FILE = """# my watches
rules:
  # the first
  - id: a   # named a
    match: [x]
    mode: shadow  # try it

  # about b
  -   id: b
      match:
        any: ["y: z", 'q']
  -
    id: c
    match: [z]
"""


def test_each_watch_reads_back_as_itself() -> None:
    """Splicing a watch's own text back leaves the file byte for byte as it was."""
    spans = editing.item_spans(FILE, "rules")
    assert sorted(spans) == ["a", "b", "c"]
    assert editing.dedent(FILE, spans["a"]).startswith("id: a   # named a\nmatch: [x]\n")
    for span in spans.values():
        assert editing.splice(FILE, span, editing.dedent(FILE, span)) == FILE


def test_a_splice_changes_only_the_watch() -> None:
    """A new text for b is re-indented to b's place; comments and the other watches stay."""
    span = editing.item_spans(FILE, "rules")["b"]
    text = editing.splice(FILE, span, "id: b\nmatch: [w]\n")
    assert "  -   id: b\n      match: [w]\n  -\n    id: c" in text
    assert text.startswith(FILE.split("  -   id: b")[0])


def test_set_key_replaces_in_place_or_adds() -> None:
    """`mode` is changed on its line (its comment kept), `enabled` added as the last key."""
    spans = editing.item_spans(FILE, "rules")
    text = editing.set_key(FILE, spans["a"], "mode", "live")
    assert "    mode: live  # try it\n" in text
    text = editing.set_key(FILE, spans["c"], "enabled", "false")
    assert text.endswith("    match: [z]\n    enabled: false\n")
    data, problems = parse_yaml(text, "f")
    assert not problems
    assert data["rules"][2]["enabled"] is False


@pytest.mark.parametrize(
    ("item", "words"),
    [
        ("id: a\n---\nid: b\n", "invalid YAML"),
        ("- id: a\n- id: b\n", "list of 2"),
        ("id: other\nmatch: [x]\n", "must stay 'a'"),
        ("rules:\n  - id: a\n", "whole file"),
        ("just text", "one watch"),
    ],
)
def test_a_replacement_must_be_the_same_one_watch(item: str, words: str) -> None:
    """Two watches, a list, another id or a whole file are refused with the reason."""
    problems = editing.check_item(item, "a", "watch")
    assert problems
    assert words in problems[0].message


_text = st.text(alphabet="abcxyz :-#'\"", max_size=20)


@settings(max_examples=150, deadline=None)
@given(
    ids=st.lists(st.from_regex(r"[a-z]{1,6}", fullmatch=True), min_size=1, max_size=5, unique=True),
    terms=st.lists(st.from_regex(r"[a-z ]{1,12}", fullmatch=True), min_size=1, max_size=3),
    indent=st.integers(0, 4),
    crlf=st.booleans(),
    which=st.integers(0, 4),
    new_terms=st.lists(st.from_regex(r"[a-z]{1,8}", fullmatch=True), min_size=1, max_size=3),
)
def test_splices_keep_the_other_watches(
    ids: list[str],
    terms: list[str],
    indent: int,
    crlf: bool,
    which: int,
    new_terms: list[str],
) -> None:
    """Any watch's own text gives the file unchanged; any splice keeps the others parsed
    the same."""
    pad = " " * indent
    rows = ["# top", "rules:"]
    for n, rid in enumerate(ids):
        rows += [f"{pad}- id: {rid}  # {n}", f"{pad}  match:", f"{pad}    any: {terms!r}", ""]
    text = ("\r\n" if crlf else "\n").join(rows)
    spans = editing.item_spans(text, "rules")
    before, _ = parse_yaml(text, "f")
    for span in spans.values():
        assert editing.splice(text, span, editing.dedent(text, span)) == text
    target = ids[which % len(ids)]
    edited = editing.splice(text, spans[target], f"id: {target}\nmatch: {new_terms!r}\n")
    after, problems = parse_yaml(edited, "f")
    assert not problems
    for old, new in zip(before["rules"], after["rules"], strict=True):
        if old["id"] == target:
            assert new == {"id": target, "match": new_terms}
        else:
            assert new == old
