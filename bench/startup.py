"""Start-up, `monitor check` and reload at scale: 100,000 adversarial watches in 100 files.

Everything is timed from outside, as a user meets it: `monitor check RULES_DIR` as a command;
`monitor run` from the process's start to /readyz answering 200; a reload from the moment an
edited file is saved (by rename, as editors do) to the moment the service counts the new rule
set's watches in its `monitor_rules_loaded` gauge.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.adversarial import write_rules_dir
from bench.service import http_of, write_config
from tests.support.processes import MonitorProcess

POLL_S = 0.02


def check_s(rules: Path) -> float:
    """Wall time of `monitor check RULES_DIR` (which must pass)."""
    started = time.perf_counter()
    subprocess.run(  # noqa: S603 - our own interpreter and command
        [sys.executable, "-m", "monitor", "check", str(rules)],
        check=True,
        capture_output=True,
    )
    return time.perf_counter() - started


async def _until(process: MonitorProcess, ready: Any, timeout_s: float) -> float:
    """Seconds until `await ready()` holds, polled every POLL_S."""
    started = time.perf_counter()
    while not await ready():
        if time.perf_counter() - started > timeout_s:
            tail = (process.logs / "stderr.log").read_text(errors="replace")[-2000:]
            raise TimeoutError(f"not reached in {timeout_s} s; the monitor's log ends:\n{tail}")
        if process.proc is not None and process.proc.returncode is not None:
            raise RuntimeError(f"the monitor exited; see {process.logs}")
        await asyncio.sleep(POLL_S)
    return time.perf_counter() - started


async def startup_and_reload(
    count: int = 100_000, files: int = 100, edits: int = 5
) -> dict[str, Any]:
    """Time `monitor check`, start-up to /readyz, and `edits` reloads after one file's edit."""
    with tempfile.TemporaryDirectory(prefix="monitor-startup-") as tmp:
        root = Path(tmp)
        rules = root / "rules"
        write_rules_dir(rules, count, files)
        # Files saved long enough ago to be trusted by their stamps (see loader.RACY_NS).
        then = time.time() - 60
        for path in rules.rglob("*.yaml"):
            os.utime(path, (then, then))
        checked = check_s(rules)
        config = write_config(root)
        process = MonitorProcess(config, http_of(config), root / "logs")
        started = time.perf_counter()
        await process.start()
        try:

            async def ready() -> bool:
                return (await process.get("/readyz"))[0] == 200

            await _until(process, ready, 120)
            start_s = time.perf_counter() - started
            reloads = []
            edited = rules / f"watches-{files // 2:03d}.yaml"
            for n in range(1, edits + 1):
                # One watch more in one file, saved by rename.
                text = edited.read_text(encoding="utf-8")
                text += f"- id: added{n}\n  match:\n    any:\n    - addedword{n}\n"
                tmp_file = edited.with_name(f".{edited.name}.tmp")
                tmp_file.write_text(text, encoding="utf-8")
                saved = time.perf_counter()
                tmp_file.replace(edited)
                want = count + n

                async def loaded(want: int = want) -> bool:
                    return await process.metric("monitor_rules_loaded") == want

                await _until(process, loaded, 60)
                reloads.append(time.perf_counter() - saved)
                await asyncio.sleep(1.0)
        finally:
            with contextlib.suppress(Exception):
                await process.stop(timeout_s=30)
            await process.kill()
    return {
        "check_s": checked,
        "start_s": start_s,
        "reload_s": statistics.median(reloads),
        "reload_max_s": max(reloads),
        "reloads_s": reloads,
    }
