"""Read a rules directory from disk into a validated `RuleSet`.

Layout: `feeds.yaml` (the feeds), `entities/*.yaml` (entities), and every other `*.yaml` or
`*.yml` file directly in the directory is a rule file. Files are read in name order, so the
result does not depend on the file system.

Every rules directory also gets the entity pack that ships with monitor (`monitor/matching/
entities/`: the 193 UN member states with their tags, and the organizations and people the
example watches name), as a system's defaults come with its packages: the pack is updated with
the software, never copied into one's own directory to go stale there. One's own entities add
to it, and one with a pack entity's id takes that entity's place (no duplicate); an entity file
saying `shipped_pack: false` leaves the pack out.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

from monitor.feeds.spec import parse_feed_file
from monitor.kernel.errors import Problem, RuleError
from monitor.kernel.gcpause import gc_paused
from monitor.kernel.yamlfile import parse_yaml, read_yaml
from monitor.matching.schema import PackSwitch, link, parse_entities, parse_rule_file
from monitor.matching.spec import EntitySpec, RuleSet

FEEDS_FILE = "feeds.yaml"
ENTITIES_DIR = "entities"

T = TypeVar("T")


def _yaml_files(directory: Path) -> list[Path]:
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())


# A file as it stood when read: size, modification time (ns) and inode, as the reload watcher
# compares them (`monitor.matching.reload.snapshot`).
Stamp = tuple[int, int, int]


@dataclass(slots=True)
class FileCache:
    """What each file of a rules directory held when it was last read, by path: a reload
    parses again only the files whose stamp changed (one edited file of 100 at 100,000
    watches: 3 s to read them all)."""

    files: dict[Path, tuple[Stamp, list[Any], list[Problem]]] = field(default_factory=dict)

    def forget_others(self, kept: set[Path]) -> None:
        """Drop the files not in `kept` (deleted, or renamed away)."""
        for path in self.files.keys() - kept:
            del self.files[path]


def _read_all(
    paths: list[Path],
    parse: Callable[[str, object], tuple[list[T], list[Problem]]],
    root: Path,
    cache: FileCache,
    texts: Mapping[Path, str],
) -> tuple[list[T], list[Problem]]:
    specs: list[T] = []
    problems: list[Problem] = []
    for path in paths:
        if not path.resolve().is_relative_to(root):
            # A link out of the rules directory (to /etc/shadow, say) is named, never read:
            # its contents would otherwise reach logs and HTTP answers in the error.
            problems.append(Problem(str(path), 0, "links outside the rules directory; not read"))
            continue
        if path in texts:  # an edit not yet written: checked in its file's place
            data, read_problems = parse_yaml(texts[path], str(path))
            found_now: list[T] = []
            if not read_problems:
                found_now, read_problems = parse(str(path), data)
            specs.extend(found_now)
            problems.extend(read_problems)
            continue
        stamp = _stamp(path)
        known = cache.files.get(path)
        if known is not None and known[0] == stamp:
            specs.extend(known[1])
            problems.extend(known[2])
            continue
        data, read_problems = read_yaml(path)
        found: list[T] = []
        if not read_problems:
            found, read_problems = parse(str(path), data)
        if stamp is not None:
            cache.files[path] = (stamp, found, read_problems)
        else:  # too fresh to be trusted next time
            cache.files.pop(path, None)
        specs.extend(found)
        problems.extend(read_problems)
    return specs, problems


# A file changed less than this before it was read may change again with the same stamp (file
# times are kept to the kernel's tick, and a rewrite can keep the size): it is read again next
# time, as git treats such "racily clean" files.
RACY_NS = 2_000_000_000


def _stamp(path: Path) -> Stamp | None:
    """The file's stamp, or None when it was changed too recently to be trusted (or is gone)."""
    try:
        st = path.stat()
    except OSError:
        return None  # gone since it was listed: reading it says so
    if time.time_ns() - st.st_mtime_ns < RACY_NS:
        return None
    return st.st_size, st.st_mtime_ns, st.st_ino


def read_rules_dir(
    rules_dir: Path, cache: FileCache | None = None, *, texts: Mapping[Path, str] | None = None
) -> tuple[RuleSet, list[Problem]]:
    """Read and validate every file of a rules directory; return what is valid and the problems.

    With `cache`, files unchanged since the cache last saw them are not read again. `texts`
    (by path, as listed in the directory) stand in for those files' contents: an edit checked
    with the rest of the rule set before it is written.
    A rule set with problems must not be put into service: use `load_rules_dir` for that.
    """
    if not rules_dir.is_dir():
        return RuleSet(), [Problem(str(rules_dir), 0, "no such rules directory")]
    with gc_paused():
        return _read_dir(rules_dir, FileCache() if cache is None else cache, texts or {})


def _read_dir(
    rules_dir: Path, cache: FileCache, texts: Mapping[Path, str]
) -> tuple[RuleSet, list[Problem]]:
    rule_paths = [p for p in _yaml_files(rules_dir) if p.name not in (FEEDS_FILE, "feeds.yml")]
    feed_paths = [p for p in (rules_dir / FEEDS_FILE, rules_dir / "feeds.yml") if p.is_file()]
    root = rules_dir.resolve()
    rules, problems = _read_all(rule_paths, parse_rule_file, root, cache, texts)
    entity_paths = _yaml_files(rules_dir / ENTITIES_DIR)
    found, entity_problems = _read_all(entity_paths, parse_entities, root, cache, texts)
    feeds, feed_problems = _read_all(feed_paths, parse_feed_file, root, cache, texts)
    cache.forget_others({*rule_paths, *entity_paths, *feed_paths})
    own = [e for e in found if isinstance(e, EntitySpec)]
    if all(s.on for s in found if isinstance(s, PackSwitch)):
        pack, pack_problems = shipped_entities()
        ids = {e.id for e in own}
        own = [e for e in pack if e.id not in ids] + own
        entity_problems = [*pack_problems, *entity_problems]
    rule_set = RuleSet(
        rules=tuple(r for r in rules if not r.draft),
        entities=tuple(own),
        feeds=tuple(feeds),
        drafts=tuple(r for r in rules if r.draft),
    )
    problems = [*problems, *entity_problems, *feed_problems, *link(rule_set)]
    return rule_set, sorted(problems, key=Problem.sort_key)


@functools.cache
def shipped_entities() -> tuple[tuple[EntitySpec, ...], tuple[Problem, ...]]:
    """The entity pack that ships with monitor, read once a process (it changes only with the
    software); problems only if the installation is damaged."""
    entities: list[EntitySpec] = []
    problems: list[Problem] = []
    folder = resources.files("monitor.matching") / ENTITIES_DIR
    for item in sorted(folder.iterdir(), key=lambda i: i.name):
        if not item.name.endswith(".yaml"):
            continue
        with resources.as_file(item) as path:
            data, found = read_yaml(path)
            if not found:
                specs, found = parse_entities(str(path), data)
                entities.extend(e for e in specs if isinstance(e, EntitySpec))
        problems.extend(found)
    return tuple(entities), tuple(problems)


def load_rules_dir(rules_dir: Path, cache: FileCache | None = None) -> RuleSet:
    """Read a rules directory; raise `RuleError` naming every problem if anything is invalid."""
    rule_set, problems = read_rules_dir(rules_dir, cache)
    if problems:
        raise RuleError(problems)
    return rule_set
