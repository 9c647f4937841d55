"""The service's log events as a person at a terminal reads them: each event's fields, and the
sentence (`message`) the terminal shows in their place (see `monitor.kernel.logs.for_people`)."""

from __future__ import annotations

from typing import Any

from monitor.kernel import native
from monitor.kernel.text import plural
from monitor.service.config import Config


def started(config: Config, role: str, rules: int, feeds: int) -> dict[str, Any]:
    """`monitor_started`: the config, role, watches, feeds, listener and matching engine, and
    "monitor started: 7 watches on 4 feeds (native matching), config /path/monitor.yaml"."""
    engine = "native" if native.engine_type() else "python"
    path = str(config.path.absolute())
    work = f"{plural(rules, 'watch', 'watches')} on {plural(feeds, 'feed')}"
    if role != "all":
        work = f"the {role} role, {work}"
    return {
        "config": path,
        "role": role,
        "rules": rules,
        "feeds": feeds,
        "listen": f"{config.listen_host}:{config.listen_port}",
        "matching": engine,
        "message": f"monitor started: {work} ({engine} matching), config {path}",
    }
