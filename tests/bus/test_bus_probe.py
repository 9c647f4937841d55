"""The bus's connection state (`monitor.bus.probe`): two probes without an answer mark it not
connected, one answer connected again, a failed publish at once; and the probe loop, driven by
a scripted question instead of a broker."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka.errors import KafkaConnectionError

from monitor.bus.base import Connection
from monitor.bus.probe import ERROR_CHARS, Link, describe, probe, short


class FakeClock:
    """Unix seconds that move only when a test says so."""

    def __init__(self, start_s: float = 1_764_500_000.0) -> None:
        self.now_s = start_s

    def __call__(self) -> float:
        return self.now_s

    def tick(self, seconds: float) -> None:
        self.now_s += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def connected_link(clock: FakeClock) -> Link:
    link = Link(now=clock)
    link.up()
    return link


def test_a_new_link_is_not_connected_yet(clock: FakeClock) -> None:
    """Before the bus has started, it is not connected, since it was made."""
    assert Connection(False, clock.now_s, "not connected yet") == Link(now=clock).connection()


def test_one_failed_probe_is_not_enough(clock: FakeClock) -> None:
    """A single probe without an answer leaves the bus connected (a broker may be slow once)."""
    link = connected_link(clock)
    clock.tick(2)
    link.probe_failed("no answer")
    assert Connection(True, clock.now_s - 2, None) == link.connection()


def test_two_failed_probes_in_a_row_mark_it_not_connected(clock: FakeClock) -> None:
    """The second failure in a row marks it not connected, since then, with the last reason."""
    link = connected_link(clock)
    link.probe_failed("first")
    clock.tick(5)
    link.probe_failed("KafkaConnectionError: refused")
    assert Connection(False, clock.now_s, "KafkaConnectionError: refused") == link.connection()


def test_an_answer_between_two_failures_resets_the_count(clock: FakeClock) -> None:
    """Failures must come in a row: an answer between them starts the count again."""
    link = connected_link(clock)
    link.probe_failed("one")
    link.up()
    link.probe_failed("two")
    assert link.connected


def test_one_answer_marks_it_connected_again(clock: FakeClock) -> None:
    """Down, one answer brings it back, since then, with the error gone."""
    link = connected_link(clock)
    link.probe_failed("a")
    link.probe_failed("b")
    clock.tick(30)
    link.up()
    assert Connection(True, clock.now_s, None) == link.connection()


def test_a_failed_publish_marks_it_not_connected_at_once(clock: FakeClock) -> None:
    """No second chance for a publish that failed: the records did not get through."""
    link = connected_link(clock)
    clock.tick(1)
    link.down("publishing to articles failed: KafkaTimeoutError")
    assert Connection(False, clock.now_s, "publishing to articles failed: KafkaTimeoutError") == (
        link.connection()
    )


def test_while_down_the_error_follows_but_since_stays(clock: FakeClock) -> None:
    """Further failures update the reason, not the time it went down."""
    link = connected_link(clock)
    link.down("first")
    went_down = clock.now_s
    clock.tick(10)
    link.probe_failed("second")
    assert Connection(False, went_down, "second") == link.connection()


def test_a_long_error_is_cut_to_one_short_line() -> None:
    """/readyz and the page show at most ERROR_CHARS characters of an error, on one line."""
    shown = short("line one\nline two " + "x" * 500)
    assert ERROR_CHARS == len(shown)
    assert shown.startswith("line one line two x")
    assert "\n" not in shown


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (ConnectionRefusedError("refused"), "ConnectionRefusedError: refused"),
        (KafkaConnectionError("Unable to bootstrap"), "KafkaConnectionError: Unable to bootstrap"),
        (TimeoutError(), "TimeoutError"),
    ],
)
def test_a_reason_names_the_error_once(error: BaseException, reason: str) -> None:
    """aiokafka's errors carry their class in their text: it is not said twice."""
    assert reason == describe(error)


def test_only_changes_are_logged(clock: FakeClock, capsys: pytest.CaptureFixture[str]) -> None:
    """Many failures while down, many answers while up: one line each way."""
    link = connected_link(clock)
    capsys.readouterr()
    for _ in range(50):
        link.probe_failed("refused")
    for _ in range(50):
        link.up()
    lines = capsys.readouterr().out.splitlines()
    assert 2 == len(lines), lines
    assert "bus_disconnected" in lines[0]
    assert "bus_connected" in lines[1]


class ScriptedBroker:
    """Answers the probe's question as its script says: "ok", "error" or "hang"."""

    def __init__(self, script: list[str], stop: asyncio.Event) -> None:
        self.script = script
        self.asked = 0
        self.stop = stop

    async def ask(self) -> None:
        step = self.script[min(self.asked, len(self.script) - 1)]
        self.asked += 1
        if self.asked >= len(self.script):
            self.stop.set()
        if step == "error":
            raise ConnectionRefusedError("refused")
        if step == "garbage":
            raise ValueError("unreadable answer")
        if step == "hang":
            await asyncio.Event().wait()


async def run_script(script: list[str], link: Link) -> list[bool]:
    """Run the probe over `script`, returning whether the link was connected after each step."""
    stop = asyncio.Event()
    broker = ScriptedBroker(script, stop)
    seen: list[bool] = []

    async def ask() -> None:
        try:
            await broker.ask()
        finally:
            seen.append(link.connected)  # before the probe acts on this answer

    await asyncio.wait_for(probe(ask, link, stop, every_s=0.001, timeout_s=0.05), 5)
    return [*seen[1:], link.connected]


@pytest.mark.parametrize(
    ("script", "expected"),
    [
        (["ok", "error", "ok"], [True, True, True]),
        (["ok", "error", "error", "ok"], [True, True, False, True]),
        (["ok", "hang", "hang", "ok"], [True, True, False, True]),
        (["ok", "garbage", "garbage", "garbage"], [True, True, False, False]),
    ],
)
async def test_the_probe_loop_follows_the_broker(
    script: list[str], expected: list[bool], clock: FakeClock
) -> None:
    """Errors, hangs (cut by the timeout) and garbage count as failures; answers as answers."""
    assert expected == await run_script(script, Link(now=clock))


async def test_a_hung_broker_is_reported_as_not_answering(clock: FakeClock) -> None:
    """The reason says the broker did not answer in time."""
    link = Link(now=clock)
    await run_script(["ok", "hang", "hang"], link)
    assert "the broker did not answer in 0.05s" == link.connection().error


async def test_the_probe_stops_at_stop(clock: FakeClock) -> None:
    """Set `stop`, and the probe returns within one interval."""
    stop = asyncio.Event()
    calls: list[int] = []

    async def ask() -> None:
        calls.append(1)
        stop.set()

    await asyncio.wait_for(probe(ask, Link(now=clock), stop, every_s=60), 1)
    assert 1 == len(calls)
