"""`make bench`: every figure of the performance issue, with its target and its reference.

Sections: match (and compile), stories (fold quality and cost), templated (fold quality on
templated feeds: quakes, advisories, results), startup (and reload, check),
kafka, parse, poll, latency, soak, language (detection on held-out sentences), entities
(country mentions found by language; compiling with the country pack), extract (article
extraction F1 and speed).
`python -m bench.run` runs them all; `python -m bench.run poll latency` only those, keeping
the other rows of the day's results. The table goes to bench/results/<date>.md (rows also in
<date>.json), with the machine's CPU, core count and Python version. The soak lasts SOAK_S
seconds (default 600) at SOAK_RATE alerting articles a second (100) with the story window
bounded at SOAK_MAX_ARTICLES (8,000); its curve goes to <date>-soak.json.
"""

from __future__ import annotations

import asyncio
import datetime
import gc
import io
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import feedparser

from bench import (
    entities,
    extraction,
    feeds,
    kafka,
    language,
    service,
    startup,
    status,
    storyset,
    templated,
)
from bench.adversarial import (
    WORST_SHAPES,
    adversarial_articles,
    adversarial_rule_set,
    with_watch,
)
from bench.naive import NaiveMatcher
from bench.workload import articles, names, rule_set, vocabulary
from monitor.feeds.parse import parse_feed, parse_with_feedparser
from monitor.kernel import native
from monitor.kernel.models import Article
from monitor.matching.compiler import CompiledRules, compile_rules
from monitor.matching.matcher import match_article, match_in_python
from monitor.matching.spec import RuleSet
from monitor.stories.settings import DEFAULT_STORY_MEMBERS

RESULTS = Path(__file__).parent / "results"
# A pass over the articles takes 10 to 50 ms: the median of 15 is not moved by a pause of the
# machine's (another tenant's work) in one or two of them, as the median of 5 was.
RUNS = 15
SECTIONS = (
    "match", "stories", "templated", "startup", "kafka", "parse", "poll", "latency", "soak",
    "language", "entities", "extract", "status",
)  # fmt: skip
Row = dict[str, str]


