"""Tools the suite installs from Debian when missing (promtool, chromium).

As root, with apt-get (waiting for another install's lock). Where a tool cannot be installed,
its tests are skipped with a loud reason ("<WHAT> TESTS NOT RUN"), except under CI (CI=true),
where they fail: there they must run (and .ci/run also fails on that line).
"""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest


def debian_tool(command: str, package: str, what: str) -> str:
    """The path of `command`, installing Debian's `package` first when it is missing."""
    found = shutil.which(command)
    if found is None and can_install():
        install(package)
        found = shutil.which(command)
    if found is None:
        reason = f"{what} TESTS NOT RUN: no {command}, and apt-get could not install {package}"
        if os.environ.get("CI") == "true":
            pytest.fail(reason + " (CI=true: they must run)")
        pytest.skip(reason)
    return found


def can_install() -> bool:
    """Whether this process may install Debian packages (apt-get is here and we are root)."""
    return shutil.which("apt-get") is not None and os.geteuid() == 0


def install(package: str) -> str | None:
    """`apt-get install package`, waiting for another install's lock: None when it worked,
    else why not (apt-get's last line of complaint)."""
    apt_get = shutil.which("apt-get")
    if apt_get is None:
        return "no apt-get"
    done = subprocess.run(
        [
            apt_get,
            "install",
            "-y",
            "-q",
            "--no-install-recommends",
            "-o",
            "DPkg::Lock::Timeout=600",
            package,
        ],
        capture_output=True,
        text=True,
        timeout=800,
        check=False,
        env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
    )
    if done.returncode == 0:
        return None
    complaint = [line for line in (done.stderr + done.stdout).splitlines() if line.strip()]
    return complaint[-1].strip() if complaint else f"apt-get exited {done.returncode}"
