"""python -m pytest_chatexp.migrate promptfoo promptfooconfig.yaml [--out DIR] [--force]
python -m pytest_chatexp.migrate humanloop EXPORT... [--out DIR] [--force]

Import another tool's prompts, providers, tests and assertions as a pytest-chatexp prompt file,
a JSONL dataset and a test module. Every file is written, or none (an existing file only with
--force); what has no equivalent is listed here and left as a TODO in the module.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from ._humanloop._plan import plan_humanloop
from ._promptfoo._plan import plan_promptfoo
from ._records import MigrationError, MigrationPlan
from ._writer import write_all

__all__ = ["main"]

# Each source format: its importer (the files named -> the plan), what its arguments are, and
# whether it takes several. A new format adds a line here and a subpackage beside _promptfoo/.
IMPORTERS: dict[str, tuple[Callable[[Sequence[Path]], MigrationPlan], str, bool]] = {
    "promptfoo": (lambda paths: plan_promptfoo(paths[0]), "promptfooconfig.yaml", False),
    "humanloop": (
        plan_humanloop,
        "exports: model config / prompt version JSON, .prompt files, datapoints JSON or CSV, "
        "evaluators, logs JSON or JSONL",
        True,
    ),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m pytest_chatexp.migrate", description=__doc__.split("\n\n")[1]
    )
    commands = parser.add_subparsers(dest="source", required=True)
    for name, (_, what, many) in IMPORTERS.items():
        command = commands.add_parser(name, help=f"import {name} files ({what})")
        command.add_argument("config", type=Path, nargs="+" if many else None, help=what)
        command.add_argument(
            "--out", type=Path, default=None, help="folder to write into (default: the config's)"
        )
        command.add_argument("--force", action="store_true", help="overwrite existing files")
    args = parser.parse_args(argv)
    importer, _, many = IMPORTERS[args.source]
    paths: list[Path] = args.config if many else [args.config]
    out_dir: Path = args.out if args.out is not None else paths[0].parent
    try:
        plan = importer(paths)
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
    if plan.notes:
        print(f"seed recordings ({len(plan.notes)} note{'' if len(plan.notes) == 1 else 's'}):")
        for item in plan.notes:
            print(f"  {item.where}: {item.what}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