def cpu_model() -> str:
    """The CPU's model name, from /proc/cpuinfo."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def median_rate(fn: Callable[[Article], object], items: list[Article], runs: int = RUNS) -> float:
    """Median articles per second over `runs` runs."""
    rates = []
    for _ in range(runs):
        start = time.perf_counter()
        for item in items:
            fn(item)
        rates.append(len(items) / (time.perf_counter() - start))
    return statistics.median(rates)


def row(figure: str, value: str, target: str = "-", reference: str = "-", ratio: str = "-") -> Row:
    """One line of the table."""
    return {"figure": figure, "value": value, "target": target, "ref": reference, "ratio": ratio}


def match_rows() -> list[Row]:
    """Matching at 1,000, 10,000 and 100,000 rules (realistic and dense), and compiling."""
    if native.engine_type() is None:
        raise SystemExit("the native engine (monitor_native) is not installed: run make first")
    words, people = vocabulary(100_000), names(200_000)
    docs = articles(200, words, people)
    rows = []
    cases = [
        (1_000, None, 20, people),
        (10_000, 15_000, 5, people),
        (100_000, 5_000, 1, people),
        (10_000, None, 5, None),  # dense: ordinary words
    ]
    for size, target, naive_docs, pool in cases:
        rules = rule_set(size, words, pool)
        gc.collect()
        compile_times = []
        for _ in range(3 if size == 100_000 else 1):
            t0 = time.perf_counter()
            compiled = compile_rules(rules)
            compile_times.append(time.perf_counter() - t0)
        sample = docs if size <= 10_000 else docs[:100]
        fast = median_rate(_matcher(compiled), sample)
        found = statistics.mean(len(match_article(a, compiled)) for a in sample)
        slow = _naive_rate(rules, compiled, docs[:naive_docs], runs=3)
        kind = "dense (ordinary words)" if pool is None else "realistic"
        rows.append(
            row(
                f"match, {size:,} rules, {kind}; {found:.1f} matches/article",
                f"{fast:,.0f} articles/s",
                f">= {target:,}/s" if target else "-",
                f"naive {slow:,.2f}/s",
                f"{fast / slow:,.0f}x",
            )
        )
        if size == 10_000 and pool is not None:
            rows.append(_python_matcher_row(rules, compiled, sample, fast))
        del compiled  # not alive while the next case is measured
        if size == 100_000 and pool is not None:
            compile_s = statistics.median(compile_times)
            rows.append(row("compile 100,000 rules (median of 3)", f"{compile_s:.2f} s", "< 2 s"))
            rows.append(row("compile 100,000 rules, peak memory", _compile_memory(), "< 300 MB"))
    return rows + adversarial_rows()


# The adversarial workload's figures on the engine before the regex set (commit 7a0e055, this
# machine, 2026-11-29), for the ratio: the old engine cannot run in the same process.
ADVERSARIAL_BEFORE = {10_000: 431.0}


def adversarial_rows() -> list[Row]:
    """The adversarial workload (bench/adversarial.py) at 10,000 and 100,000 watches, and the
    most one added watch of any shape costs at 10,000."""
    docs = adversarial_articles(200)
    rows = []
    for size, target, naive_docs in ((10_000, 10_000, 3), (100_000, 3_000, 1)):
        rules = adversarial_rule_set(size)
        compiled = compile_rules(rules)
        sample = docs if size <= 10_000 else docs[:100]
        for item in sample:  # the regex set's lazy DFAs fill on first sight of the text
            match_article(item, compiled)
        fast = median_rate(_matcher(compiled), sample, runs=5)
        found = statistics.mean(len(match_article(a, compiled)) for a in sample)
        slow = _naive_rate(rules, compiled, docs[:naive_docs], runs=1)
        before = ADVERSARIAL_BEFORE.get(size)
        rows.append(
            row(
                f"match, {size:,} rules, adversarial; {found:.1f} matches/article",
                f"{fast:,.0f} articles/s",
                f">= {target:,}/s",
                f"naive {slow:,.2f}/s"
                + (f"; engine before the regex set {before:,.0f}/s" if before else ""),
                f"{fast / slow:,.0f}x" + (f"; {fast / before:.1f}x before" if before else ""),
            )
        )
        del compiled
    rows.append(_worst_watch_row(docs[:60]))
    return rows


def _worst_watch_row(docs: list[Article]) -> Row:
    """The shape in `WORST_SHAPES` whose one watch, added to 10,000 adversarial ones, slows
    matching most."""
    base = adversarial_rule_set(10_000)

    def rate(rules: RuleSet) -> float:
        compiled = compile_rules(rules)
        for item in docs:
            match_article(item, compiled)
        return median_rate(_matcher(compiled), docs, runs=5)

    alone = rate(base)
    costs = {label: alone / rate(with_watch(base, match)) for label, match in WORST_SHAPES.items()}
    worst = max(costs, key=costs.__getitem__)
    return row(
        f"one watch added to 10,000 adversarial: the costliest of {len(costs)} shapes",
        f"{costs[worst]:.2f}x slower ({worst})",
        "<= 2x",
        "; ".join(f"{label} {cost:.2f}x" for label, cost in costs.items() if label != worst),
        "-",
    )


def _naive_rate(
    rules: RuleSet, compiled: CompiledRules, checked: list[Article], runs: int
) -> float:
    """The naive reference matcher's rate over `checked`, after checking it finds what the
    engine finds there. The naive matcher is dropped on return: it holds thousands of regexes."""
    naive = NaiveMatcher(rules)
    if [[m.rule_id for m in match_article(a, compiled)] for a in checked] != [
        naive.match(a) for a in checked
    ]:
        raise SystemExit("the fast matcher and the reference disagree")
    return median_rate(naive.match, checked, runs=runs)


def _python_matcher_row(
    rules: RuleSet, compiled: CompiledRules, docs: list[Article], fast: float
) -> Row:
    """The same 10,000 rules matched without the native engine (where it is not installed)."""
    in_python = compile_rules(rules, engine=False)
    if [match_in_python(a, in_python) for a in docs] != [match_article(a, compiled) for a in docs]:
        raise SystemExit("the native engine and the Python matcher disagree")
    rate = median_rate(lambda a: match_in_python(a, in_python), docs)
    return row(
        "match, 10,000 rules, realistic, without the native engine (the Python matcher)",
        f"{rate:,.0f} articles/s",
        "-",
        f"native engine {fast:,.0f}/s",
        f"native {fast / rate:,.1f}x faster",
    )


def _compile_memory() -> str:
    """Peak resident memory that compiling 100,000 rules adds, in a fresh process.

    The peak (VmHWM) is reset just before compiling (Linux: /proc/self/clear_refs), so the
    memory that generating the rules took is not counted.
    """
    code = (
        "import gc\n"
        "from bench.workload import names, rule_set, vocabulary\n"
        "from monitor.matching.compiler import compile_rules\n"
        "def kb(key):\n"
        "    return int(open('/proc/self/status').read().split(key + ':')[1].split()[0])\n"
        "rules = rule_set(100_000, vocabulary(100_000), names(200_000))\n"
        "gc.collect()\n"
        "open('/proc/self/clear_refs', 'w').write('5')\n"
        "before = kb('VmRSS')\n"
        "compiled = compile_rules(rules)\n"
        "print(before, kb('VmHWM'), kb('VmRSS'))\n"
    )
    out = subprocess.run(  # noqa: S603 - our own interpreter running our own code
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    before, peak, after = (int(x) / 1024 for x in out)
    return f"{peak - before:,.0f} MB at peak, {after - before:,.0f} MB kept"


def parse_rows() -> list[Row]:
    """50-item RSS and Atom: the whole parse (articles made) against feedparser's."""
    rows = []
    for name, doc in (("RSS 2.0", feeds.rss()), ("Atom 1.0", feeds.atom())):
        fast = parse_feed(doc, feed_id="bench")
        slow = parse_with_feedparser(doc, feed_id="bench")
        if fast.parser != "lxml" or fast.articles != slow.articles:
            raise SystemExit(f"the fast parser did not read the {name} feed as feedparser does")
        fast_s = _median_s(parse_feed, doc)
        slow_s = _median_s(parse_with_feedparser, doc)
        bare_s = _median_s(_bare_feedparser, doc)
        rows.append(
            row(
                f"parse a 50-item {name} feed ({len(doc) / 1024:.0f} KB) into articles",
                f"{fast_s * 1000:.1f} ms ({1 / fast_s:,.0f} feeds/s)",
                ">= 10x feedparser",
                f"feedparser {slow_s * 1000:.1f} ms (feedparser.parse alone {bare_s * 1000:.1f})",
                f"{slow_s / fast_s:.1f}x",
            )
        )
    rows.append(row(*_corpus_coverage()))
    return rows


