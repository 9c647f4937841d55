"""Digests, quiet hours and throttle summaries end to end: `monitor run` as a subprocess, real
feed and webhook servers, and a clock file (`MONITOR_CLOCK_FILE`) the test moves, so an hour,
a night or a change of daylight saving time passes in seconds."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from monitor.kernel.clock import CLOCK_FILE_ENV, set_clock_file
from tests.support.processes import ServiceRig, eventually, service_rig
from tests.support.servers import rss

WATCHES = (
    "rules:\n"
    "  - {id: floods, match: {any: [flood]}, severity: low}\n"
    "  - {id: quakes, match: {any: [earthquake]}, severity: high}\n"
)
TITLES = [
    "Flood closes Danube river roads near Passau",
    "Earthquake shakes coastal towns of southern Peru",
    "Flash flood sweeps cars off bridges in Valencia",
]


class Clocked(ServiceRig):
    """A service rig whose monitor reads its clock from a file."""

    @property
    def clock(self) -> Path:
        return self.tmp / "clock"

    def at(self, when: datetime) -> None:
        set_clock_file(self.clock, when)

    def messages(self) -> list[dict[str, Any]]:
        return [json.loads(body) for _, body in self.receiver.received]

    async def held(self, n: float) -> bool:
        held = await self.monitor.metric("monitor_held_alerts", {"channel": "hook"})
        return held == n


def clocked(tmp_path: Path, feeds: dict[str, bytes], channel: str, watches: str = WATCHES) -> Any:
    clock = tmp_path / "clock"
    set_clock_file(clock, datetime(2026, 6, 1, 10, 0, 0, tzinfo=UTC))
    return service_rig(
        tmp_path, feeds, watches, Clocked, channel=channel, env={CLOCK_FILE_ENV: str(clock)}
    )


async def test_an_hourly_digest_lists_what_the_hour_held_grouped_by_rule(tmp_path: Path) -> None:
    """Three matches and a copy of one, held: at the hour, one digest with both rules, the
    copy folded into its story; an hour later, a second digest with only what came since."""
    copy = "UPDATE 1-Flood closes Danube river roads near Passau | World News"
    feeds = {"a": rss(*TITLES), "b": rss(copy)}
    async with clocked(tmp_path, feeds, ", digest: {every: 1h}") as rig:
        await rig.monitor.start()
        await eventually(lambda: rig.held(3), 30, lambda: rig.monitor.stderr()[-1500:])
        assert [] == rig.messages()
        rig.at(datetime(2026, 6, 1, 11, 0, 1, tzinfo=UTC))
        await eventually(lambda: len(rig.messages()) == 1, 15)
        (digest,) = rig.messages()
        assert "digest" == digest["event"]
        assert "Digest: 3 alerts for 2 rules" == digest["text"]
        assert {"floods": 2, "quakes": 1} == {r["id"]: r["count"] for r in digest["rules"]}
        passau = next(
            i for r in digest["rules"] for i in r["items"] if "Passau" in i["article"]["title"]
        )
        assert 2 == passau["story"]["articles"]
        assert ["a", "b"] == sorted(passau["story"]["feeds"])
        assert rig.receiver.received[0][0]["X-Monitor-Digest-Id"] == digest["id"]

        rig.feeds.feeds["b"] = rss(copy, "Earthquake felt across Anatolian plateau villages")
        await eventually(lambda: rig.held(1), 30)
        rig.at(datetime(2026, 6, 1, 12, 0, 1, tzinfo=UTC))
        await eventually(lambda: len(rig.messages()) == 2, 15)
        second = rig.messages()[1]
        assert ["quakes"] == [r["id"] for r in second["rules"]]
        assert 1 == second["count"]
        assert 0 == await rig.monitor.stop()


async def test_a_crash_between_holding_and_sending_loses_nothing_and_sends_once(
    tmp_path: Path,
) -> None:
    """Held alerts survive SIGKILL; after the restart the digest goes out once, with all."""
    async with clocked(tmp_path, {"a": rss(*TITLES)}, ", digest: {every: 1h}") as rig:
        await rig.monitor.start()
        await eventually(lambda: rig.held(3), 30, lambda: rig.monitor.stderr()[-1500:])
        await rig.monitor.kill()
        rig.at(datetime(2026, 6, 1, 11, 0, 1, tzinfo=UTC))
        await rig.monitor.start()
        await eventually(lambda: len(rig.messages()) == 1, 30)
        assert 3 == rig.messages()[0]["count"]
        assert 0 == await rig.monitor.stop()
        await rig.monitor.start()
        await rig.until_ready()
        await eventually(lambda: rig.held(0), 15)
        assert 0 == await rig.monitor.stop()
        assert 1 == len(rig.messages())


async def test_quiet_hours_across_the_night_the_clocks_go_back(tmp_path: Path) -> None:
    """22:00 to 07:00 Berlin, except high: at 23:30 CEST a high alert goes out at once, the
    low ones wait; at 06:59 CET (05:59 UTC) still nothing; at 07:00 CET one digest."""
    quiet = ", quiet: {from: '22:00', to: '07:00', tz: Europe/Berlin, except: [high]}"
    async with clocked(tmp_path, {"a": rss(*TITLES)}, quiet) as rig:
        rig.at(datetime(2026, 10, 24, 21, 30, tzinfo=UTC))  # 23:30 CEST
        await rig.monitor.start()
        await eventually(lambda: rig.held(2), 30, lambda: rig.monitor.stderr()[-1500:])
        (alert,) = rig.messages()
        assert ("alert", "quakes") == (alert["event"], alert["rule"]["id"])
        rig.at(datetime(2026, 10, 25, 5, 59, 50, tzinfo=UTC))  # 06:59:50 CET: nine hours on
        await eventually(lambda: rig.held(2), 5)
        assert 1 == len(rig.messages())
        rig.at(datetime(2026, 10, 25, 6, 0, 1, tzinfo=UTC))  # 07:00:01 CET
        await eventually(lambda: len(rig.messages()) == 2, 15)
        digest = rig.messages()[1]
        assert ("digest", "quiet") == (digest["event"], digest["reason"])
        assert "2026-10-25T06:00:00+00:00" == digest["due"]
        assert {"floods": 2} == {r["id"]: r["count"] for r in digest["rules"]}
        assert 0 == await rig.monitor.stop()


async def test_throttle_overflow_comes_as_one_summary(tmp_path: Path) -> None:
    """A rule throttled to 1 an hour: the first match alerts, the next two are held and come
    as one summary when the hour is over."""
    watches = (
        "rules:\n  - {id: floods, match: {any: [flood, earthquake]}, throttle: {max: 1, per: 1h}}\n"
    )
    async with clocked(tmp_path, {"a": rss(*TITLES)}, "", watches) as rig:
        await rig.monitor.start()
        await eventually(lambda: rig.held(2), 30, lambda: rig.monitor.stderr()[-1500:])
        assert ["alert"] == [m["event"] for m in rig.messages()]
        rig.at(datetime(2026, 6, 1, 11, 0, 5, tzinfo=UTC))
        await eventually(lambda: len(rig.messages()) == 2, 45)  # 3 s alone; 15 was short loaded
        summary = rig.messages()[1]
        assert "summary" == summary["event"]
        assert "and 2 more matches for rule floods" == summary["text"]
        assert 0 == await rig.monitor.stop()


async def test_a_digest_every_few_seconds_on_the_real_clock(tmp_path: Path) -> None:
    """`digest: {every: 3s}` without a clock file: the matches come only in digests, due on
    multiples of 3 seconds, every item once."""
    async with service_rig(
        tmp_path, {"a": rss(*TITLES)}, WATCHES, ServiceRig, channel=", digest: {every: 3s}"
    ) as rig:
        await rig.monitor.start()

        def items() -> list[str]:
            bodies = [json.loads(b) for _, b in rig.receiver.received]
            return [i["alert_id"] for b in bodies for r in b["rules"] for i in r["items"]]

        await eventually(lambda: len(items()) == 3, 30, lambda: rig.monitor.stderr()[-1500:])
        bodies = [json.loads(b) for _, b in rig.receiver.received]
        assert {"digest"} == {b["event"] for b in bodies}
        assert all(datetime.fromisoformat(b["due"]).timestamp() % 3 == 0 for b in bodies)
        assert len(set(items())) == 3
        assert 0 == await rig.monitor.stop()
