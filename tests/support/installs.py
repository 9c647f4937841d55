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
    apt_get = shutil.which("apt-get")
    if found is None and apt_get and os.geteuid() == 0:
        subprocess.run(
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
            timeout=800,
            check=False,
            env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
        )
        found = shutil.which(command)
    if found is None:
        reason = f"{what} TESTS NOT RUN: no {command}, and apt-get could not install {package}"
        if os.environ.get("CI") == "true":
            pytest.fail(reason + " (CI=true: they must run)")
        pytest.skip(reason)
    return found
