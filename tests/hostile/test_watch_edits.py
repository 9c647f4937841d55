"""Hostile saves from the console: bombs, two watches, other ids, path tricks."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from monitor.kernel.console import ActionRefused
from tests.status.test_watchdesk import WHO, _desk

BOMB = "id: fires\nmatch: &a [x, x]\nfields: *a\n"


@pytest.mark.parametrize(
    ("rule_id", "text", "status"),
    [
        ("fires", BOMB, 422),
        ("fires", "id: fires\nmatch: [" + "x, " * 100_000 + "x]\n", 422),
        ("fires", "id: fires\nmatch: [x]\n---\nid: quakes\nmatch: [y]\n", 422),
        ("fires", "- id: fires\n  match: [x]\n- id: other\n  match: [y]\n", 422),
        ("fires", "id: quakes\nmatch: [x]\n", 422),
        ("../watches", "id: x\nmatch: [x]\n", 404),
        ("..%2Fetc", "id: x\nmatch: [x]\n", 404),
    ],
)
def test_hostile_saves_write_nothing(tmp_path: Path, rule_id: str, text: str, status: int) -> None:
    """Aliases, huge text, two watches, another id or a path as id: refused, file unchanged."""
    desk, rules = _desk(tmp_path)
    before = (rules / "watches.yaml").read_text()
    with pytest.raises(ActionRefused) as refused:
        asyncio.run(desk.save(rule_id, text, WHO))
    assert refused.value.status == status
    assert (rules / "watches.yaml").read_text() == before
    assert sorted(p.name for p in rules.iterdir()) == ["feeds.yaml", "watches.yaml"]


def test_a_linked_rules_file_is_refused_and_left_as_it_is(tmp_path: Path) -> None:
    """watches.yaml a symbolic link, as a Kubernetes ConfigMap mounts it (`..data/`): the save
    is refused with 409 in words naming the target, the link stays a link, its target as it
    was."""
    desk, rules = _desk(tmp_path)
    (rules / "..data").mkdir()
    kept = rules / "..data" / "watches.yaml"
    (rules / "watches.yaml").rename(kept)
    (rules / "watches.yaml").symlink_to(kept)
    before = kept.read_text()
    with pytest.raises(ActionRefused) as refused:
        asyncio.run(desk.save("fires", "id: fires\nmatch: {any: [forest fire]}\n", WHO))
    assert refused.value.status == 409
    assert f"watches.yaml is a link to {kept}; edit the file it points to" in str(refused.value)
    assert (rules / "watches.yaml").is_symlink()
    assert kept.read_text() == before
    assert sorted(p.name for p in rules.iterdir()) == ["..data", "feeds.yaml", "watches.yaml"]


def test_a_dangling_console_yaml_link_is_not_written_through(tmp_path: Path) -> None:
    """console.yaml a dangling link to a file outside the rules directory: adding a watch is
    refused (409) and nothing is created where the link points."""
    desk, rules = _desk(tmp_path)
    outside = tmp_path / "outside.yaml"
    (rules / "console.yaml").symlink_to(outside)
    with pytest.raises(ActionRefused) as refused:
        asyncio.run(desk.save("storms", "id: storms\nmatch: {any: [storm]}\n", WHO, create=True))
    assert refused.value.status == 409
    assert not outside.exists()
    assert (rules / "console.yaml").is_symlink()
