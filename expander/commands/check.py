"""`expander check PROMPT EXPANSION`: report which constraints of a prompt an expansion keeps."""

from __future__ import annotations

import argparse
import json


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("check", help="check an expansion against the constraints of its prompt")
    p.add_argument("prompt", help="the short prompt, e.g. 'three red apples, watercolor'")
    p.add_argument("expansion", help="the expansion (or long caption) to check")
    p.add_argument("--json", action="store_true", help="print the report as a JSON object")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Print the report. The exit status is 0 whether or not the expansion passes (2 on bad input)."""
    from expander.cli import CommandError
    from expander.constraints import check

    if not args.prompt.strip():
        raise CommandError("PROMPT is empty", code=2)
    report = check(args.prompt, args.expansion)
    if args.json:
        print(json.dumps({"prompt": args.prompt, "expansion": args.expansion, **report.to_dict()}, indent=2))
        return 0
    n = len(report.satisfied) + len(report.violated)
    print(f"{'PASS' if report.ok else 'FAIL'}  score {report.score:.2f}  "
          f"({len(report.satisfied)}/{n} constraints kept)")
    for c in report.satisfied:
        print(f"  ok    {c.kind:<11} {c.text}")
    for v in report.violated:
        tag = "FAIL" if v.constraint.hard else "soft"
        print(f"  {tag:<5} {v.constraint.kind:<11} {v.reason}")
    return 0
