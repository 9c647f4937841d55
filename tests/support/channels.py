"""Channel settings that point at the fake platforms, and monitor.yaml with one channel."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from monitor.alerts.channels import ChannelSettings
from monitor.alerts.channels.apprise import AppriseSettings
from monitor.alerts.channels.matrix import MatrixSettings
from monitor.alerts.channels.ntfy import NtfySettings
from monitor.alerts.channels.telegram import TelegramSettings
from monitor.kernel.errors import ConfigError
from monitor.kernel.models import Alert, Evidence
from monitor.service.config import Config, load_config
from tests.support.alerts import make_alert
from tests.support.platforms import AppriseJson, Matrix, Ntfy, Platform, Telegram


def settings_for(platform: Platform) -> ChannelSettings:
    """The channel settings that point at a running fake."""
    if isinstance(platform, Telegram):
        return TelegramSettings(
            name="tg",
            kind="telegram",
            bot_token=platform.token,
            chat_id=platform.chat_id,
            api_url=platform.base,
        )
    if isinstance(platform, Ntfy):
        return NtfySettings(
            name="phone",
            kind="ntfy",
            server=platform.base + "/",
            topic=platform.topic,
            token=platform.token,
        )
    if isinstance(platform, Matrix):
        return MatrixSettings(
            name="room",
            kind="matrix",
            homeserver=platform.base,
            room_id=platform.room_id,
            access_token=platform.access_token,
        )
    assert isinstance(platform, AppriseJson)
    url = platform.base.replace("http://", "json://") + "/notify"
    return AppriseSettings(name="many", kind="apprise", urls=(url,), timeout_s=10)


PLATFORMS = [Telegram, Ntfy, Matrix, AppriseJson]


def long_alert() -> Alert:
    """Long Cyrillic and emoji text everywhere: over every platform's limit, in bytes, characters
    and UTF-16 units."""
    words = "Казахстан 🇰🇿 & <ПВО> " * 400
    alert = make_alert(title=words)
    evidence = Evidence(
        kind="term", value="ПВО", field="content", text="ПВО", snippet=words, start=0, end=3
    )
    return replace(alert, evidence=(evidence,) * 8)


TEMPLATE = """\
template:
      title: "{{ rule.id }} ({{ rule.severity }})"
      body: |
        {{ article.title }}
        {% for e in evidence %}- {{ e.value }} in {{ e.field }}
        {% endfor %}
"""


def config_with(tmp_path: Path, channel: str, files: dict[str, str] | None = None) -> Config:
    """monitor.yaml with one channel `out` (and FILES beside it), loaded."""
    for name, text in (files or {}).items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    path = tmp_path / "monitor.yaml"
    path.write_text(f"channels:\n  out:\n    {channel}\n")
    return load_config({}, path)


def problems(tmp_path: Path, channel: str, files: dict[str, str] | None = None) -> str:
    """The ConfigError that monitor.yaml with this channel gives."""
    with pytest.raises(ConfigError) as failed:
        config_with(tmp_path, channel, files)
    return str(failed.value)
