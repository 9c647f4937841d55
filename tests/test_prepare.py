"""`make test` says what it prepares before the suite's dots: Chromium and promtool installed
with apt-get, the Kafka jars fetched, each announced on a line of its own (or why it could not
be, and that its tests are skipped), by tests/support/prepare.py in a stage before pytest."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

FAKE_APT_GET = """#!/bin/sh
# apt-get install -y ... PACKAGE: "installs" PACKAGE's program beside this script
for package; do :; done
case "$package" in
  prometheus) program=promtool ;;
  *) program="$package" ;;
esac
if [ -n "$REFUSE" ]; then
  echo "E: Unable to locate package $package" >&2
  exit 100
fi
printf '#!/bin/sh\\n' > "${0%/*}/$program" && /bin/chmod +x "${0%/*}/$program"
"""


def prepare(bin_dir: Path, **env: str) -> list[str]:
    """`python -m tests.support.prepare` with only `bin_dir` on PATH: the lines it says."""
    done = subprocess.run(
        [sys.executable, "-m", "tests.support.prepare"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={
            **os.environ,
            "PATH": str(bin_dir),
            "PYTHONPATH": str(ROOT),
            "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9",
            **env,
        },
    )
    assert 0 == done.returncode, done.stderr
    assert "" == done.stderr
    return done.stdout.splitlines()


@pytest.fixture
def bin_dir(tmp_path: Path) -> Path:
    """A PATH holding only a stand-in apt-get (the suite runs as root, as CI does)."""
    if os.geteuid() != 0:
        pytest.skip("installing needs root: run as root (the suite does, under CI)")
    folder = tmp_path / "bin"
    folder.mkdir()
    (folder / "apt-get").write_text(FAKE_APT_GET)
    (folder / "apt-get").chmod(0o755)
    return folder


def test_each_install_is_announced_before_it_runs_and_its_result_after(bin_dir: Path) -> None:
    said = prepare(bin_dir)
    assert said[0] == (
        "== installing chromium for the browser tests (the status page) with apt-get "
        "(a minute or two, once)"
    )
    assert said[1].startswith("   chromium installed in ")
    assert said[1].endswith(f": {bin_dir / 'chromium'}")
    assert said[2].startswith("== installing promtool for the Prometheus alert-rule tests")
    assert said[3].endswith(f": {bin_dir / 'promtool'}")
    assert "== the Kafka tests use the broker at 127.0.0.1:9 (KAFKA_BOOTSTRAP_SERVERS)" == said[4]
    assert 5 == len(said)
    assert ["== chromium for", "== promtool for"] == [s[:15] for s in prepare(bin_dir)[:2]]


def test_a_failed_install_says_why_and_that_its_tests_are_skipped(bin_dir: Path) -> None:
    said = prepare(bin_dir, REFUSE="1")
    assert said[1] == (
        "== chromium could not be installed (E: Unable to locate package chromium): "
        "the browser tests (the status page) are skipped (under CI=true they fail)"
    )
    assert said[3].startswith("== promtool could not be installed (E: Unable to locate package")


def test_without_java_or_maven_the_kafka_tests_are_said_skipped(tmp_path: Path) -> None:
    said = prepare(tmp_path, KAFKA_BOOTSTRAP_SERVERS="")
    assert "== no java or mvn: the Kafka tests are skipped (under CI=true they fail)" == said[-1]


def test_make_test_prepares_the_tools_before_the_suite() -> None:
    """The stage runs in `make test` after lint and before pytest (whose workers cannot speak)."""
    make = shutil.which("make")
    assert make is not None
    done = subprocess.run(
        [make, "-n", "test"], cwd=ROOT, capture_output=True, text=True, check=True, timeout=60
    )
    lines = done.stdout.splitlines()
    stage = next(i for i, line in enumerate(lines) if "-m tests.support.prepare" in line)
    suite = next(i for i, line in enumerate(lines) if "pytest -n " in line)
    lint = next(i for i, line in enumerate(lines) if "lint-imports" in line)
    assert lint < stage < suite
