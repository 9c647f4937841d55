"""`make test`'s stage before pytest: the tools the suite needs beyond Python, each announced on
the terminal as it is prepared, or why it is not (pytest-xdist's workers cannot write to it, so
what they would otherwise do in silence, minutes of it on a fresh machine, is done here first).

    python -m tests.support.prepare

Chromium (the browser tests) and promtool (the Prometheus rule tests) are installed with
apt-get when missing (as root; see tests/support/installs.py), and the Kafka broker's jars are
fetched from Maven Central once (tools/kafka_harness.py). A tool that cannot be had is said in
one line with what follows: its tests are skipped with a "<WHAT> TESTS NOT RUN" reason (under
CI=true they fail). The command exits 0 either way: the tests decide.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from collections.abc import Callable
from typing import NamedTuple

from tests.support.installs import can_install, install
from tools import kafka_harness


class Tool(NamedTuple):
    """A program from a Debian package, and the tests that need it."""

    command: str
    package: str
    tests: str


TOOLS = (
    Tool("chromium", "chromium", "the browser tests (the status page)"),
    Tool("promtool", "prometheus", "the Prometheus alert-rule tests"),
)
SKIPPED = "are skipped (under CI=true they fail)"


def prepare_tool(tool: Tool, say: Callable[[str], None]) -> bool:
    """Find `tool`, installing it first when missing and possible; True if it is here."""
    found = shutil.which(tool.command)
    if found is not None:
        say(f"== {tool.command} for {tool.tests}: {found}")
        return True
    if not can_install():
        say(f"== no {tool.command}, and no apt-get as root to install it: {tool.tests} {SKIPPED}")
        return False
    say(f"== installing {tool.command} for {tool.tests} with apt-get (a minute or two, once)")
    started = time.monotonic()
    failed = install(tool.package)
    found = shutil.which(tool.command)
    if found is None:
        why = failed or f"the package {tool.package} has no {tool.command}"
        say(f"== {tool.command} could not be installed ({why}): {tool.tests} {SKIPPED}")
        return False
    say(f"   {tool.command} installed in {time.monotonic() - started:.0f} s: {found}")
    return True


def prepare_kafka(say: Callable[[str], None]) -> bool:
    """Fetch the broker's jars once (or say why the Kafka tests cannot start one)."""
    external = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if external:
        say(f"== the Kafka tests use the broker at {external} (KAFKA_BOOTSTRAP_SERVERS)")
        return True
    missing = [tool for tool in ("java", "mvn") if shutil.which(tool) is None]
    if missing:
        say(f"== no {' or '.join(missing)}: the Kafka tests {SKIPPED}")
        return False
    version = kafka_harness.KAFKA_VERSION
    lib = kafka_harness.CACHE / version / "lib"
    if (lib / ".complete").exists():
        say(f"== Kafka {version}'s jars for the Kafka tests: {lib}")
        return True
    say(f"== fetching Kafka {version}'s jars from Maven Central with mvn (a few minutes, once)")
    started = time.monotonic()
    try:
        kafka_harness.ensure_jars(version)
    except (kafka_harness.HarnessError, OSError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        say(f"== the Kafka jars could not be fetched ({first}): the Kafka tests will fail")
        return False
    say(f"   fetched in {time.monotonic() - started:.0f} s: {lib}")
    return True


def main() -> int:
    """Prepare every tool, saying each; exit 0 (the tests skip or fail on what is missing)."""

    def say(line: str) -> None:
        print(line, flush=True)

    for tool in TOOLS:
        prepare_tool(tool, say)
    prepare_kafka(say)
    return 0


if __name__ == "__main__":
    sys.exit(main())
