"""The pages over the answers of the real parts, not the fakes' (as the service test found):
a dead letter as `LetterDesk.letters` lists it, a test result as `matching.trial.tried` gives
it (its `text` by field)."""

from __future__ import annotations

import lxml.html

from monitor.alerts.deadletters import DeadLetter, letter_answer
from monitor.status.page import ConsoleView, render
from monitor.status.watch_page import WatchPage, render_watch
from tests.status.console_fakes import status_view
from tests.status.test_status_page import nodes, text


def test_a_dead_letter_as_the_desk_lists_it_has_its_row_and_buttons() -> None:
    letter = DeadLetter(
        id="a1b2",
        kind="alert",
        channel="hook",
        rules=("war",),
        reason="HTTP 400 from 127.0.0.1: refused",
        attempts=1,
        failed_at="2025-12-07T18:00:00Z",
        body={"alert": {"article": {"title": "Drills", "url": "https://x.test/a"}}},
    )
    console = ConsoleView(csrf="c", letters=[letter_answer(letter)], channels=("hook",))
    page = lxml.html.document_fromstring(render(status_view(), console))
    (row,) = nodes(page, "//table[@id='letters']/tbody/tr")
    assert "a1b2" == row.get("data-letter")
    shown = text(row, ".")
    assert "Drills" in shown
    assert "war" in shown
    assert "HTTP 400 from 127.0.0.1: refused" in shown
    assert ["a1b2", "a1b2"] == [n.get("value") for n in nodes(row, ".//input[@name='ids']")]
    # the buttons' forms inside their block (a <p> ends at a <form>: they would fall out of it)
    assert 1 == len(nodes(page, "//*[@id='channel-tests']//form"))
    assert 2 == len(nodes(page, "//*[@id='letters-all']//form"))


def test_a_test_result_marks_the_evidence_in_each_field_of_its_text() -> None:
    result = {
        "title": "Talks in Minsk",
        "url": "",
        "matched": True,
        "evidence": [],
        "text": {"title": "Talks in Minsk", "content": "Troops near the Belarus border."},
        "marks": [["content", 16, 23], ["title", 9, 14]],
    }
    page = WatchPage(
        id="war",
        source={"id": "war", "file": "watches.yaml", "line": 3, "mode": "live"},
        yaml="id: war\n",
        stored=(),
        silences=(),
        csrf="c",
        refused=None,
        result=("watch_test", {"results": [result]}),
    )
    shown = lxml.html.document_fromstring(render_watch(page))
    marks = nodes(shown, "//div[@id='result']//mark")
    assert ["Minsk", "Belarus"] == [text(m, ".") for m in marks]
    (content,) = nodes(shown, "//p[@class='text']")
    assert "content" == content.get("data-field")
    assert "Troops near the Belarus border." == text(content, ".")
