"""Read a rules directory from disk into a validated `RuleSet`.

Layout: `feeds.yaml` (the feeds), `entities/*.yaml` (entities), and every other `*.yaml` or
`*.yml` file directly in the directory is a rule file. Files are read in name order, so the
result does not depend on the file system.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from monitor.errors import Problem, RuleError
from monitor.matching.schema import link, parse_entity_file, parse_feed_file, parse_rule_file
from monitor.matching.spec import RuleSet
from monitor.yamlfile import read_yaml

FEEDS_FILE = "feeds.yaml"
ENTITIES_DIR = "entities"

T = TypeVar("T")


def _yaml_files(directory: Path) -> list[Path]:
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())


def _read_all(
    paths: list[Path],
    parse: Callable[[str, object], tuple[list[T], list[Problem]]],
    root: Path,
) -> tuple[list[T], list[Problem]]:
    specs: list[T] = []
    problems: list[Problem] = []
    for path in paths:
        if not path.resolve().is_relative_to(root):
            # A link out of the rules directory (to /etc/shadow, say) is named, never read:
            # its contents would otherwise reach logs and HTTP answers in the error.
            problems.append(Problem(str(path), 0, "links outside the rules directory; not read"))
            continue
        data, read_problems = read_yaml(path)
        problems.extend(read_problems)
        if read_problems:
            continue
        found, found_problems = parse(str(path), data)
        specs.extend(found)
        problems.extend(found_problems)
    return specs, problems


def read_rules_dir(rules_dir: Path) -> tuple[RuleSet, list[Problem]]:
    """Read and validate every file of a rules directory; return what is valid and the problems.

    A rule set with problems must not be put into service: use `load_rules_dir` for that.
    """
    if not rules_dir.is_dir():
        return RuleSet(), [Problem(str(rules_dir), 0, "no such rules directory")]
    rule_paths = [p for p in _yaml_files(rules_dir) if p.name not in (FEEDS_FILE, "feeds.yml")]
    feed_paths = [p for p in (rules_dir / FEEDS_FILE, rules_dir / "feeds.yml") if p.is_file()]
    root = rules_dir.resolve()
    rules, problems = _read_all(rule_paths, parse_rule_file, root)
    entity_paths = _yaml_files(rules_dir / ENTITIES_DIR)
    entities, entity_problems = _read_all(entity_paths, parse_entity_file, root)
    feeds, feed_problems = _read_all(feed_paths, parse_feed_file, root)
    rule_set = RuleSet(rules=tuple(rules), entities=tuple(entities), feeds=tuple(feeds))
    problems = [*problems, *entity_problems, *feed_problems, *link(rule_set)]
    return rule_set, problems


def load_rules_dir(rules_dir: Path) -> RuleSet:
    """Read a rules directory; raise `RuleError` naming every problem if anything is invalid."""
    rule_set, problems = read_rules_dir(rules_dir)
    if problems:
        raise RuleError(problems)
    return rule_set
