"""The README's "Coming from Humanloop" walk-through: the files committed in examples/humanloop/
are exactly what the importer writes from the exports beside them, with the base URLs the
examples replay at (a closed port)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_chatexp.migrate._humanloop._plan import plan_humanloop

EXAMPLE = Path(__file__).parents[2] / "examples" / "humanloop"
EXPORTS = [
    "ticket-router.json",
    "ticket-router-haiku.prompt",
    "datapoints.csv",
    "evaluators.json",
    "logs.jsonl",
]


def test_the_committed_import_is_what_the_importer_writes(monkeypatch: pytest.MonkeyPatch) -> None:
    # Where examples/conftest.py points the providers when replaying.
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", "http://127.0.0.1:9")
    plan = plan_humanloop([EXAMPLE / "exports" / name for name in EXPORTS])
    assert len(plan.files) == 6
    for planned in plan.files:
        committed = (EXAMPLE / planned.path).read_text(encoding="utf-8")
        assert committed == planned.text, f"re-run the importer: {planned.path} is out of date"
    assert [u.where for u in plan.unmapped] == ["evaluators.json: [0]"]
    assert [n.where for n in plan.notes] == ["logs.jsonl: [1]", "logs.jsonl: [7]"]
