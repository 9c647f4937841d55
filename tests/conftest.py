"""Shared fixtures: paths to the repository's rules and the test data."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import CodeType
from typing import Any

import pytest

from tools.kafka_harness import Broker

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"
SEED_JSON = DATA / "articles" / "seed-cis-defense.json"
SEED_FEED = DATA / "feeds" / "world-with-seed.rss"
SHIPPED_RULES = ROOT / "rules"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Marks what a test needs, so `make test-fast` can leave it out (see the markers in
    pyproject.toml): `kafka` for a test that takes the `kafka` fixture; `process` for one that
    starts a program (monitor, chromium, promtool ...) and `browser` for one that starts
    chromium, as far as the code of tests/ it runs says. Then the `long` tests first (stable
    otherwise): a long test started last would keep one worker busy alone at the end."""
    from tests.support.browser import browser

    for item in items:
        if "kafka" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.kafka)
        reached = dict(_code_reached(item))
        if any(names & _STARTS_A_PROGRAM for names in reached.values()):
            item.add_marker(pytest.mark.process)
        if id(browser) in reached:
            item.add_marker(pytest.mark.browser)
    items.sort(key=lambda item: item.get_closest_marker("long") is None)


# The names by which code starts another program (`sys.executable` reads as `executable`).
_STARTS_A_PROGRAM = frozenset(
    {"subprocess", "Popen", "create_subprocess_exec", "create_subprocess_shell", "executable"}
)


def _code_reached(item: pytest.Item) -> Iterator[tuple[int, frozenset[str]]]:
    """The id of each function of tests/ that the test or its fixtures name, those functions
    name in turn, and so on (methods of classes of tests/ too), with the names its code uses."""
    info = getattr(item, "_fixtureinfo", None)
    fixtures = [] if info is None else [d.func for ds in info.name2fixturedefs.values() for d in ds]
    todo: list[Any] = [getattr(item, "function", None), *fixtures]
    seen: set[int] = set()
    while todo:
        obj = todo.pop()
        if isinstance(obj, staticmethod | classmethod):
            obj = obj.__func__
        elif isinstance(obj, property):
            obj = obj.fget
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        if isinstance(obj, type):
            if obj.__module__.startswith("tests"):
                todo.extend(vars(obj).values())
            continue
        function = getattr(obj, "__wrapped__", obj)  # under @asynccontextmanager and the like
        function = getattr(getattr(function, "hypothesis", None), "inner_test", function)
        scope: dict[str, Any] = getattr(function, "__globals__", {})
        code: CodeType | None = getattr(function, "__code__", None)
        if code is None or not str(scope.get("__name__", "")).startswith("tests"):
            continue
        names: set[str] = set()
        codes = [code]
        while codes:
            code = codes.pop()
            names.update(code.co_names)
            codes.extend(c for c in code.co_consts if isinstance(c, CodeType))
        yield id(obj), frozenset(names)
        todo.extend(scope[name] for name in names if name in scope)


@pytest.fixture(autouse=True)
def published_shapes_hold(request: pytest.FixtureRequest) -> Iterator[None]:
    """After each test: every generic webhook body its receivers got and every articles and
    matches record its embedded bus holds match docs/schemas/ (see tests/support/schemas.py)."""
    from tests.support import schemas

    schemas.take_errors()
    yield
    errors = schemas.take_errors()
    tmp = request.node.funcargs.get("tmp_path") if hasattr(request.node, "funcargs") else None
    if isinstance(tmp, Path):
        errors += schemas.check_buses(tmp)
        errors += schemas.check_kafka(tmp)
    assert not errors, "records or bodies off their published schema:\n" + "\n".join(errors[:20])


NATIVE_MISSING = (
    "NATIVE ENGINE TESTS NOT RUN: monitor_native is not installed "
    "(make builds it from native/ where cargo is)"
)


@pytest.fixture(autouse=True)
def native_engine(request: pytest.FixtureRequest) -> None:
    """Tests marked `native` test the Rust engine itself: without it (no cargo when make set up)
    they are skipped with a loud reason, except under CI (CI=true), where they must run."""
    from monitor.kernel import native

    if request.node.get_closest_marker("native") is None or native.engine_type() is not None:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(NATIVE_MISSING + " (CI=true: they must run)")
    pytest.skip(NATIVE_MISSING)


@pytest.fixture
def shipped_rules() -> Path:
    """The rules directory the project ships."""
    return SHIPPED_RULES


@dataclass
class KafkaUnderTest:
    """The broker the kafka tests use; `broker` is None for an external one (no restarts)."""

    bootstrap: str
    broker: Broker | None

    def prefix(self) -> str:
        """A topic prefix no other test uses."""
        return f"t{uuid.uuid4().hex[:10]}."


@pytest.fixture(scope="session")
def kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaUnderTest]:
    """A real Apache Kafka: KAFKA_BOOTSTRAP_SERVERS, else one the harness starts (session-wide:
    one per pytest-xdist worker that runs a Kafka test).

    Without Java (or Maven) the kafka tests are skipped with a loud reason, except under CI,
    where they must run: there the fixture fails instead.
    """
    external = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if external:
        yield KafkaUnderTest(external, None)
        return
    missing = [tool for tool in ("java", "mvn") if shutil.which(tool) is None]
    if missing:
        reason = f"KAFKA TESTS NOT RUN: no {' or '.join(missing)} and no KAFKA_BOOTSTRAP_SERVERS"
        if os.environ.get("CI") == "true":
            pytest.fail(reason + " (CI=true: they must run)")
        pytest.skip(reason)
    broker = Broker(tmp_path_factory.mktemp("kafka")).start()
    try:
        yield KafkaUnderTest(broker.bootstrap, broker)
    finally:
        broker.stop()
