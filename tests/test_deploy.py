"""deploy/: Docker cannot run here, so the files are kept valid by reading them."""

from __future__ import annotations

import io
from pathlib import Path

import yaml

from monitor.cli import check
from monitor.config import load_config
from tests.conftest import ROOT

DEPLOY = ROOT / "deploy"


def test_compose_parses_and_references_real_paths() -> None:
    """compose.yaml is valid YAML; its services, build files and mounts exist."""
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    services = compose["services"]
    assert {"kafka", "poller", "matcher", "dispatcher", "prometheus"} <= set(services)
    for name in ("poller", "matcher", "dispatcher"):
        service = services[name]
        assert (DEPLOY / service["build"]["context"] / service["build"]["dockerfile"]).is_file()
        assert ["--role", name] == service["command"][-2:]
        for volume in service["volumes"]:
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (DEPLOY / source).exists(), volume
    for volume in services["prometheus"]["volumes"]:
        assert (DEPLOY / volume.split(":")[0]).exists()


def test_dockerfile_copies_what_exists_and_runs_as_non_root() -> None:
    """Every COPY source exists; the image ends as a non-root user with monitor as entry point."""
    lines = (DEPLOY / "Dockerfile").read_text().splitlines()
    for line in lines:
        if line.startswith("COPY") and "--from" not in line:
            for source in line.split()[1:-1]:
                assert (ROOT / source).exists(), line
    assert any(line.startswith("USER monitor") for line in lines)
    assert 'ENTRYPOINT ["monitor"]' in lines


def test_deploy_config_and_prometheus_targets(tmp_path: Path) -> None:
    """The container's config loads; Prometheus scrapes the three roles."""
    config_path = tmp_path / "monitor.yaml"
    config_path.write_text((DEPLOY / "monitor.yaml").read_text())
    config = load_config({}, config_path)
    assert config.bus is not None
    assert "kafka:9092" == config.bus.bootstrap_servers
    targets = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())[
        "scrape_configs"
    ][0]
    assert {"poller:9464", "matcher:9464", "dispatcher:9464"} == set(
        targets["static_configs"][0]["targets"]
    )


def test_shipped_kafka_config_checks() -> None:
    """monitor.kafka.yaml and the rules pass `monitor check --config`."""
    assert 0 == check(None, io.StringIO(), io.StringIO(), config_path=ROOT / "monitor.kafka.yaml")
