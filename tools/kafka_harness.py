"""A single-node Apache Kafka (KRaft) on 127.0.0.1, assembled from Maven Central jars.

    python -m tools.kafka_harness start     # prints the bootstrap address
    python -m tools.kafka_harness stop      # stops it by its recorded PID
    python -m tools.kafka_harness status

The jars (org.apache.kafka:kafka_2.13 and its runtime dependencies) are fetched once with Maven
into `.cache/kafka/<version>/lib` (git-ignored). The broker runs with Java 17 on free loopback
ports; its data, log and PID live in `.cache/kafka/run/` (or a directory the caller names).
The test suite uses `Broker` directly (see tests/kafka_fixtures.py).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

KAFKA_VERSION = "4.4.0"
ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / ".cache" / "kafka"

_POM = """<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>monitor</groupId><artifactId>kafka-harness</artifactId><version>1</version>
  <dependencies>
    <dependency>
      <groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId><version>{version}</version>
    </dependency>
  </dependencies>
</project>
"""

_PROPERTIES = """process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=127.0.0.1:{controller}
listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller}
advertised.listeners=PLAINTEXT://127.0.0.1:{port}
controller.listener.names=CONTROLLER
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
log.dirs={data}
num.partitions=1
auto.create.topics.enable=false
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
"""


class HarnessError(RuntimeError):
    """The broker could not be assembled or started; the message says why."""


def java() -> str | None:
    """The java binary, if any."""
    return shutil.which("java")


def ensure_jars(version: str = KAFKA_VERSION) -> Path:
    """Fetch the broker's jars with Maven once; return the directory that holds them."""
    lib = CACHE / version / "lib"
    marker = lib / ".complete"
    if marker.exists():
        return lib
    mvn = shutil.which("mvn")
    if mvn is None:
        raise HarnessError("Maven (mvn) is not installed: cannot fetch the Kafka jars")
    work = CACHE / version
    work.mkdir(parents=True, exist_ok=True)
    (work / "pom.xml").write_text(_POM.format(version=version))
    done = subprocess.run(  # noqa: S603 - fixed arguments
        [
            mvn,
            "-q",
            "-B",
            "-f",
            str(work / "pom.xml"),
            "dependency:copy-dependencies",
            f"-DoutputDirectory={lib}",
            "-DincludeScope=runtime",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=900,
    )
    if done.returncode != 0:
        raise HarnessError(
            f"mvn failed to fetch kafka_2.13:{version}:\n{done.stdout}\n{done.stderr}"
        )
    marker.write_text(version)
    return lib


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


@dataclass
class Broker:
    """One broker process; `start` and `stop` may be repeated (the data directory is kept)."""

    run_dir: Path
    port: int = 0
    controller_port: int = 0
    process: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _java(self, main: str, *args: str, lib: Path) -> list[str]:
        binary = java()
        if binary is None:
            raise HarnessError("Java is not installed: cannot run Kafka")
        return [binary, "-Xms128m", "-Xmx512m", "-XX:+UseG1GC", "-cp", f"{lib}/*", main, *args]

    def start(self, timeout_s: float = 90) -> Broker:
        """Format storage on first use, start the broker, wait until it accepts connections."""
        lib = ensure_jars()
        self.run_dir.mkdir(parents=True, exist_ok=True)
        data = self.run_dir / "data"
        if not self.port:
            self.port, self.controller_port = free_port(), free_port()
        props = self.run_dir / "server.properties"
        props.write_text(
            _PROPERTIES.format(port=self.port, controller=self.controller_port, data=data)
        )
        if not (data / "meta.properties").exists():
            cluster = uuid.uuid4().hex[:22]
            fmt = subprocess.run(  # noqa: S603 - fixed arguments
                self._java(
                    "kafka.tools.StorageTool",
                    "format",
                    "-t",
                    cluster,
                    "-c",
                    str(props),
                    "--standalone",
                    lib=lib,
                ),
                capture_output=True,
                text=True,
                check=False,
                timeout=120,
            )
            if fmt.returncode != 0:
                raise HarnessError(f"formatting Kafka storage failed:\n{fmt.stdout}\n{fmt.stderr}")
        log = (self.run_dir / "kafka.log").open("ab")
        self.process = subprocess.Popen(  # noqa: S603 - fixed arguments
            self._java("kafka.Kafka", str(props), lib=lib),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        (self.run_dir / "broker.json").write_text(
            json.dumps(
                {
                    "pid": self.process.pid,
                    "port": self.port,
                    "controller_port": self.controller_port,
                }
            )
        )
        deadline = time.monotonic() + timeout_s
        while not _port_open(self.port):
            if self.process.poll() is not None:
                raise HarnessError(
                    f"Kafka exited with {self.process.returncode}; see {self.run_dir / 'kafka.log'}"
                )
            if time.monotonic() > deadline:
                self.stop()
                raise HarnessError(f"Kafka did not listen on {self.port} within {timeout_s:g}s")
            time.sleep(0.2)
        return self

    def stop(self, timeout_s: float = 30) -> None:
        """Stop the broker (SIGTERM, then SIGKILL)."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None


def _recorded(run_dir: Path) -> dict[str, int] | None:
    path = run_dir / "broker.json"
    if not path.exists():
        return None
    data: dict[str, int] = json.loads(path.read_text())
    return data


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True


def main(argv: list[str]) -> int:
    """`start`, `stop` or `status` of the broker in .cache/kafka/run."""
    run_dir = CACHE / "run"
    command = argv[0] if argv else "status"
    recorded = _recorded(run_dir)
    if command == "start":
        if recorded and _alive(recorded["pid"]):
            print(f"Kafka is already running: KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:{recorded['port']}")
            return 0
        try:
            broker = Broker(run_dir).start()
        except HarnessError as exc:
            print(exc, file=sys.stderr)
            return 1
        broker.process = None  # leave it running after this command exits
        print(f"Kafka {KAFKA_VERSION} is running: KAFKA_BOOTSTRAP_SERVERS={broker.bootstrap}")
        print(f"stop it with `make kafka-stop`; logs in {run_dir / 'kafka.log'}")
        return 0
    if command == "stop":
        if not recorded or not _alive(recorded["pid"]):
            print("Kafka is not running")
            return 0
        os.killpg(recorded["pid"], signal.SIGTERM)
        for _ in range(150):
            if not _alive(recorded["pid"]):
                break
            time.sleep(0.2)
        print(f"Kafka (pid {recorded['pid']}) stopped")
        return 0
    if recorded and _alive(recorded["pid"]):
        print(
            f"running: KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:{recorded['port']} (pid {recorded['pid']})"
        )
    else:
        print("not running")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
