"""The code's shape (docs/architecture.md): every module lives in a room of the layers contract,
no module grows past 500 lines, and the command and source registries list every plug-in."""

from __future__ import annotations

import ast
import importlib
import tomllib
from pathlib import Path

from monitor.commands import COMMANDS
from monitor.feeds.sources import SOURCES

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "monitor"
MAX_LINES = 500


def _layers() -> set[str]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    (contract,) = [c for c in config["tool"]["importlinter"]["contracts"] if c["type"] == "layers"]
    assert ["monitor"] == contract["containers"]
    assert "ignore_imports" not in contract  # no exception list
    return {room.strip() for layer in contract["layers"] for room in layer.split("|")}


def test_every_module_lives_in_a_layer() -> None:
    rooms = _layers()
    outside = sorted(
        str(p.relative_to(ROOT))
        for p in PACKAGE.iterdir()
        if (p.suffix == ".py" and p.stem not in ("__init__", "__main__", *rooms))
        or (p.is_dir() and (p / "__init__.py").exists() and p.name not in rooms)
    )
    assert [] == outside


def test_no_module_is_over_500_lines() -> None:
    long = {
        str(p.relative_to(ROOT)): n
        for p in PACKAGE.rglob("*.py")
        if (n := len(p.read_text().splitlines())) > MAX_LINES
    }
    assert {} == long


def test_every_command_module_is_registered_and_loads() -> None:
    modules = set()
    for path in (PACKAGE / "commands").glob("*.py"):
        names = {n.name for n in ast.parse(path.read_text()).body if isinstance(n, ast.FunctionDef)}
        if {"arguments", "main"} <= names:
            modules.add(path.stem)
    assert modules == {c.module for c in COMMANDS}
    assert len({c.name for c in COMMANDS}) == len(COMMANDS)
    for command in COMMANDS:
        loaded = command.load()
        assert callable(loaded.arguments), command.name
        assert callable(loaded.main), command.name


def test_every_source_kind_has_its_module() -> None:
    for name, source in SOURCES.items():
        assert name == source.name
        module = importlib.import_module(f"monitor.feeds.sources.{name}")
        assert module.SOURCE is source
