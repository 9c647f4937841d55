"""A feed server that puts terminal escape codes and newlines in its answers (an HTTP reason
phrase, a redirect's Location) cannot recolour, clear, retitle or split the monitor's lines on a
terminal: each failure stays one line of plain text."""

from __future__ import annotations

from pathlib import Path

from tests.support.netservers import raw_server
from tests.support.processes import console_config
from tests.support.terminal import TerminalMonitor

EVIL_503 = (
    b"HTTP/1.1 503 \x1b[2J\x1b]0;pwned\x07Evil\x9b31m Not\x0bHere\r\n"
    b"Content-Length: 0\r\nConnection: close\r\n\r\n"
)
EVIL_REDIRECT = (
    b"HTTP/1.1 302 Found\r\nLocation: http://ev\x1b[2Jil.invalid/\x1b[31mred\r\n"
    b"Content-Length: 0\r\nConnection: close\r\n\r\n"
)


async def test_escape_codes_in_errors_do_not_reach_the_terminal(tmp_path: Path) -> None:
    """Colours off (NO_COLOR): no ESC, BEL or C1 byte reaches the pty, and each feed's failure
    is one line with its feed id, host and reason."""
    async with raw_server(EVIL_503) as status, raw_server(EVIL_REDIRECT) as redirect:
        feeds = {"evilstatus": status + "/rss", "evilredirect": redirect + "/rss"}
        config = console_config(tmp_path, feeds)
        monitor = TerminalMonitor(config, env={"NO_COLOR": "1"})
        await monitor.start()
        try:
            await monitor.wait_for("feed evilstatus: ")
            await monitor.wait_for("feed evilredirect: ")
            await monitor.wait_for("polled 2 feeds")
        finally:
            await monitor.stop()
    screen = monitor.screen()
    for bad in ("\x1b", "\x07", "\x9b", "\x0b", "\r"):
        assert bad not in screen, repr(screen[-3000:])
    status_line = next(ln for ln in screen.splitlines() if "feed evilstatus: " in ln)
    port = status.rsplit(":", 1)[1]
    assert f"127.0.0.1:{port} answered HTTP 503 [2J ]0;pwned Evil" in status_line, status_line
    assert "Here; next try in" in status_line  # the rest of the reason stayed on the line
    redirect_line = next(ln for ln in screen.splitlines() if "feed evilredirect: " in ln)
    assert "; next try in" in redirect_line, redirect_line


def test_an_exception_text_cannot_drive_the_terminal() -> None:
    """A traceback's last line quotes the exception's text, which can hold what a feed sent (a
    title, a tag name in a parser's message): on a terminal its escape codes are shown, not
    obeyed, as in every other value."""
    from monitor.kernel.logs import for_people

    event = {
        "event": "poll_crashed",
        "exception": 'Traceback (most recent call last):\nValueError: bad "\x1b[2J\x1b]0;pwned\x07"',
    }
    shown = for_people(None, "error", event)
    assert "\x1b" not in shown["exception"], repr(shown["exception"])
    assert "\x07" not in shown["exception"], repr(shown["exception"])
