"""Combine and render pytest-chatexp JSON reports, e.g. from CI shards.

python -m pytest_chatexp.report merge -o merged.json shard-1.json shard-2.json
python -m pytest_chatexp.report markdown merged.json -o summary.md
python -m pytest_chatexp.report html merged.json -o report.html
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ._reports._run import merge_reports, read_report, render
from ._util import write_atomic

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
        command = commands.add_parser(name, help=f"render a JSON report as {name}")
        command.add_argument("reports", nargs="+", type=Path, help="one or more reports (merged)")
        command.add_argument("-o", "--output", type=Path, required=True)
    args = parser.parse_args(argv)
    try:
        report = merge_reports([read_report(path) for path in args.reports])
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        kind = "json" if args.command == "merge" else args.command
        write_atomic(args.output, render(kind, report))
    except OSError as exc:
        print(f"error: cannot write {args.output}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    print(f"wrote {args.output} ({report['totals']['tests']} tests)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
