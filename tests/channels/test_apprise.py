"""The Apprise channel when Apprise is not installed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def test_apprise_missing_is_named_with_the_extra_to_install(tmp_path: Path) -> None:
    """Without Apprise installed, `monitor check --config` says which extra to install."""
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "watches.yaml").write_text("rules: []\n")
    path = tmp_path / "monitor.yaml"
    path.write_text("channels:\n  many: {kind: apprise, urls: ['json://127.0.0.1:9/x']}\n")
    hide = "import sys; sys.modules['apprise'] = None; from monitor.commands.cli import main; "
    run = subprocess.run(
        [sys.executable, "-c", hide + f"sys.exit(main(['check', '--config', {str(path)!r}]))"],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
    )
    assert 1 == run.returncode
    assert (
        f"{path}:2: channel 'many': kind apprise needs the optional extra: "
        in run.stdout + run.stderr
    )
    assert "pip install 'monitor[apprise]'" in run.stdout + run.stderr