def _matcher(compiled: CompiledRules) -> Callable[[Article], object]:
    return lambda item: match_article(item, compiled)


def _bare_feedparser(doc: bytes, feed_id: str) -> object:
    return feedparser.parse(io.BytesIO(doc))


def _median_s(parse: Callable[..., object], doc: bytes, runs: int = 30) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        parse(doc, feed_id="bench")
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _corpus_coverage() -> tuple[str, str, str, str, str]:
    corpus = Path(__file__).parent.parent / "tests" / "data" / "feedparser-corpus"
    counts: dict[str, int] = {}
    for path in sorted(corpus.rglob("*")):
        if path.suffix not in (".xml", ".json"):
            continue
        try:
            parser = parse_feed(path.read_bytes(), feed_id="c").parser
        except Exception:  # noqa: BLE001 - a document neither parser reads counts as failed
            parser = "failed"
        counts[parser] = counts.get(parser, 0) + 1
    total = sum(counts.values())
    return (
        "feedparser's test corpus: documents read by lxml / fell back to feedparser",
        f"{counts.get('lxml', 0)} / {counts.get('feedparser', 0)} of {total}",
        "fallback counted; same articles",
        "tests/test_parse.py compares every lxml read with feedparser's",
        "-",
    )


def poll_rows() -> list[Row]:
    """The poller keeping 10,000 feeds on a 5-minute interval."""
    found = asyncio.run(service.polling())
    return [
        row(
            "poll 10,000 feeds every 5 min (one interval from a cold start)",
            f"{found['cpu_core'] * 100:.1f}% of a core, {found['peak_mb']:.0f} MB peak RSS",
            "< 25% core, < 500 MB",
            f"{found['polls_per_s']:.1f} polls/s, {found['not_modified'] * 100:.0f}% answered 304",
        )
    ]


def latency_rows() -> list[Row]:
    """Poll-to-webhook latency at 100 new articles a second."""
    found = asyncio.run(service.latency())
    return [
        row(
            "poll-to-webhook latency, 100 new articles/s, all alerting",
            f"p50 {found['p50_ms']:.0f} ms, p99 {found['p99_ms']:.0f} ms",
            "p50 < 50 ms, p99 < 250 ms",
            f"{found['alerts_per_s']:.0f} alerts/s received",
        )
    ]


# Measured on this machine on 2026-11-29 before the fast YAML path, the lazy regexes and the
# file cache (commit eb7a0c2), in process: read_rules_dir 19.7 s and compile_rules 2.7 s for
# the 100,000 adversarial watches in 100 files. The command-level figures below add Python's
# start and the service's own.
STARTUP_BEFORE_S = 19.7 + 2.7


