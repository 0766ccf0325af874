"""The README's "Coming from promptfoo" walk-through: the files committed in examples/promptfoo/
are exactly what the importer writes from the config beside them today."""

from __future__ import annotations

from pathlib import Path

from pytest_chatexp.migrate._promptfoo._plan import plan_promptfoo

EXAMPLE = Path(__file__).parents[2] / "examples" / "promptfoo"


def test_the_committed_import_is_what_the_importer_writes() -> None:
    plan = plan_promptfoo(EXAMPLE / "promptfooconfig.yaml")
    assert [str(f.path) for f in plan.files] == [
        "prompts.yaml",
        "dataset.jsonl",
        "test_promptfoo.py",
    ]
    for planned in plan.files:
        committed = (EXAMPLE / planned.path).read_text(encoding="utf-8")
        assert committed == planned.text, f"re-run the importer: {planned.path} is out of date"
    assert [u.where for u in plan.unmapped] == ["promptfooconfig.yaml: tests[1].assert[1]"]
