"""`monitor feedback` in process (issue 35): add, list, export, report on the local bus; and
`monitor check` warning that a Kafka deployment needs one `http.feedback_key`."""

from __future__ import annotations

import argparse
import io
import json
from pathlib import Path

from monitor.commands.check import check
from monitor.commands.feedback import arguments, feedback_command

ARGS = argparse.ArgumentParser()
arguments(ARGS)


def run(config: Path, *words: str) -> tuple[int, str, str]:
    args = ARGS.parse_args([*words, "--config", str(config)])
    args.json = getattr(args, "json", False)
    out, err = io.StringIO(), io.StringIO()
    code = feedback_command(config, args, out, err)
    return code, out.getvalue(), err.getvalue()


def test_add_list_export_report(tmp_path: Path) -> None:
    (tmp_path / "rules").mkdir()
    config = tmp_path / "monitor.yaml"
    config.write_text("state_dir: state\n")
    add = ("add", "--rule", "grain", "--verdict")
    assert 0 == run(config, *add, "relevant", "--story", "s1")[0]
    code, out, _ = run(config, *add, "relevant", "--story", "s1")
    assert (0, "grain s1: relevant already recorded\n") == (code, out)
    assert 0 == run(config, *add, "not_relevant", "--story", "s2")[0]
    code, out, _ = run(config, "list")
    assert out.endswith("2 verdict(s)\n")
    assert "grain  s2  not_relevant" in out
    lines = run(config, "export", "--rule", "grain")[1].splitlines()
    assert ["s1", "s2"] == [json.loads(x)["story"] for x in lines]
    assert {"id": "s1"} == json.loads(lines[0])["article"]
    (row,) = [json.loads(x) for x in run(config, "report", "--json")[1].splitlines()]
    assert (2, 0.5) == (row["verdicts"], row["precision"])
    assert 2 == run(config, "add", "--rule", " ", "--story", "s", "--verdict", "relevant")[0]


def test_check_warns_on_kafka_without_a_feedback_key(tmp_path: Path) -> None:
    (tmp_path / "rules").mkdir()
    config = tmp_path / "monitor.yaml"
    config.write_text('bus: {kind: kafka, bootstrap_servers: "127.0.0.1:9"}\n')
    err = io.StringIO()
    assert 0 == check(None, io.StringIO(), err, config_path=config)
    assert "http.feedback_key is not set" in err.getvalue()
    config.write_text(
        'bus: {kind: kafka, bootstrap_servers: "127.0.0.1:9"}\nhttp: {feedback_key: "0123456789abcdef"}\n'
    )
    err = io.StringIO()
    check(None, io.StringIO(), err, config_path=config)
    assert "feedback_key" not in err.getvalue()
