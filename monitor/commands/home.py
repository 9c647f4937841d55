"""Which monitor.yaml a command reads: `--config FILE`, else `--config-dir DIR`, else the
directory `MONITOR_HOME` names, else `./monitor.yaml`; and the one line said when it is missing.

A user keeps config, rules, state and secrets in one directory of their own (`monitor init`
writes one); `rules_dir` and `state_dir` are relative to monitor.yaml, so nothing lands in the
current directory. Light on purpose: `cli.main` settles the choice before a command loads.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

HOME_VAR: Final = "MONITOR_HOME"
CONFIG_NAME: Final = "monitor.yaml"


@dataclass(frozen=True, slots=True, kw_only=True)
class ConfigChoice:
    """The config file a command reads, and what chose it (said when it matters)."""

    path: Path
    source: str  # "--config", "--config-dir", "MONITOR_HOME" or "the current directory"


def config_arguments(parser: argparse.ArgumentParser, *, optional: bool = False) -> None:
    """Add `--config FILE` and `--config-dir DIR`. `optional`: without either (and without
    MONITOR_HOME) the command reads no config, instead of ./monitor.yaml."""
    default = "none" if optional else f"./{CONFIG_NAME}"
    parser.add_argument(
        "--config",
        type=Path,
        metavar="FILE",
        help=f"the config file (default: $MONITOR_HOME/{CONFIG_NAME}, else {default})",
    )
    parser.add_argument(
        "--config-dir",
        type=Path,
        metavar="DIR",
        help=f"read DIR/{CONFIG_NAME}; its rules_dir and state_dir are relative to DIR",
    )
    parser.set_defaults(config_optional=optional)


def choose_config(
    config: Path | None,
    config_dir: Path | None,
    environ: Mapping[str, str],
    *,
    optional: bool = False,
) -> ConfigChoice | None:
    """--config > --config-dir > MONITOR_HOME > ./monitor.yaml (None instead, when optional)."""
    if config is not None:
        return ConfigChoice(path=config.expanduser(), source="--config")
    if config_dir is not None:
        return ConfigChoice(path=config_dir.expanduser() / CONFIG_NAME, source="--config-dir")
    home = environ.get(HOME_VAR, "")
    if home:
        return ConfigChoice(path=Path(home).expanduser() / CONFIG_NAME, source=HOME_VAR)
    if optional:
        return None
    return ConfigChoice(path=Path(CONFIG_NAME), source="the current directory")


def missing_hint(choice: ConfigChoice) -> str | None:
    """One line naming the file looked for and what to do, when it is not there; else None."""
    path = choice.path
    if path.is_file():
        return None
    where = f"{path.absolute()} (from {choice.source})"
    if path.is_dir():
        return (
            f"monitor: {where} is a directory, not a config file: "
            f"use --config-dir {path} to read {path / CONFIG_NAME}"
        )
    return (
        f"monitor: no config file at {where}: write a starter directory with "
        "`monitor init DIR`, or point to yours with --config FILE, --config-dir DIR or "
        f"{HOME_VAR}=DIR"
    )


def settle_config(args: argparse.Namespace, environ: Mapping[str, str] = os.environ) -> str | None:
    """Put the chosen config in `args.config` (None for none) and what chose it in
    `args.config_source`; return the missing-file line when it is not there."""
    choice = choose_config(
        args.config, args.config_dir, environ, optional=getattr(args, "config_optional", False)
    )
    args.config = choice.path if choice is not None else None
    args.config_source = choice.source if choice is not None else None
    return missing_hint(choice) if choice is not None else None


def default_init_dir(environ: Mapping[str, str]) -> Path:
    """Where `monitor init` writes without a DIR: MONITOR_HOME, so that the commands after it
    find the directory unasked; else the per-user config place ($XDG_CONFIG_HOME/monitor,
    ~/.config/monitor), outside any checkout."""
    if environ.get(HOME_VAR):
        return Path(environ[HOME_VAR]).expanduser()
    base = environ.get("XDG_CONFIG_HOME") or str(Path("~/.config").expanduser())
    return Path(base) / "monitor"
