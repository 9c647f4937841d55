"""A reload reads again only the rule files that changed (`monitor.matching.loader.FileCache`),
and sees every change made after the rules in force were read."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

from prometheus_client import CollectorRegistry

from monitor.kernel.metrics import make_metrics
from monitor.matching.compiler import compile_rules
from monitor.matching.loader import RACY_NS, FileCache, read_rules_dir
from monitor.matching.reload import Reloader, snapshot
from monitor.matching.rulebook import RuleBook


def _write(path: Path, text: str, *, age_s: float = 60.0) -> None:
    """Write a file whose modification time lies `age_s` in the past."""
    path.write_text(text, encoding="utf-8")
    then = time.time_ns() - int(age_s * 1e9)
    os.utime(path, ns=(then, then))


def _rules(ids: str) -> str:
    return "rules:\n" + "".join(f"  - {{id: {i}, match: {{any: [{i}word]}}}}\n" for i in ids)


def test_only_changed_files_are_read_again(tmp_path: Path) -> None:
    for name, ids in (("a.yaml", "ab"), ("b.yaml", "cd"), ("c.yaml", "ef")):
        _write(tmp_path / name, _rules(ids))
    cache = FileCache()
    first, problems = read_rules_dir(tmp_path, cache)
    assert problems == []
    _write(tmp_path / "b.yaml", _rules("cx"))
    (tmp_path / "c.yaml").unlink()
    _write(tmp_path / "d.yaml", _rules("g"))
    second, problems = read_rules_dir(tmp_path, cache)
    assert problems == []
    assert [r.id for r in second.rules] == ["a", "b", "c", "x", "g"]
    # The unchanged file's watches are the very objects read before: it was not read again.
    assert second.rules[0] is first.rules[0]
    assert second.rules[2] is not first.rules[2]
    assert set(cache.files) == {tmp_path / n for n in ("a.yaml", "b.yaml", "d.yaml")}


def test_a_problem_in_an_unchanged_file_is_still_reported(tmp_path: Path) -> None:
    _write(tmp_path / "a.yaml", _rules("a"))
    _write(tmp_path / "bad.yaml", "rules:\n  - {id: x, match: {any: [/(a)\\1/]}}\n")
    cache = FileCache()
    _, before = read_rules_dir(tmp_path, cache)
    _, after = read_rules_dir(tmp_path, cache)
    assert before == after
    assert [(Path(p.path).name, p.line) for p in after] == [("bad.yaml", 2)]


def test_a_file_rewritten_within_the_same_tick_is_read_again(tmp_path: Path) -> None:
    # Saved a moment ago, read, then rewritten in place to the same size with the same
    # modification time (as the kernel's coarse clock can give): its stamp is unchanged,
    # so only its being recent when read makes it be read again.
    path = tmp_path / "a.yaml"
    path.write_text(_rules("a"), encoding="utf-8")
    stamp = path.stat().st_mtime_ns
    assert time.time_ns() - stamp < RACY_NS
    cache = FileCache()
    first, _ = read_rules_dir(tmp_path, cache)
    path.write_text(_rules("b"), encoding="utf-8")
    os.utime(path, ns=(stamp, stamp))
    second, _ = read_rules_dir(tmp_path, cache)
    assert [r.id for r in first.rules] == ["a"]
    assert [r.id for r in second.rules] == ["b"]


async def test_an_edit_before_the_watcher_first_looks_is_reloaded(tmp_path: Path) -> None:
    # The service reads its rules, then starts watching. A file saved in between is newer than
    # the rules in force: the watcher compares with the files as they stood before the read.
    _write(tmp_path / "a.yaml", _rules("a"))
    seen = snapshot(tmp_path)
    cache = FileCache()
    rule_set, _ = read_rules_dir(tmp_path, cache)
    book = RuleBook(compile_rules(rule_set))
    _write(tmp_path / "a.yaml", _rules("ab"), age_s=30)  # saved before the watcher looks
    reloader = Reloader(tmp_path, book, make_metrics(CollectorRegistry()), files=cache, seen=seen)
    stop = asyncio.Event()
    watching = asyncio.create_task(reloader.watch(stop, interval_s=0.05, settle_s=0.05))
    try:
        for _ in range(100):
            if len(book.compiled.rules) == 2:
                break
            await asyncio.sleep(0.05)
    finally:
        stop.set()
        await watching
    assert [r.spec.id for r in book.compiled.rules] == ["a", "b"]
