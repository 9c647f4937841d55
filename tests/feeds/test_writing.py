"""Saving a rules file: atomic, its mode, owner and group kept, never through a link."""

from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import Any

import pytest

from monitor.feeds.writing import FileIsLink, replace_text


def test_a_save_keeps_mode_owner_and_group(tmp_path: Path) -> None:
    """The new file has the old one's mode, uid and gid (as root: any owner can be given)."""
    if os.geteuid() != 0:
        pytest.skip("giving a file to another user needs root")
    path = tmp_path / "watches.yaml"
    path.write_text("rules: []\n")
    os.chmod(path, 0o640)
    os.chown(path, 1234, 2345)
    replace_text(path, "rules: [] # saved\n")
    after = path.stat()
    assert (after.st_uid, after.st_gid, after.st_mode & 0o777) == (1234, 2345, 0o640)
    assert path.read_text() == "rules: [] # saved\n"


def test_a_save_not_allowed_to_chown_still_saves(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where the owner cannot be given (EPERM), the file is written all the same."""
    path = tmp_path / "watches.yaml"
    path.write_text("rules: []\n")
    tried: list[tuple[int, int]] = []

    def refused(fd: int, uid: int, gid: int) -> None:
        tried.append((uid, gid))
        raise PermissionError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(os, "geteuid", lambda: 4321)  # the file seems another's
    monkeypatch.setattr(os, "fchown", refused)
    replace_text(path, "rules: [] # saved\n")
    assert path.read_text() == "rules: [] # saved\n"
    assert len(tried) == 2  # owner and group, then the group alone


def test_a_save_fsyncs_the_file_and_its_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both the new file and the directory holding the rename reach the disk."""
    path = tmp_path / "feeds.yaml"
    path.write_text("feeds: []\n")
    synced: list[str] = []
    real = os.fsync

    def fsync(fd: Any) -> None:
        synced.append("dir" if os.path.isdir(f"/proc/self/fd/{fd}") else "file")
        real(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    replace_text(path, "feeds: [] # saved\n")
    assert synced == ["file", "dir"]


def test_a_link_is_never_replaced(tmp_path: Path) -> None:
    """A symbolic link is refused in words naming its target; link and target are unchanged."""
    target = tmp_path / "elsewhere.yaml"
    target.write_text("feeds: []\n")
    path = tmp_path / "feeds.yaml"
    path.symlink_to(target)
    with pytest.raises(FileIsLink) as refused:
        replace_text(path, "feeds: [] # saved\n")
    assert refused.value.strerror == f"feeds.yaml is a link to {target}; edit the file it points to"
    assert path.is_symlink()
    assert target.read_text() == "feeds: []\n"
    assert [p.name for p in tmp_path.iterdir()].count("feeds.yaml") == 1
    assert len(list(tmp_path.iterdir())) == 2
