"""The status page while the service is still opening (the listener comes first, so the page
answers while the bus is awaited): the feeds section appears only once the poller is open, as
before issue 32's wiring (`self.status.board = poller.board` after the poller was made)."""

from __future__ import annotations

from pathlib import Path

from monitor.matching.loader import load_rules_dir
from monitor.service.app import Service
from monitor.service.config import load_config
from monitor.status.view import build_view
from tests.conftest import SHIPPED_RULES


def test_no_feeds_section_before_the_poller_opens(tmp_path: Path) -> None:
    config_path = tmp_path / "monitor.yaml"
    config_path.write_text(f"rules_dir: {SHIPPED_RULES}\nstate_dir: {tmp_path / 'state'}\n")
    config = load_config({}, config_path)
    service = Service(config, load_rules_dir(config.rules_dir), role="poller")
    assert build_view(service.status).feeds is None
