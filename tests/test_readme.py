"""The README's configuration examples load as written, and it documents every channel kind:
its row in the channel table and an example of it."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

from monitor.alerts.channels import KINDS
from monitor.service.config import load_config
from tests.conftest import ROOT

README = (ROOT / "README.md").read_text()
BLOCKS = [
    textwrap.dedent(b)
    for b in re.findall(r"```yaml\n(.*?)```", README, re.DOTALL)
    if re.search(r"^(channels|health|stories|rules_dir):", textwrap.dedent(b), re.MULTILINE)
]
VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def environment(text: str) -> dict[str, str]:
    """A plausible value for every ${VAR} a block names (tokens shaped as their services')."""
    env = dict.fromkeys(VARIABLE.findall(text), "a" * 30)
    env.update(
        {k: "123456:ABC-DEF1234ghIkl" for k in env if "TELEGRAM" in k},
    )
    env.update({k: "https://hooks.example.org/x" for k in env if k.endswith("_URL")})
    return env


@pytest.mark.parametrize("block", BLOCKS, ids=[b.split("\n", 1)[0][:40] for b in BLOCKS])
def test_each_configuration_example_loads(tmp_path: Path, block: str) -> None:
    """Each monitor.yaml example of the README is a valid config (templates included)."""
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "hook.j2").write_text(
        '{% block body %}{"title": "{{ article.title }}"}{% endblock %}'
    )
    config_text = block.split("# rules/feeds.yaml")[0]  # the feed health example has both
    if "ops-hook" in config_text and "ops-hook:" not in config_text:
        config_text += 'channels:\n  ops-hook: {kind: webhook, url: "http://127.0.0.1:9/h"}\n'
    path = tmp_path / "monitor.yaml"
    path.write_text(config_text)
    load_config(environment(config_text), path)


def test_every_channel_kind_has_a_table_row_and_an_example() -> None:
    """A kind added to the registry must be added to the README too."""
    examples = "\n".join(re.findall(r"```yaml\n(.*?)```", README, re.DOTALL))
    for kind in KINDS:
        assert re.search(rf"^\| `{kind}` \|", README, re.MULTILINE), f"no table row for {kind}"
        assert re.search(rf"kind: {kind}\b", examples), f"no example of {kind}"
