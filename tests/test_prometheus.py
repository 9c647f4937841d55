"""The monitor's own alerting: alert rules unit-tested by promtool, /metrics linted by promtool,
and a Grafana dashboard that queries only metrics the code exports.

promtool comes from Debian's `prometheus` package, installed here when missing (as root, with
apt-get). Where it cannot be, these tests are skipped with a loud reason, except under CI
(CI=true), where they fail: there they must run.
"""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from monitor.kernel.metrics import make_metrics
from tests.conftest import ROOT, SEED_FEED
from tests.support.installs import debian_tool
from tests.support.processes import ServiceRig, eventually, service_rig

pytestmark = pytest.mark.timeout(900)  # the first test may install promtool
DEPLOY = ROOT / "deploy"
METRIC_RE = re.compile(r"\bmonitor_[a-z_]+")


@pytest.fixture(scope="session")
def promtool() -> str:
    """The path of promtool, installed with apt-get if missing."""
    return debian_tool("promtool", "prometheus", "PROMTOOL")


def exported() -> set[str]:
    """Every sample name /metrics can show: each metric's name and its histogram series."""
    names = set()
    for metric in make_metrics().registry.collect():
        names.add(metric.name)
        if metric.type == "counter":
            names.add(metric.name + "_total")
        if metric.type == "histogram":
            names.update(metric.name + s for s in ("_bucket", "_count", "_sum"))
    return names


def test_alert_rules_are_valid_and_pass_their_unit_tests(promtool: str) -> None:
    """`promtool check rules` and `promtool test rules` (each alert fires when it should, with
    its labels and annotations, and not before)."""
    prometheus = DEPLOY / "prometheus"
    for command in (
        ("check", "rules", prometheus / "alerts.yaml"),
        ("test", "rules", prometheus / "alerts.test.yaml"),
        ("check", "config", prometheus / "prometheus.yml"),
    ):
        done = subprocess.run(
            [promtool, *map(str, command)], capture_output=True, text=True, check=False
        )
        assert 0 == done.returncode, f"promtool {command}: {done.stdout}{done.stderr}"


def test_every_alert_is_unit_tested() -> None:
    """Each alert of alerts.yaml has a case in alerts.test.yaml that expects it to fire."""
    rules = yaml.safe_load((DEPLOY / "prometheus" / "alerts.yaml").read_text())
    alerts = {r["alert"] for g in rules["groups"] for r in g["rules"]}
    tests = yaml.safe_load((DEPLOY / "prometheus" / "alerts.test.yaml").read_text())
    fired = {
        case["alertname"]
        for test in tests["tests"]
        for case in test["alert_rule_test"]
        if case["exp_alerts"]
    }
    assert alerts == fired


def test_alerts_and_dashboard_query_only_exported_metrics() -> None:
    """Every monitor_* name in the alert rules and the Grafana dashboard is one /metrics shows,
    so renaming a metric fails here rather than silently in production."""
    names = exported()
    rules = (DEPLOY / "prometheus" / "alerts.yaml").read_text()
    dashboard = json.loads((DEPLOY / "grafana" / "monitor.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    queried = set(METRIC_RE.findall(rules)) | {m for e in exprs for m in METRIC_RE.findall(e)}
    assert queried, "no metric queried at all"
    assert set() == queried - names
    assert len(dashboard["panels"]) == len({p["id"] for p in dashboard["panels"]})
    assert dashboard["uid"]
    assert dashboard["title"]


class Rig(ServiceRig):
    pass


async def test_metrics_pass_promtool_lint(tmp_path: Path, promtool: str) -> None:
    """A running service that has polled, matched and alerted serves /metrics that
    `promtool check metrics` finds nothing wrong with."""
    watches = "rules:\n  - {id: cis, match: {any: [CIS]}}\n"
    async with service_rig(tmp_path, {"world": SEED_FEED.read_bytes()}, watches, Rig) as rig:
        await rig.monitor.start()
        await eventually(lambda: len(rig.receiver.received) >= 1, 30, rig.monitor.stderr)
        _, text = await rig.monitor.get("/metrics")
        assert 'monitor_alerts_total{channel="hook",result="delivered"}' in text
        linted = await asyncio.to_thread(
            subprocess.run,
            [promtool, "check", "metrics"],
            input=text,
            capture_output=True,
            text=True,
            check=False,
        )
        assert (0, "") == (linted.returncode, linted.stdout + linted.stderr)
