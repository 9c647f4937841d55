"""Hostile channel templates: `monitor check` reports each as `FILE:LINE` within seconds and
bounded memory (no MemoryError traceback), and the service, as a subprocess, given a template
that passes the samples but runs away or crashes on one real alert, keeps answering /healthz
within a second, sends that alert with the channel's default message and every alert once."""

from __future__ import annotations

import asyncio
import json
import resource
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tests.hostile.test_hostile_service import Hostile
from tests.support.processes import service_rig
from tests.support.servers import rss

MEMORY_LIMIT = 1536 * 1024 * 1024  # bytes of address space `monitor check` may take here
CHECK_SECONDS = 30.0  # generous: each of these is refused in well under a second

TRIPLE_LOOP = (
    "{% for a in article.title %}{% for b in article.title %}{% for c in article.title %}"
    "{% endfor %}{% endfor %}{% endfor %}"
)
BOMBS = {
    "center": "{{ ''|center(10**9) }}",
    "ljust": "{{ ''.ljust(2*10**9) }}",
    "percent-format": "{{ '%09999999999d'|format(1) }}",
    "concat-doubling": (
        "{% set ns = namespace(s='x' * 1000) %}{% for i in range(40) %}"
        "{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s|length }}"
    ),
    "nested-list-text": (
        "{% set ns = namespace(l=[1]) %}{% for i in range(80) %}"
        "{% set ns.l = [ns.l, ns.l] %}{% endfor %}{{ ns.l }}"
    ),
    "nested-compare": (  # compared in C, holding the GIL: no thread or deadline stops it
        "{% set ns = namespace(a=[1], b=[1]) %}{% for i in range(60) %}"
        "{% set ns.a = [ns.a, ns.a] %}{% set ns.b = [ns.b, ns.b] %}{% endfor %}"
        "{{ ns.a == ns.b }}"
    ),
    "bomb-in-title": "{% if 'bomb' in article.title %}" + TRIPLE_LOOP + "{% endif %}",
    "power-tower": (  # big-integer arithmetic is one C call holding the GIL: 8.8 s unchecked
        "{% set y = (((3**64)**64)**64)**64 %}{{ y > 0 }}"
    ),
    "hex-integers": (  # int() of hex has no digit limit; `%` of two such is quadratic: 4.5 s
        "{% set n = (('f' * 10000) * 80)|int(base=16) %}"
        "{% set m = (('e' * 10000) * 40)|int(base=16) %}{{ (n % m) > 0 }}"
    ),
}


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


@pytest.mark.parametrize("name", list(BOMBS))
def test_check_reports_a_template_bomb_at_its_line(tmp_path: Path, name: str) -> None:
    """Each finding of the audit is a `FILE:LINE: ... exceeded its budget` problem, exit 1,
    in seconds, within 1.5 GB of address space; the bomb behind `'bomb' in article.title` is
    found although no sample alert is about bombs (the template's words are put in one)."""
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "watches.yaml").write_text("rules: []\n")
    path = tmp_path / "monitor.yaml"
    path.write_text(
        textwrap.dedent("""\
        channels:
          out:
            kind: console
            template:
              body: |
                ok
        """)
        + f"        {BOMBS[name]}\n"
    )
    started = time.monotonic()
    run = subprocess.run(
        [sys.executable, "-m", "monitor", "check", "--config", str(path)],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
        timeout=120,
        preexec_fn=_limit_memory,
    )
    assert time.monotonic() - started < CHECK_SECONDS
    assert 1 == run.returncode, run.stdout + run.stderr
    assert "Traceback" not in run.stderr
    assert f"{path}:7: channel 'out' template: body: " in run.stderr
    assert "exceeded its budget" in run.stderr


def _channel(trap: str) -> str:
    body = (
        '{"rule": {"id": "{{ rule.id }}"}, "article": {"title": "{{ article.title }}"}, '
        '"templated": true, "x": "{% if article.title|length > 2500 %}' + trap + '{% endif %}"}'
    )
    return ", template: {body: '" + body.replace("'", "''") + "'}"


LONG = "alpha " + "x" * 3000  # a title the template's trap is set for


async def _run(tmp_path: Path, trap: str) -> None:
    """Both alerts go out (the long one with the default message), each once, and /healthz
    answers within a second throughout."""
    watches = "rules:\n  - {id: word, match: {any: [alpha]}}\n"
    async with service_rig(
        tmp_path, {"good": rss(), "bad": rss()}, watches, Hostile, channel=_channel(trap)
    ) as hostile:
        await hostile.monitor.start()
        await hostile.until_ready()
        hostile.feeds.feeds["good"] = rss("alpha one", LONG)
        deadline = time.monotonic() + 60
        while {"alpha one", LONG} - {t for _, t in hostile.alerted()}:
            assert time.monotonic() < deadline, hostile.monitor.stderr()[-3000:]
            await hostile.assert_healthy()
            await asyncio.sleep(0.2)
        for _ in range(10):  # a batch redone would send one of them again by now
            await hostile.assert_healthy()
            await asyncio.sleep(0.3)
        bodies = {
            json.loads(body)["article"]["title"]: json.loads(body)
            for _, body in hostile.receiver.received
        }
        assert bodies["alpha one"]["templated"] is True
        assert "templated" not in bodies[LONG]  # the channel's default message
        ids = [h["X-Monitor-Alert-Id"] for h, _ in hostile.receiver.received]
        assert sorted(set(ids)) == sorted(ids)
        assert 2 == len(ids)
        assert "template_failed" in hostile.monitor.stderr()


async def test_a_runaway_template_at_delivery_does_not_freeze_the_service(tmp_path: Path) -> None:
    """Three nested loops over a 3,006-character title (2.7e10 iterations) stop at the
    budget, off the event loop; the audit saw /healthz time out for 20 s."""
    await _run(tmp_path, TRIPLE_LOOP)


async def test_a_template_crashing_at_delivery_redoes_no_batch(tmp_path: Path) -> None:
    """A dict grown in its own loop raises RuntimeError, which the template code did not
    catch: the batch was redone in a loop. Now the alert goes out with the default message
    and the other alert of its batch once."""
    crash = "{% set d = {'a': 1} %}{% for k in d %}{{ d.update({k ~ 'x': 1}) }}{% endfor %}"
    await _run(tmp_path, crash)
