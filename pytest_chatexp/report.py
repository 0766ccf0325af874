"""Combine and render pytest-chatexp JSON reports, e.g. from CI shards.

python -m pytest_chatexp.report merge -o merged.json shard-1.json shard-2.json
python -m pytest_chatexp.report markdown merged.json -o summary.md
python -m pytest_chatexp.report html merged.json -o report.html
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ._reports._run import merge_reports, read_report, write_atomic

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m pytest_chatexp.report", description=__doc__.split("\n\n")[0]
    )
    commands = parser.add_subparsers(dest="command", required=True)
    merge = commands.add_parser("merge", help="merge JSON reports into one")
    merge.add_argument("reports", nargs="+", type=Path)
    merge.add_argument("-o", "--output", type=Path, required=True)
    for name in ("markdown", "html"):
        render = commands.add_parser(name, help=f"render a JSON report as {name}")
        render.add_argument("reports", nargs="+", type=Path, help="one or more reports (merged)")
        render.add_argument("-o", "--output", type=Path, required=True)
    args = parser.parse_args(argv)
    try:
        report = merge_reports([read_report(path) for path in args.reports])
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.command == "merge":
        text = json.dumps(report, indent=1, sort_keys=True) + "\n"
    elif args.command == "markdown":
        from ._reports._markdown import render_markdown

        text = render_markdown(report)
    else:
        from ._reports._html import render_html

        text = render_html(report)
    write_atomic(args.output, text)
    print(f"wrote {args.output} ({report['totals']['tests']} tests)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
