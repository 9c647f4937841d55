"""The control topic's routing without a broker: every role registers the commands it runs (a
poller its poll now), a control topic the broker cannot give yet is tried again without taking
the process down, and an ask no one answers says which role did not (the Kafka test of the
whole: tests/bus/test_kafka_console.py)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from monitor.bus import control as control_module
from monitor.bus.control import KafkaControl
from monitor.bus.kafka import KafkaBus
from monitor.bus.settings import KafkaConfig
from monitor.kernel.console import ActionRefused, Who
from monitor.kernel.errors import BusError
from monitor.service.console import CHANNEL_TEST, DLQ_RETRY, POLL, make_hands

WHO = Who("127.0.0.1", "loopback")
CONFIG: Any = type("C", (), {"channels": {}})()


def kafka_bus() -> KafkaBus:
    """A Kafka bus never started (nothing here reaches a broker)."""
    return KafkaBus(KafkaConfig(bootstrap_servers="127.0.0.1:9", topic_prefix="t."))


@pytest.mark.parametrize(
    ("role", "actions"),
    [("poller", {POLL}), ("dispatcher", {CHANNEL_TEST, DLQ_RETRY}), ("matcher", set())],
)
def test_each_role_runs_the_commands_of_its_work(role: str, actions: set[str]) -> None:
    """A poller process answers poll now asked of another process (not only dispatchers)."""
    hands = make_hands(CONFIG, kafka_bus(), lambda: [], lambda r: r == role)
    assert hands.control is not None
    assert actions == set(hands.control.handlers)


async def test_control_topics_not_there_yet_are_tried_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The control topic made a moment ago has no partitions known yet: the reader tries again
    (the process goes on) instead of ending the service with the error."""
    tries: list[int] = []
    stop = asyncio.Event()

    async def not_yet(bus: KafkaBus) -> None:
        tries.append(1)
        if len(tries) == 2:
            stop.set()
        raise BusError("topic t.control has no partitions (error code 3)")

    monkeypatch.setattr(control_module, "ensure_topics", not_yet)
    monkeypatch.setattr(control_module, "FIRST_RETRY_S", 0.01)
    async with asyncio.timeout(5):
        await KafkaControl(kafka_bus(), name="me").run(stop)
    assert 2 == len(tries)


async def test_an_ask_no_one_answers_names_the_role() -> None:
    """504 saying no poller answered (the operator starts or checks a poller)."""
    ctl = KafkaControl(kafka_bus(), name="me", timeout_s=0.05)  # never ready: no reader
    with pytest.raises(ActionRefused) as refused:
        await ctl.ask(POLL, "world", None, WHO, role="poller")
    assert 504 == refused.value.status
    assert refused.value.message.startswith("no poller answered poll world within 0.05s")
