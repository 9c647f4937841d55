"""`monitor init [DIR]` writes a starter directory that `check` accepts and `run --once` runs
(its feed pointed at a server on 127.0.0.1, or unreachable), refuses to overwrite, and prints
the next steps; secrets.env beside monitor.yaml fills `${VAR}` and is never shown."""

from __future__ import annotations

import io
import stat
from pathlib import Path

import pytest

from monitor.commands.home import default_init_dir
from monitor.commands.init import FILES, init
from monitor.kernel.errors import ConfigError
from monitor.service.config import load_config
from tests.commands.test_config_dir import feed, monitor
from tests.support.servers import FeedServer, free_port, serve

pytestmark = pytest.mark.timeout(120)


def written(home: Path) -> tuple[int, str, str]:
    """`init(home)`: (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    return init(home, out, err), out.getvalue(), err.getvalue()


def aim(home: Path, feed_url: str) -> None:
    """Point the starter feed at `feed_url` and the listener at a free port (no network
    beyond 127.0.0.1 in tests)."""
    feeds = home / "rules" / "feeds.yaml"
    feeds.write_text(
        feeds.read_text().replace("https://feeds.bbci.co.uk/news/world/rss.xml", feed_url)
    )
    config = home / "monitor.yaml"
    config.write_text(config.read_text().replace("9464", str(free_port())))


def test_init_writes_the_starter_files_and_says_what_next(tmp_path: Path) -> None:
    """The four files, secrets.env mode 0600, and next steps naming check, run, MONITOR_HOME
    and where secrets go."""
    home = tmp_path / "a" / "home"
    code, out, err = written(home)
    assert 0 == code, err
    for name, _, _ in FILES:
        assert (home / name).is_file()
    assert 0o600 == stat.S_IMODE((home / "secrets.env").stat().st_mode)
    for step in (
        f"monitor check --config-dir {home}",
        f"monitor run --config-dir {home}",
        f"export MONITOR_HOME={home}",
        f"{home}/secrets.env",
    ):
        assert step in out


async def test_the_starter_directory_checks_and_runs(tmp_path: Path) -> None:
    """`check --config-dir` accepts the written directory, and `run --once` polls its feed,
    alerts on the console with the example watch and keeps its state inside it."""
    home = tmp_path / "home"
    assert 0 == written(home)[0]
    code, out, err = await monitor("check", "--config-dir", str(home), cwd=tmp_path)
    assert 0 == code, err
    assert "ok: 1 rule (1 enabled)" in out
    server = FeedServer(feeds={"world": feed("Strong earthquake shakes the coast of Chile")})
    async with serve(server.app()) as base:
        server.base = base
        aim(home, server.url("/feeds/world"))
        code, out, err = await monitor("run", "--once", "--config-dir", str(home), cwd=tmp_path)
    assert 0 == code, err[-2000:]
    assert "my-first-watch" in out
    assert (home / "state").is_dir()


async def test_a_feed_token_in_secrets_env_reaches_the_feed_and_never_the_log(
    tmp_path: Path,
) -> None:
    """A feed's `auth: {bearer: "${NEWS_TOKEN}"}` is filled from secrets.env (not only from the
    process's environment) when the service polls, and the token never shows in its output."""
    home = tmp_path / "home"
    assert 0 == written(home)[0]
    token = "tok-secrets-env-5d1c9e"  # noqa: S105 (a test value)
    (home / "secrets.env").write_text(f"NEWS_TOKEN={token}\n")
    server = FeedServer(feeds={"world": feed("Strong earthquake shakes the coast of Chile")})
    async with serve(server.app()) as base:
        server.base = base
        aim(home, server.url("/feeds/world"))
        feeds = home / "rules" / "feeds.yaml"
        feeds.write_text(
            feeds.read_text().replace(
                f"url: {server.url('/feeds/world')}",
                f'url: {server.url("/feeds/world")}\n    auth: {{bearer: "${{NEWS_TOKEN}}"}}',
            )
        )
        assert "NEWS_TOKEN" in feeds.read_text()
        code, out, err = await monitor("run", "--once", "--config-dir", str(home), cwd=tmp_path)
    assert 0 == code, err[-2000:]
    sent = [h.get("Authorization") for path, h in server.requests if path == "/feeds/world"]
    assert [f"Bearer {token}"] == sent
    assert token not in out + err


