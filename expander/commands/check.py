"""`expander check PROMPT EXPANSION [--json]`: report which constraints of a prompt an expansion keeps."""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass

from expander.commands._passthrough import add_passthrough_parser
from expander.commands._stdout import print_result


@dataclass
class CheckCommandConfig:
    """Settings of `expander check`.

    Attributes:
        json: print the report as a JSON object (the one the API returns) instead of text.
    """

    json: bool = False


def register(sub: argparse._SubParsersAction) -> None:
    add_passthrough_parser(
        sub,
        "check",
        "check an expansion against the constraints of its prompt",
        run,
        arg_help="PROMPT EXPANSION, then --json (see --help)",
    )


def run(args: argparse.Namespace) -> int:
    """Print the report. The exit status is 0 whether or not the expansion passes (2 on bad input)."""
    from expander.config import load_command_line
    from expander.constraints import check
    from expander.errors import CommandError

    line = load_command_line(
        args.argv,
        CheckCommandConfig,
        prog="expander check",
        description="Report which constraints of a prompt an expansion keeps (exit 0 either way).",
        positionals={
            "prompt": "the short prompt, e.g. 'three red apples, watercolor'",
            "expansion": "the expansion (or long caption) to check",
        },
    )
    prompt, expansion = line.positionals["prompt"], line.positionals["expansion"]
    if not prompt.strip():
        raise CommandError("PROMPT is empty", code=2)
    report = check(prompt, expansion)
    if line.config.json:
        print_result(json.dumps({"prompt": prompt, "expansion": expansion, **report.to_dict()}, indent=2))
        return 0
    n = len(report.satisfied) + len(report.violated)
    status = "FAIL" if not report.ok else "ADDS" if report.added else "PASS"
    added = f"; adds {len(report.added)} subject(s)" if report.added else ""
    print_result(f"{status}  score {report.score:.2f}  ({len(report.satisfied)}/{n} constraints kept{added})")
    for c in report.satisfied:
        print_result(f"  ok    {c.kind:<11} {c.text}")
    for v in report.violated:
        tag = "FAIL" if v.constraint.hard else "soft"
        print_result(f"  {tag:<5} {v.constraint.kind:<11} {v.reason}")
    for a in report.added:
        print_result(f"  ADDED {a.kind:<11} '{a.word}' ({a.group}): the prompt neither names nor implies it")
    return 0
