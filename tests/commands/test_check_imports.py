"""`monitor check` starts quickly: it loads no Kafka client (nor the service), as before the
commands moved to one module each. A guard: nothing else holds this line."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import ROOT, SHIPPED_RULES

PROBE = """
import sys
from monitor.commands.cli import main
code = main(["check", sys.argv[1]])
heavy = sorted(m for m in ("aiokafka", "monitor.service.app", "monitor.bus.kafka") if m in sys.modules)
print(code, heavy)
"""


def test_monitor_check_loads_no_kafka_client() -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(SHIPPED_RULES)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=True,
    )
    assert "0 []" == done.stdout.splitlines()[-1], done.stderr
