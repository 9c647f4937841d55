"""What a watch costs: a watch is flagged only when costly in absolute terms and relative to
the others, its share is of a total that adds up to 100%, and the service warns by the same
test (`monitor.matching.cost`, `costwatch`, `commands/cost.py`)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry
from structlog.testing import capture_logs

from monitor.kernel.metrics import make_metrics
from monitor.matching.cost import COSTLY_SECONDS, CostReport, generated_articles, rule_costs
from monitor.matching.costwatch import export_report
from monitor.matching.loader import load_rules_dir

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "rules"
# Counted runs of `\w+\s+` on both sides of an alternation of common words, and a digit the
# text never has: the engine tries every run around every hit and never succeeds (about 1 ms
# an article of 3 KB, 5x the floor; the shipped watches cost under 0.04 ms). Its cost depends
# on how often the words occur: OFFICIALS makes the generated text name them often.
HEAVY = r"/\b(\w+\s+){1,12}(minister|police|report)\s+(\w+\s+){1,12}[0-9]/"
OFFICIALS = "  - {id: officials, match: {any: [minister, police, report]}}\n"


def with_heavy(tmp_path: Path) -> Path:
    """The shipped rules and one costly watch, in a directory of their own."""
    root = shutil.copytree(SHIPPED, tmp_path / "rules")
    (root / "heavy.yaml").write_text(
        f"rules:\n  - id: heavy\n    match:\n      any: ['{HEAVY}']\n{OFFICIALS}", encoding="utf-8"
    )
    return root


def measure(root: Path, sample: int = 50) -> CostReport:
    rule_set = load_rules_dir(root)
    return rule_costs(rule_set, generated_articles(rule_set, sample))


def test_the_shipped_watches_are_not_costly() -> None:
    """None of the shipped watches is flagged, though each has a large share of a few."""
    report = measure(SHIPPED)
    assert report.costs
    assert not report.costly, [(c.rule_id, c.seconds_per_article, c.share) for c in report.costs]
    assert sum(c.share for c in report.costs) == pytest.approx(1.0)


def test_a_heavy_regex_is_flagged_and_the_shares_add_up(tmp_path: Path) -> None:
    """A regex of counted runs around an alternation is flagged, alone, with why; the others
    are not; the shares add up to 100%."""
    report = measure(with_heavy(tmp_path))
    assert [c.rule_id for c in report.costly] == ["heavy"]
    heavy = report.costly[0]
    assert heavy.seconds_per_article > COSTLY_SECONDS
    assert "ms an article" in heavy.why
    assert "articles/s" in heavy.why
    assert sum(c.share for c in report.costs) == pytest.approx(1.0)
    assert report.watches_seconds == pytest.approx(sum(c.seconds_per_article for c in report.costs))


def test_check_cost_prints_ms_and_shares_that_add_up(tmp_path: Path) -> None:
    """`check --cost` shows ms an article and a share per watch (the column adds up to 100%),
    flags the heavy regex with its reason and no shipped watch."""
    root = with_heavy(tmp_path)
    done = subprocess.run(
        [sys.executable, "-m", "monitor", "check", "--cost", "--sample", "50", str(root)],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    header, columns, *rows, last = done.stdout.splitlines()
    assert "8 watches over 50 generated articles" in header
    assert columns.split() == ["watch", "where", "ms/article", "share"]
    assert rows[0].startswith("heavy ")
    assert "heavy.yaml:2" in rows[0]
    assert "COSTLY: " in rows[0]
    assert "articles/s" in rows[0]
    assert not any("COSTLY" in row for row in rows[1:])
    assert sum(float(row.split()[3].rstrip("%")) for row in rows) == pytest.approx(100, abs=0.5)
    assert last.startswith("8 watches measured one by one; 1 costly (over 0.2 ms an article")
    assert "shares are of the" in last


def test_check_cost_folds_the_rows_past_the_top_into_one(tmp_path: Path) -> None:
    """Past the ten costliest, the other watches are one row, so the column still adds up."""
    root = tmp_path / "rules"
    root.mkdir()
    (root / "watches.yaml").write_text(
        "rules:\n" + "".join(f"  - {{id: w{n}, match: {{any: [word{n}]}}}}\n" for n in range(14))
    )
    done = subprocess.run(
        [sys.executable, "-m", "monitor", "check", "--cost", "--sample", "20", str(root)],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    _, _, *rows, last = done.stdout.splitlines()
    assert len(rows) == 11
    assert rows[-1].startswith("(4 other watches) ")
    assert sum(float(row.split()[-1].rstrip("%")) for row in rows) == pytest.approx(100, abs=0.6)
    assert "0 costly" in last


def test_the_service_warns_of_a_costly_watch_only(tmp_path: Path) -> None:
    """The service's `costly_rules` warning names the heavy regex, and is not given for the
    shipped watches alone (the same test as `check --cost`)."""
    for root, warned in ((SHIPPED, []), (with_heavy(tmp_path), ["heavy"])):
        metrics = make_metrics(CollectorRegistry())
        with capture_logs() as logs:
            export_report(measure(root), metrics)
        costly = [e for e in logs if e["event"] == "costly_rules"]
        assert [e["rules"] for e in costly] == ([warned] if warned else [])
        if warned:
            assert "ms an article" in costly[0]["why"]["heavy"]