def startup_rows() -> list[Row]:
    """`monitor check`, start-up to /readyz and reload after one edit, at 100,000 watches."""
    found = asyncio.run(startup.startup_and_reload())
    before = f"before: read + compile in process {STARTUP_BEFORE_S:.1f} s"
    return [
        row(
            "monitor run to /readyz 200, 100,000 adversarial watches in 100 files",
            f"{found['start_s']:.2f} s",
            "< 5 s",
            before,
            f"{STARTUP_BEFORE_S / found['start_s']:.1f}x faster",
        ),
        row(
            "monitor check, 100,000 watches in 100 files",
            f"{found['check_s']:.2f} s",
            "< 5 s",
            before,
            f"{STARTUP_BEFORE_S / found['check_s']:.1f}x faster",
        ),
        row(
            "reload after editing 1 file of 100 (save by rename -> new rules in force)",
            f"median {found['reload_s']:.2f} s, max {found['reload_max_s']:.2f} s "
            f"({len(found['reloads_s'])} edits)",
            "< 2 s",
            before + " (every reload re-read every file)",
            f"{STARTUP_BEFORE_S / found['reload_s']:.1f}x faster",
        ),
    ]


def kafka_rows() -> list[Row]:
    """Poller -> 2 matchers -> 2 dispatchers on a real broker: throughput and backlog drain."""
    found = asyncio.run(kafka.throughput())
    curve = ", ".join(f"{t}s: {lag:,.0f}" for t, lag in found["lag_curve"])
    return [
        row(
            "Kafka end to end: poller + 2 matchers + 2 dispatchers, 100,000 articles "
            "(10% alerting), all started together",
            f"{found['end_to_end_per_s']:,.0f} articles/s ({found['end_to_end_s']:.1f} s)",
            ">= 3,000/s",
            f"poller alone {found['poll_per_s']:,.0f} articles/s published",
        ),
        row(
            "Kafka backlog of 100,000 articles drained by 2 matchers + 2 dispatchers",
            f"{found['drain_per_s']:,.0f} articles/s ({found['drain_s']:.1f} s)",
            "-",
            f"matcher lag: peak {found['peak_lag']:,.0f}; {curve}",
        ),
    ]


def soak_rows() -> list[Row]:
    """Memory over a soak of SOAK_S seconds (600) at SOAK_RATE alerting articles a second (100:
    what the dispatcher sustains on 2 shared cores), with the story window bounded at
    SOAK_MAX_ARTICLES (8,000) so that every bound fills (the pairs', 4x, in about 320 s), then
    its plateau; and the plateau that implies at the default bounds."""
    seconds = float(os.environ.get("SOAK_S", "600"))
    rate = float(os.environ.get("SOAK_RATE", "100"))
    most = int(os.environ.get("SOAK_MAX_ARTICLES", "8000"))
    found = asyncio.run(service.soak(seconds, rate, most))
    day = datetime.datetime.now(datetime.UTC)
    (RESULTS / f"{day:%Y-%m-%d}-soak.json").write_text(json.dumps(found, indent=1) + "\n")
    filled = ", ".join(
        f"{name} {at:.0f} s" if at is not None else f"{name} not reached"
        for name, at in found["filled_s"].items()
    )
    parts = sorted(found["structures_mb"].items(), key=lambda kv: -kv[1])
    estimated = sum(mb for _, mb in parts)
    model = found["language_model_mb"]  # loaded at the first article, after the start reading
    rest = found["plateau_mb"] - estimated - found["start_mb"] - model
    # The same plateau with every structure at its default bound (50,000 articles): each
    # structure's bytes scale with its bound.
    at_default = found["start_mb"] + model + rest + estimated * DEFAULT_STORY_MEMBERS / most
    made_of = "; ".join(f"{name} {mb:.1f} MB" for name, mb in parts)
    return [
        row(
            f"memory over a {seconds / 60:.0f}-minute soak at {rate:,.0f} alerting articles/s "
            f"(each its own story), stories.max_articles {most:,}",
            f"plateau {found['plateau_mb']:.0f} MB ({found['plateau_min_mb']:.0f}-"
            f"{found['plateau_max_mb']:.0f}; PSS {found['plateau_pss_mb']:.0f}) over the "
            f"{found['plateau_minutes']:.1f} min after every bound filled "
            f"({found['plateau_drift_mb_per_min']:+.1f} MB/min); peak {found['peak_mb']:.0f} MB",
            "flat once the bounds are full",
            f"{found['alerts']:,} alerts delivered ({found['alerts_per_s']:,.0f}/s); "
            f"{found['start_mb']:.0f} MB at start",
        ),
        row("soak: seconds until each structure filled its bound", filled, "-", "-"),
        row(
            "soak: what the plateau is made of (estimated bytes per structure, from the gauges)",
            f"{made_of}: {estimated:.0f} MB; start-up {found['start_mb']:.0f} MB; the language "
            f"model {model:.0f} MB (loaded at the first article); the rest {rest:.0f} MB",
            "-",
            f"RSS {found['plateau_mb']:.0f} MB",
        ),
        row(
            "soak: the plateau at the default bounds (50,000 articles), from the above",
            f"about {at_default:.0f} MB",
            "-",
            "start-up, language model and the rest as measured; each structure scaled to its "
            "default bound",
        ),
    ]


