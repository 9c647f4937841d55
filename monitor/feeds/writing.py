"""Replace a file of the rules directory atomically, as an editor that saves by rename does."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import tempfile
from pathlib import Path


class FileIsLink(OSError):
    """The file to replace is a symbolic link: a rename would put a plain file in its place."""


def version_of(text: str) -> str:
    """A short hash of a file's text: what an editor read, handed back with its save."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def refuse_link(path: Path) -> None:
    """Raise `FileIsLink` (its words for a person) when `path` is a symbolic link: a rules file
    kept elsewhere (a ConfigMap, a dotfiles checkout) is edited where it is kept."""
    if path.is_symlink():
        target = os.readlink(path)
        raise FileIsLink(
            errno.ELOOP, f"{path.name} is a link to {target}; edit the file it points to"
        )


def replace_text(path: Path, text: str) -> None:
    """Write `text` to `path` atomically (a temporary file in the same directory, then
    `os.replace`), keeping the file's permissions and, where this process may, its owner and
    group: a reader (the running monitor's reloader) sees the old file or the new one, never
    half of it, and after a crash the file and the directory entry are on disk (both fsynced).
    A symbolic link is never replaced (`FileIsLink`).

    The new file's modification time is made later than the old one's, and its inode differs
    from it, so the reloader's (size, mtime, inode) stamp always changes, even for two saves
    within the same clock tick."""
    refuse_link(path)
    try:
        before = path.stat()
    except FileNotFoundError:
        before = None
    mode = before.st_mode & 0o777 if before is not None else 0o644
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as file:
            file.write(text)
            file.flush()
            if before is not None:
                _keep_owner(file.fileno(), before)
            os.fchmod(file.fileno(), mode)
            os.fsync(file.fileno())
        if before is not None:
            written = os.stat(temporary).st_mtime_ns
            if written <= before.st_mtime_ns:
                later = before.st_mtime_ns + 1_000
                os.utime(temporary, ns=(later, later))
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            Path(temporary).unlink()
        raise
    _sync_directory(path.parent)


def _keep_owner(fd: int, before: os.stat_result) -> None:
    """Give the new file the old one's owner and group; where this process may not (not root,
    not a member of the group), it keeps what it has."""
    if (before.st_uid, before.st_gid) == (os.geteuid(), os.getegid()):
        return
    try:
        os.fchown(fd, before.st_uid, before.st_gid)
    except PermissionError:
        with contextlib.suppress(PermissionError):  # the group alone, when a member of it
            os.fchown(fd, -1, before.st_gid)


def _sync_directory(directory: Path) -> None:
    """fsync a directory, so a rename in it survives a crash (where the system allows it)."""
    try:
        fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)
