"""python -m pytest_chatexp.migrate promptfoo promptfooconfig.yaml [--out DIR] [--force]

Import another tool's prompts, providers, tests and assertions as a pytest-chatexp prompt file,
a JSONL dataset and a test module. Every file is written, or none (an existing file only with
--force); what has no equivalent is listed here and left as a TODO in the module.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from ._promptfoo._plan import plan_promptfoo
from ._records import MigrationError, MigrationPlan
from ._writer import write_all

__all__ = ["main"]

# Each source format: its importer (a config file -> the plan) and what its argument is. A new
# format adds a line here and a subpackage beside _promptfoo/.
IMPORTERS: dict[str, tuple[Callable[[Path], MigrationPlan], str]] = {
    "promptfoo": (plan_promptfoo, "promptfooconfig.yaml"),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m pytest_chatexp.migrate", description=__doc__.split("\n\n")[1]
    )
    commands = parser.add_subparsers(dest="source", required=True)
    for name, (_, what) in IMPORTERS.items():
        command = commands.add_parser(name, help=f"import a {name} config ({what})")
        command.add_argument("config", type=Path, help=what)
        command.add_argument(
            "--out", type=Path, default=None, help="folder to write into (default: the config's)"
        )
        command.add_argument("--force", action="store_true", help="overwrite existing files")
    args = parser.parse_args(argv)
    importer, _ = IMPORTERS[args.source]
    out_dir: Path = args.out if args.out is not None else args.config.parent
    try:
        plan = importer(args.config)
        written = write_all(plan.files, out_dir, force=args.force)
    except MigrationError as exc:
        message = str(exc)
        if "Nothing was written" not in message:
            message += (" " if message.endswith(".") else ". ") + "Nothing was written."
        print(f"error: {message}", file=sys.stderr)
        return 2
    print(f"imported {plan.source}: {plan.summary}")
    for path in written:
        print(f"wrote {path}")
    if plan.unmapped:
        module = written[-1].name
        print(f"not carried over ({len(plan.unmapped)}; listed as TODO in {module}):")
        for item in plan.unmapped:
            print(f"  {item.where}: {item.what}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
