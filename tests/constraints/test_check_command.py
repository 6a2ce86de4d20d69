"""`expander check PROMPT EXPANSION [--json]` (`expander.commands.check`): the checker's report on the CLI."""

from __future__ import annotations

import json


def test_cli_check_json(capsys):
    from expander.cli import main

    code = main(["check", "three apples", "Five apples in a bowl.", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0  # a failing expansion is a result, not an error
    assert out["ok"] is False and out["prompt"] == "three apples"
    assert out["violated"][0]["reason"] == "count 'three apples' became 'five'"


def test_cli_check_text(capsys):
    from expander.cli import main

    assert main(["check", "a red fox in snow", "A red fox trotting through fresh snow at dawn."]) == 0
    out = capsys.readouterr().out
    assert out.startswith("PASS")
    assert "subject" in out and "fox" in out


def test_cli_check_text_lists_added_subjects(capsys):
    from expander.cli import main

    assert main(["check", "a red fox in snow", "A red fox in snow; a large bear stands beside it."]) == 0
    out = capsys.readouterr().out
    assert out.startswith("ADDS") and "adds 1 subject" in out
    assert "ADDED animal      'bear' (bear)" in out


def test_cli_check_empty_prompt_is_usage_error(capsys):
    from expander.cli import main

    assert main(["check", "  ", "something"]) == 2
    assert "PROMPT" in capsys.readouterr().err
