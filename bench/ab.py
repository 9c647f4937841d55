"""Which of two builds of the native engine matches faster: an A/B in one process.

    python -m bench.ab A.so B.so [--rules 100000] [--rounds 15]

A and B are two builds of `monitor_native` (the `.so` that `pip install ./native` puts in
.venv, copied aside before and after a change). Both are loaded into this process, the same
seeded rule set (bench/workload.py) is compiled with each, both must give the same matches on
every article, and then rounds over the same articles alternate between them (ABBA...). It
prints each build's median rate and how many rounds B won. Two processes run one after the
other differ by 3-5% on a busy machine; alternating in one process resolves about 1%.
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING
from unittest import mock

from bench.workload import articles, names, rule_set, vocabulary
from monitor.kernel import native
from monitor.kernel.models import Article
from monitor.matching import spec as specs
from monitor.matching.compiler import CompiledRules, _compile
from monitor.matching.matcher import match_article
from monitor.matching.spec import RuleSet

if TYPE_CHECKING:
    from monitor_native import Engine


def load_build(path: Path) -> ModuleType:
    """The build of `monitor_native` at `path`."""
    spec = importlib.util.spec_from_file_location("monitor_native", path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"{path}: not a loadable extension module")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def compile_with(path: Path, make_rules: Callable[[], RuleSet]) -> CompiledRules:
    """The rules `make_rules` gives, read and compiled with the build at `path`: a build runs
    only the regexes it made itself, and watch regexes are made as the rules are read."""
    build = load_build(path)
    specs._TERMS.clear()  # terms hold their regexes: none may come from the other build
    with mock.patch.object(native, "regex_type", return_value=build.Regex):
        engine: type[Engine] = build.Engine
        return _compile(make_rules(), engine)


def rate(compiled: CompiledRules, docs: list[Article]) -> float:
    """Articles matched per second, in one pass over `docs`."""
    gc.collect()
    start = time.perf_counter()
    for article in docs:
        match_article(article, compiled)
    return len(docs) / (time.perf_counter() - start)


def main(argv: list[str]) -> int:
    """Compare the two builds named in `argv`; print the verdict."""
    parser = argparse.ArgumentParser(prog="python -m bench.ab", description=__doc__)
    parser.add_argument("a", type=Path, help="build A (the baseline)")
    parser.add_argument("b", type=Path, help="build B (the change)")
    parser.add_argument("--rules", type=int, default=100_000, help="watches (default 100,000)")
    parser.add_argument("--rounds", type=int, default=15, help="rounds each (default 15)")
    args = parser.parse_args(argv)
    words, people = vocabulary(100_000), names(200_000)
    docs = articles(200 if args.rules <= 10_000 else 100, words, people)
    # The engine is chosen by the private entry point: compile_rules uses the installed one.
    builds = {
        name: compile_with(path, lambda: rule_set(args.rules, words, people))
        for name, path in (("A", args.a), ("B", args.b))
    }
    for article in docs:
        if match_article(article, builds["A"]) != match_article(article, builds["B"]):
            raise SystemExit(f"A and B disagree on article {article.id}")
    rates: dict[str, list[float]] = {"A": [], "B": []}
    for n in range(args.rounds):
        for name in ("A", "B") if n % 2 == 0 else ("B", "A"):
            rates[name].append(rate(builds[name], docs))
    a, b = statistics.median(rates["A"]), statistics.median(rates["B"])
    wins = sum(rb > ra for ra, rb in zip(rates["A"], rates["B"], strict=True))
    print(
        f"{args.rules:,} rules: A {a:,.0f}/s, B {b:,.0f}/s, B/A {b / a:.3f}; "
        f"B faster in {wins} of {args.rounds} rounds"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
