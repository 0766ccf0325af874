"""The pytest glue's parts, one by one: the checks' port and the session's side of it, the spec
cache, the run log's helpers and the report files' writer."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from pytest_chatexp import InvalidExperimentError, ModelConfig
from pytest_chatexp._experiment._spec import ExperimentSpec
from pytest_chatexp._reports._run import experiment_records, write_reports
from pytest_chatexp._session._collection import SpecCache, fail_for
from pytest_chatexp._session._runlog import recording_name
from pytest_chatexp._session._session import OUTCOMES_KEY, VERDICTS_KEY, RunningItem
from pytest_chatexp._session._settings import Settings
from pytest_chatexp._util import percent
from pytest_chatexp.checks import _running
from pytest_chatexp.checks._running import (
    AssertionVerdict,
    RunningTest,
    activate,
    active_test,
    current_test,
    deactivate,
)


class _Item:
    """What RunningItem reads of a pytest item."""

    def __init__(self, nodeid: str) -> None:
        self.nodeid = nodeid
        self.stash = pytest.Stash()


class _Session:
    settings = Settings()


CONFIG = ModelConfig(model="m", chat_template=[{"role": "user", "content": "hi"}])


def _spec(name: str) -> ExperimentSpec:
    return ExperimentSpec(name=name, model_configs=(CONFIG,), inputs=())


def _running_item(nodeid: str = "test_x.py::test_it") -> RunningItem:
    return RunningItem(_Session(), _Item(nodeid))  # type: ignore[arg-type]


@pytest.fixture(autouse=True)
def _empty_slot() -> Any:
    saved = _running._running
    _running._running = None
    yield
    _running._running = saved


def test_the_session_side_is_a_running_test() -> None:
    test: RunningTest = _running_item()  # mypy checks the protocol here
    assert test.node_id == "test_x.py::test_it"
    assert test.prices is _Session.settings.prices


def test_the_slot_holds_the_running_test_until_its_end() -> None:
    with pytest.raises(InvalidExperimentError, match="judge\\(\\) needs a running chatexp test"):
        active_test("judge()")
    assert current_test() is None
    session, item = _Session(), _Item("test_x.py::test_it")
    test = RunningItem(session, item)  # type: ignore[arg-type]
    activate(test)
    assert active_test("judge()") is test
    deactivate(_running_item("test_x.py::test_other"))  # another test's end: no change
    assert current_test() is test
    # Equal: the same test.
    deactivate(RunningItem(session, item))  # type: ignore[arg-type]
    assert current_test() is None


def test_verdicts_go_to_the_item() -> None:
    test = _running_item()
    test.record_outcome("c", "input-0", 0, None)
    test.record_outcome("c", "input-0", 0, "too long")
    test.record_outcome("c", "input-0", 0, None)  # a failed sample stays failed
    verdict = AssertionVerdict(checks="ok", min_pass_rate=1.0, passed=1, samples=1, ok=True)
    test.record_verdict("c", "input-0", verdict)
    stash = test.item.stash
    assert stash[OUTCOMES_KEY] == {("c", "input-0", 0): "too long"}
    assert stash[VERDICTS_KEY] == {("c", "input-0"): [verdict]}


def test_a_running_test_fails_a_plugin_error_with_its_message_alone() -> None:
    class Failing(_Session):
        def run(self, item: object, spec: object) -> None:
            raise InvalidExperimentError("no good")

    test = RunningItem(Failing(), _Item("test_x.py::test_it"))  # type: ignore[arg-type]
    with pytest.raises(pytest.fail.Exception, match=r"^chatexp: test_x\.py::test_it: no good$"):
        test.run(_spec("n"))
    failure = fail_for("t.py::t", InvalidExperimentError("x"))
    assert isinstance(failure, pytest.fail.Exception) and not failure.pytrace


def test_the_spec_cache_gives_each_item_its_spec(tmp_path: Path) -> None:
    cache, marks = SpecCache(), [object()]
    spec = _spec("t.py::test_it")
    assert cache.take(tmp_path, marks, "t.py::test_it") is None
    cache.remember(tmp_path, marks, spec)
    assert cache.take(tmp_path, [object()], "t.py::test_it") is None  # other marks
    split = cache.take(tmp_path, marks, "t.py::test_it[a]")
    assert split is not None and split.name == "t.py::test_it[a]"
    assert cache.take(tmp_path, marks, "t.py::test_it") is spec  # the item it was built for...
    assert cache.take(tmp_path, marks, "t.py::test_it") is None  # ...takes it, once


def test_run_log_helpers() -> None:
    assert recording_name("tests/test_a.py::TestB::test_c[x]") == "TestB::test_c[x]"
    assert recording_name("test_a.py") == "test_a.py"
    record = {"test": "t.py::t", "wall_time_s": 0.0, "configs": []}
    [read] = experiment_records([record, "x"])  # the builtins are the (TypedDict) record
    assert read is record
    assert experiment_records(None) == [] and experiment_records("x") == []


def test_percent_never_reads_all_or_none_unless_it_is() -> None:
    assert [percent(199, 200), percent(1, 200), percent(1, 2), percent(0, 0)] == [
        "99%",
        "1%",
        "50%",
        "-",
    ]


def test_write_reports_writes_the_paths_it_is_given(tmp_path: Path) -> None:
    json_path, html_path = tmp_path / "r.json", tmp_path / "r.html"
    lines = write_reports([], record_mode="new", json_path=str(json_path), html_path=str(html_path))
    assert lines == [
        (f"chatexp: report written to {json_path}", True),
        (f"chatexp: report written to {html_path}", True),
    ]
    assert json.loads(json_path.read_text())["record_modes"] == ["new"]
    assert not (tmp_path / "r.md").exists()
    (tmp_path / "dir.md").mkdir()
    [(line, written)] = write_reports(
        [], record_mode="none", markdown_path=str(tmp_path / "dir.md")
    )
    assert not written and line.startswith("chatexp: could not write the Markdown report")


def test_the_run_log_loads_no_yaml_pydantic_or_httpx() -> None:
    # The xdist controller loads it: reports and summaries need none of them.
    code = (
        "import sys, pytest_chatexp._session._runlog\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('yaml', 'pydantic', 'httpx')))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
