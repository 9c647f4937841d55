"""Every log line is structlog's JSON with secrets redacted: monitor's own events, the
libraries' standard-library logging, and uncaught exceptions."""

from __future__ import annotations

import json
import logging
import sys
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import structlog

from monitor.kernel.logs import REDACTED, configure_logging
from monitor.kernel.redact import Redactor, redact, use

SECRET = "hooksecret-abcdef123456"  # noqa: S105 - a test value


def configure() -> None:
    configure_logging("info", secrets=[SECRET], json=True)


@pytest.fixture
def json_logs(capsys: pytest.CaptureFixture[str]) -> Iterator[pytest.CaptureFixture[str]]:
    """Logging as the service configures it (call `configure` in the test: the handlers bind
    the stderr of the moment), put back as it was afterwards."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    hooks = sys.excepthook, threading.excepthook
    try:
        yield capsys
    finally:
        structlog.reset_defaults()
        use(())
        root.handlers, root.level = handlers, level
        sys.excepthook, threading.excepthook = hooks


def lines(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    err = capsys.readouterr().err
    return [json.loads(line) for line in err.splitlines() if line.strip()]


def test_a_librarys_log_line_is_json_and_redacted(json_logs: pytest.CaptureFixture[str]) -> None:
    """aiokafka's own warning comes out as a JSON object with its logger, level and the
    secret redacted."""
    configure()
    logging.getLogger("aiokafka.consumer.group_coordinator").warning(
        "Heartbeat failed for group %s: %s", "matcher", f"token {SECRET}"
    )
    (line,) = lines(json_logs)
    assert "warning" == line["level"]
    assert "aiokafka.consumer.group_coordinator" == line["logger"]
    assert f"Heartbeat failed for group matcher: token {REDACTED}" == line["event"]
    assert "timestamp" in line


def test_an_uncaught_exception_is_one_json_event(json_logs: pytest.CaptureFixture[str]) -> None:
    """A crash's traceback is a field of one JSON line, redacted, not plain text."""
    configure()
    exc = RuntimeError(f"cannot reach {SECRET}")
    sys.excepthook(type(exc), exc, None)
    (line,) = lines(json_logs)
    assert "uncaught_exception" == line["event"]
    assert "critical" == line["level"]
    assert "RuntimeError: cannot reach [redacted]" in line["exception"]
    assert SECRET not in json.dumps(line)


def test_an_uncaught_exception_in_a_thread_is_logged(json_logs: pytest.CaptureFixture[str]) -> None:
    """A thread's exception goes through the same chain, naming the thread."""
    configure()

    def fail() -> None:
        raise ValueError(SECRET)

    worker = threading.Thread(target=fail, name="worker-1")
    worker.start()
    worker.join()
    (line,) = lines(json_logs)
    assert "thread worker-1" == line["where"]
    assert SECRET not in json.dumps(line)


TOKEN = "123456:ABC-DEF1234ghIkl-zyx57W2v1u123ew11"  # noqa: S105 - a test value
HOOK = "https://hooks.example.org/services/T000/B000/XXXXsecret?key=k3y-value"


@pytest.mark.parametrize(
    "echoed",
    [
        f"Telegram 404: Not Found: POST /bot{TOKEN}/sendMessage",
        "Telegram 404: POST /bot123456%3AABC-DEF1234ghIkl-zyx57W2v1u123ew11/sendMessage",
        f"HTTP 403: {HOOK}",
        "HTTP 403: no route for /services/T000/B000/XXXXsecret",
        "HTTP 403: bad key k3y-value",
    ],
)
def test_a_secret_is_redacted_in_the_forms_a_server_echoes_it(echoed: str) -> None:
    """The token percent-encoded, a webhook URL's path or key: each is redacted."""
    text = Redactor([TOKEN, HOOK])(echoed)
    assert "[redacted]" in text
    for part in ("ABC-DEF1234", "XXXXsecret", "k3y-value"):
        assert part not in text


def test_configuring_the_logs_sets_the_secrets_redact_hides(
    json_logs: pytest.CaptureFixture[str],
) -> None:
    """One redactor: the log's secrets are those `redact` hides in dead letters and pages."""
    assert SECRET in redact(f"x {SECRET}")
    configure()
    assert f"x {REDACTED}" == redact(f"x {SECRET}")
