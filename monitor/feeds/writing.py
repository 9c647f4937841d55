"""Replace a file of the rules directory atomically, as an editor that saves by rename does."""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from pathlib import Path


def version_of(text: str) -> str:
    """A short hash of a file's text: what an editor read, handed back with its save."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def replace_text(path: Path, text: str) -> None:
    """Write `text` to `path` atomically (a temporary file in the same directory, then
    `os.replace`), keeping the file's permissions: a reader (the running monitor's reloader)
    sees the old file or the new one, never half of it.

    The new file's modification time is made later than the old one's, and its inode differs
    from it, so the reloader's (size, mtime, inode) stamp always changes, even for two saves
    within the same clock tick."""
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
            os.fsync(file.fileno())
        os.chmod(temporary, mode)
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
