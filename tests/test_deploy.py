"""deploy/: Docker cannot run here, so the files are kept valid by reading them."""

from __future__ import annotations

import io
from pathlib import Path

import yaml

from monitor.commands.check import check
from monitor.service.config import load_config
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


def test_scrapers_and_probes_pass_the_deploy_config_s_host_check(tmp_path: Path) -> None:
    """Prometheus (compose.yaml) sends the roles' names as Host, the kubelet's probes and
    annotation-based scraping the pod's IP: the shipped config serves both, and still refuses
    a name a DNS-rebinding page would send."""
    from monitor.status.guard import HostCheck

    config_path = tmp_path / "monitor.yaml"
    config_path.write_text((DEPLOY / "monitor.yaml").read_text())
    config = load_config({}, config_path)
    check = HostCheck(config.allowed_hosts, config.listen_host)
    targets = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())[
        "scrape_configs"
    ][0]["static_configs"][0]["targets"]
    for target in [*targets, "10.42.0.17:9464", "[fd00::17]:9464", "monitor-poller:9464"]:
        assert check.allows(target), target
    assert not check.allows("rebind.attacker.example:9464")


def test_shipped_kafka_config_checks() -> None:
    """monitor.kafka.yaml and the rules pass `monitor check --config`."""
    assert 0 == check(None, io.StringIO(), io.StringIO(), config_path=ROOT / "monitor.kafka.yaml")


def test_kubernetes_manifests_reference_real_images_ports_paths_and_probes(tmp_path: Path) -> None:
    """deploy/k8s/monitor.yaml: one Deployment per role, each running the image the header
    builds from deploy/Dockerfile, with its config and rules mounted where the config and the
    Dockerfile say, probes on the routes the service serves, on the port it listens on."""
    from monitor.service.config import ROLES

    text = (DEPLOY / "k8s" / "monitor.yaml").read_text()
    docs = list(yaml.safe_load_all(text))
    (config_map,) = [d for d in docs if d["kind"] == "ConfigMap"]
    assert (DEPLOY / "monitor.yaml").read_text() == config_map["data"]["monitor.yaml"]
    (tmp_path / "monitor.yaml").write_text(config_map["data"]["monitor.yaml"])
    config = load_config({}, tmp_path / "monitor.yaml")
    port = config.listen_port
    routes = (ROOT / "monitor" / "status" / "web.py").read_text()
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    assert "docker build -f deploy/Dockerfile -t monitor:latest ." in text
    uid = dockerfile.split("--uid ", 1)[1].split()[0]
    deployments = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Deployment"}
    services = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Service"}
    assert {f"monitor-{r}" for r in ROLES if r != "all"} == set(deployments) == set(services)
    for name, deployment in deployments.items():
        spec = deployment["spec"]["template"]["spec"]
        (container,) = spec["containers"]
        assert "monitor:latest" == container["image"]
        assert ["--role", name.removeprefix("monitor-")] == container["args"][-2:]
        assert {"name": "http", "containerPort": port} == container["ports"][0]
        for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
            assert path == container[probe]["httpGet"]["path"]
            assert "http" == container[probe]["httpGet"]["port"]
            assert f'add_get("{path}"' in routes
        assert container["resources"]["requests"]["memory"]
        assert int(uid) == spec["securityContext"]["runAsUser"]
        mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
        config_path = container["args"][container["args"].index("--config") + 1]
        assert config_path == mounts["config"]
        rules = str(Path(config_path).parent / config.rules_dir.name)
        assert (rules, f"{rules}/entities") == (mounts["rules"], mounts["entities"])
        assert str(Path(config_path).parent / "state") == mounts["state"]
        made = {v["name"]: v.get("configMap", {}).get("name") for v in spec["volumes"]}
        assert "monitor-config" == made["config"]
        for volume, source in (("rules", "rules/"), ("entities", "rules/entities/")):
            assert f"kubectl create configmap {made[volume]} --from-file={source}" in text
            assert (ROOT / source).is_dir()
        service = services[name]
        assert deployment["spec"]["selector"]["matchLabels"] == service["spec"]["selector"]
        assert "http" == service["spec"]["ports"][0]["targetPort"]


def _unit_lines(unit: str) -> dict[str, list[str]]:
    """A systemd unit's `Key=value` lines, every value of each key, in order."""
    keys: dict[str, list[str]] = {}
    for line in unit.splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, value = line.split("=", 1)
            keys.setdefault(key, []).append(value)
    return keys


def test_systemd_unit_runs_the_monitor_hardened(tmp_path: Path) -> None:
    """deploy/systemd/monitor.service: its commands are monitor's own, on the config installed
    beside it, which keeps state in the unit's StateDirectory; systemd-analyze verifies it and
    rates its exposure low. Without systemd-analyze the unit is only read (said loudly)."""
    import shutil
    import subprocess
    import sys

    from monitor.commands.cli import _parser

    unit = (DEPLOY / "systemd" / "monitor.service").read_text()
    keys = _unit_lines(unit)
    config_path = Path(keys["ExecStart"][0].split("--config ", 1)[1])
    assert [f"/etc/{keys['ConfigurationDirectory'][0]}"] == [str(config_path.parent)]
    for command in (keys["ExecStart"][0], keys["ExecStartPre"][0]):
        program, *args = command.split()
        assert "monitor" == Path(program).name
        _parser().parse_args(args)  # exits (SystemExit) on an argument monitor does not take
    local = tmp_path / "monitor.yaml"
    local.write_text((DEPLOY / "systemd" / "monitor.yaml").read_text())
    (tmp_path / "rules").symlink_to(ROOT / "rules")
    config = load_config({}, local)
    assert Path(f"/var/lib/{keys['StateDirectory'][0]}") == config.state_dir
    assert keys["WorkingDirectory"] == [str(config.state_dir)]
    assert "127.0.0.1" == config.listen_host
    assert 0 == check(None, io.StringIO(), io.StringIO(), config_path=local)
    for hardening in ("DynamicUser", "NoNewPrivileges", "ProtectHome", "PrivateTmp"):
        assert ["yes"] == keys[hardening], hardening
    assert ["strict"] == keys["ProtectSystem"]

    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        print("SYSTEMD UNIT NOT VERIFIED: no systemd-analyze on this machine", file=sys.stderr)
        return
    # verify checks that the programs exist: point them at this checkout's monitor.
    runnable = tmp_path / "monitor.service"
    runnable.write_text(
        unit.replace("/opt/monitor/bin/monitor", str(Path(sys.executable).parent / "monitor"))
    )
    verified = subprocess.run(
        [analyze, "verify", str(runnable)], capture_output=True, text=True, check=False
    )
    assert 0 == verified.returncode, verified.stderr
    assert "" == verified.stderr
    security = subprocess.run(
        [analyze, "security", "--offline=yes", "--threshold=20", str(runnable)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert 0 == security.returncode, security.stdout + security.stderr
    exposure = security.stdout.split("Overall exposure level for monitor.service: ", 1)[1]
    assert float(exposure.split()[0]) <= 2.0, exposure