async def test_the_starter_directory_runs_offline(tmp_path: Path) -> None:
    """With its feed unreachable, `run --once` still runs through and exits 3 (a feed
    failed), not a crash."""
    home = tmp_path / "home"
    assert 0 == written(home)[0]
    aim(home, f"http://127.0.0.1:{free_port()}/feed.xml")  # nothing listens there
    code, _, err = await monitor("run", "--once", "--config-dir", str(home), cwd=tmp_path)
    assert 3 == code, err[-2000:]


def test_init_refuses_to_overwrite(tmp_path: Path) -> None:
    """A directory holding some of the files: exit 1 naming them, and nothing written or
    changed."""
    (tmp_path / "rules").mkdir()
    (tmp_path / "monitor.yaml").write_text("mine\n")
    (tmp_path / "rules" / "feeds.yaml").write_text("feeds: []\n")
    code, out, err = written(tmp_path)
    assert 1 == code
    assert "monitor.yaml, rules/feeds.yaml" in err
    assert "nothing written" in err
    assert "" == out
    assert "mine\n" == (tmp_path / "monitor.yaml").read_text()
    assert not (tmp_path / "secrets.env").exists()
    assert not (tmp_path / "rules" / "watches.yaml").exists()


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({"MONITOR_HOME": "/m", "XDG_CONFIG_HOME": "/x"}, "/m"),
        ({"XDG_CONFIG_HOME": "/x"}, "/x/monitor"),
        ({}, str(Path("~/.config/monitor").expanduser())),
    ],
)
def test_init_default_directory(environ: dict[str, str], expected: str) -> None:
    """Without DIR: MONITOR_HOME, else $XDG_CONFIG_HOME/monitor, else ~/.config/monitor."""
    assert Path(expected) == default_init_dir(environ)


def test_secrets_env_fills_variables_and_is_redacted(tmp_path: Path) -> None:
    """A `${VAR}` set only in secrets.env is filled from it; the environment wins over the
    file; every value of the file is among the values never logged."""
    assert 0 == written(tmp_path)[0]
    config = tmp_path / "monitor.yaml"
    config.write_text(
        config.read_text().replace(
            "  console: {kind: console}",
            '  console: {kind: console}\n  hook: {kind: webhook, url: "${HOOK_URL}", '
            'secret: "${HOOK_SECRET}"}',
        )
    )
    secrets = tmp_path / "secrets.env"
    secrets.write_text(
        "export HOOK_URL='https://hooks.example.org/abc'\nHOOK_SECRET=from-the-file\n"
        "UNUSED=another-value\n"
    )
    loaded = load_config({"HOOK_SECRET": "from-the-env"}, config)
    hook = loaded.channels["hook"]
    assert "https://hooks.example.org/abc" == getattr(hook, "url", None)
    assert "from-the-env" == getattr(hook, "secret", None)
    for value in ("https://hooks.example.org/abc", "from-the-env", "another-value"):
        assert value in loaded.secrets()


def test_secrets_env_others_may_read_is_refused(tmp_path: Path) -> None:
    """secrets.env that group or others may read: a config error naming the file and the
    chmod that fixes it."""
    assert 0 == written(tmp_path)[0]
    secrets = tmp_path / "secrets.env"
    secrets.chmod(0o644)
    with pytest.raises(ConfigError) as caught:
        load_config({}, tmp_path / "monitor.yaml")
    assert f"chmod 600 {secrets}" in str(caught.value)
    assert "mode 0644" in str(caught.value)