RUNNERS: dict[str, Callable[[], list[Row]]] = {
    "match": match_rows,
    "stories": storyset.story_rows,
    "templated": templated.templated_rows,
    "startup": startup_rows,
    "kafka": kafka_rows,
    "parse": parse_rows,
    "poll": poll_rows,
    "latency": latency_rows,
    "soak": soak_rows,
    "language": language.language_rows,
    "entities": entities.entity_rows,
    "extract": extraction.extraction_rows,
    "status": status.status_rows,
}


def main(argv: list[str]) -> int:
    """Run the chosen sections (all by default) and record the table."""
    chosen = argv or list(SECTIONS)
    unknown = set(chosen) - set(SECTIONS)
    if unknown:
        print(f"unknown sections {sorted(unknown)}; choose from {', '.join(SECTIONS)}")
        return 2
    when = datetime.datetime.now(datetime.UTC)
    RESULTS.mkdir(exist_ok=True)
    store = RESULTS / f"{when:%Y-%m-%d}.json"
    recorded: dict[str, Any] = {}
    for section in chosen:
        started = time.time()
        commit = _commit()  # before: the checkout may move during a long section
        rows = RUNNERS[section]()
        # Read again: another run (a long soak, say) may have recorded its sections meanwhile.
        recorded = json.loads(store.read_text()) if store.exists() else {}
        recorded[section] = {
            "rows": rows,
            "took_s": round(time.time() - started),
            "at": f"{datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC",
            "commit": commit,
        }
        store.write_text(json.dumps(recorded, indent=1) + "\n")
        print(_table([r for s in SECTIONS for r in recorded.get(s, {}).get("rows", [])]))
    text = _report(recorded)
    out = RESULTS / f"{when:%Y-%m-%d}.md"
    out.write_text(text)
    print(text)
    print(f"written to {out}")
    return 0


def _commit() -> str:
    try:
        return subprocess.run(
            ["git", "describe", "--always", "--dirty"],  # noqa: S607
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _table(rows: list[Row]) -> str:
    lines = ["| figure | value | target | reference | ratio |", "|---|---|---|---|---|"]
    lines += [
        f"| {r['figure']} | {r['value']} | {r['target']} | {r['ref']} | {r['ratio']} |"
        for r in rows
    ]
    return "\n".join(lines)


def _report(recorded: dict[str, Any]) -> str:
    rows = [r for s in SECTIONS for r in recorded.get(s, {}).get("rows", [])]
    runs = "; ".join(
        f"{s} at {recorded[s]['at']} (commit {recorded[s]['commit']}, {recorded[s]['took_s']} s)"
        for s in SECTIONS
        if s in recorded
    )
    missing = [s for s in SECTIONS if s not in recorded]
    header = [
        f"# Benchmarks, {datetime.datetime.now(datetime.UTC):%Y-%m-%d}",
        "",
        f"- machine: {cpu_model()}, {os.cpu_count()} cores, "
        f"{_memory_gb():.0f} GB; Python {platform.python_version()} "
        f"({sys.implementation.name}), {platform.system()} {platform.release()}",
        f"- runs: {runs}" + (f"; not run: {', '.join(missing)}" if missing else ""),
        "- matching: the native engine (native/, Rust) called from Python, matches built as "
        "the service builds them; 200 articles of ~3 KB (100 at 100,000 rules); seeded rule sets "
        "(bench/workload.py: keywords, "
        "phrases, prefixes, globs, ~3% regex, entity watches with aliases, context and tags, "
        "all/any/none/min); one core; median of 15 runs; the reference is bench/naive.py (every "
        "rule with its own regexes), checked to agree on every article it ran on. Realistic: "
        "watches name things (names, two-word names, their prefixes and globs) and some topic "
        "words; dense: every watch made of ordinary words",
        "- service figures: `monitor run` as its own process on the embedded bus, against a feed "
        "server and a webhook receiver in the benchmark's process (bench/service.py); CPU and "
        "memory read from /proc for the monitor alone",
        "",
        "",
    ]
    return "\n".join(header) + _table(rows) + "\n"


def _memory_gb() -> float:
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
    except (OSError, ValueError, IndexError):
        return 0.0
    return kb / 2**20


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
