"""`monitor init` into hostile places: a path that is a file, a path under a file, a directory
it may not write, a dangling symlink, and files that are symlinks to somewhere else. Each is one
line naming the path and the reason, exit 2 (or 1 for files already there); nothing is ever
written through a symlink."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from monitor.commands.init import init


def run_init(home: Path) -> tuple[int, str, str]:
    """`init(home)`: (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    return init(home, out, err), out.getvalue(), err.getvalue()


def test_a_file_where_the_directory_should_be(tmp_path: Path) -> None:
    """DIR is a regular file: exit 2 naming it, the file untouched."""
    target = tmp_path / "home"
    target.write_text("not a directory\n")
    code, out, err = run_init(target)
    assert 2 == code
    assert f"cannot write {target}" in err
    assert "" == out
    assert "not a directory\n" == target.read_text()


def test_a_directory_under_a_file(tmp_path: Path) -> None:
    """DIR's parent is a file: exit 2, a one-line reason, no traceback."""
    (tmp_path / "file").write_text("x")
    code, _, err = run_init(tmp_path / "file" / "home")
    assert 2 == code
    assert 1 == len(err.splitlines())
    assert "Not a directory" in err


def test_a_place_nobody_may_write(tmp_path: Path) -> None:
    """A directory not even root may write (/proc): exit 2 with the reason, not a traceback."""
    code, _, err = run_init(Path("/proc/monitor-init-test"))
    assert 2 == code
    assert "cannot write /proc/monitor-init-test" in err


def test_a_dangling_symlink_as_the_directory(tmp_path: Path) -> None:
    """DIR is a symlink to nowhere: exit 2, and nothing created at the link's target."""
    link = tmp_path / "home"
    link.symlink_to(tmp_path / "nowhere")
    code, _, _ = run_init(link)
    assert 2 == code
    assert not (tmp_path / "nowhere").exists()


def test_a_symlink_to_a_directory_is_followed(tmp_path: Path) -> None:
    """DIR is a symlink to a real directory (dotfiles kept elsewhere): the files go there."""
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "home").symlink_to(real)
    code, _, err = run_init(tmp_path / "home")
    assert 0 == code, err
    assert (real / "monitor.yaml").is_file()


@pytest.mark.parametrize("name", ["monitor.yaml", "secrets.env", "rules/watches.yaml"])
@pytest.mark.parametrize("dangling", [True, False])
def test_a_file_that_is_a_symlink_is_never_written_through(
    tmp_path: Path, name: str, dangling: bool
) -> None:
    """A starter file's place holds a symlink (dangling, or to a file of the user's): exit 1
    naming it; its target neither created nor changed, and no other file written."""
    home, victim = tmp_path / "home", tmp_path / "victim"
    (home / "rules").mkdir(parents=True)
    if not dangling:
        victim.write_text("precious\n")
    (home / name).symlink_to(victim)
    code, _, err = run_init(home)
    assert 1 == code
    assert name in err
    assert (not victim.exists()) if dangling else ("precious\n" == victim.read_text())
    assert not (home / "rules" / "feeds.yaml").exists()


def test_a_symlink_appearing_after_the_check_is_not_followed(tmp_path: Path) -> None:
    """Created between the check and the write, a symlink still is not written through: each
    file is opened with O_EXCL."""
    from monitor.commands.init import _create

    victim, link = tmp_path / "victim", tmp_path / "monitor.yaml"
    victim.write_text("precious\n")
    link.symlink_to(victim)
    with pytest.raises(FileExistsError):
        _create(link, "overwritten\n", 0o644)
    assert "precious\n" == victim.read_text()
