"""The set-up make does: without cargo it builds no engine and skips the Rust tests loudly.

The whole no-cargo path (a clean clone, `make test` with no Rust on PATH) was run by hand; this
keeps the Makefile's two branches honest cheaply, with `make -n`, which prints the commands a
target would run without running them.
"""

from __future__ import annotations

import shutil
import subprocess

import pytest

from tests.conftest import ROOT

MAKE = shutil.which("make")


def planned(*args: str) -> str:
    """What `make -n` says the target would run, from a checkout without a venv."""
    assert MAKE is not None
    made = subprocess.run(
        [MAKE, "-n", "-f", str(ROOT / "Makefile"), "VENV=/nonexistent-venv", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return made.stdout


@pytest.mark.skipif(MAKE is None, reason="no make on this machine")
def test_without_cargo_make_builds_no_engine_and_says_the_rust_tests_did_not_run() -> None:
    without = planned("test", "CARGO=")
    assert "pip install --quiet ./native" not in without
    assert "cargo test" not in without
    assert "RUST TESTS NOT RUN: no cargo here" in without
    assert "https://rustup.rs" in without
    assert "pytest" in without  # the Python tests still run
    assert "/nonexistent-venv/.installed-python" in without

    with_cargo = planned("test", "CARGO=/usr/bin/cargo")
    assert "pip install --quiet ./native" in with_cargo
    assert "cd native && /usr/bin/cargo test --release --quiet" in with_cargo
    assert "NOT RUN" not in with_cargo
    assert "/nonexistent-venv/.installed-native" in with_cargo


@pytest.mark.skipif(MAKE is None, reason="no make on this machine")
def test_make_run_checks_the_config_before_it_runs() -> None:
    run = planned("run", "CARGO=")
    lines = [line for line in run.splitlines() if "monitor " in line]
    assert ["check", "run"] == [line.split("monitor ", 1)[1].split()[0] for line in lines]


def test_an_editable_install_is_a_plain_path_without_a_setuptools_banner() -> None:
    """`pip install -e .` (make's set-up) printed setuptools' BuildBackendWarning "Editable
    installation ... Please be careful with folders in your working directory": with a flat
    layout and no `package-dir`, setuptools installs through an import hook and warns. Naming
    the root as every package's directory, with each package in its folder there, is the
    layout setuptools installs as a plain .pth path, silently (checked by hand in a fresh venv
    with pip 26 and setuptools 84: no output with --quiet)."""
    import tomllib

    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert {"": "."} == config["package-dir"]
    assert ["monitor*"] == config["packages"]["find"]["include"]
    assert (ROOT / "monitor" / "__init__.py").is_file()  # the one top-level package, at the root
