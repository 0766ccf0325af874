"""Shared experiments: tests under a module or class marker with ``share=True`` that declare the
same experiment run it once, record it in one file, and each get its result -- in one process
and across xdist workers -- with reports and the plan counting it once."""

from __future__ import annotations

import pytest

from pytest_chatexp.testing import Fault, ReferenceServer
from tests._suite import Suite

SHARED = """
import pytest
from pytest_chatexp import ModelConfig

CONFIG = ModelConfig(name="c", model="ref-model",
                     chat_template=[{"role": "user", "content": "{{q}}"}])

pytestmark = pytest.mark.chatexp(model_configs=[CONFIG], inputs=[{"q": "one"}, {"q": "two"}],
                                 num_samples=2, share=True)

def test_outputs(chatexp):
    assert len(chatexp.samples) == 4

def test_cases(chatexp):
    assert [case.input.id for case in chatexp] == ["input-0", "input-1"]
"""

CALLS = 4  # 2 inputs x 2 samples


def test_recorded_once_and_used_by_two_tests(
    suite: Suite, recording_session: ReferenceServer
) -> None:
    run = suite.write(SHARED).run("--chatexp-record=once", report=True)
    run.assert_outcomes(passed=2).assert_clean()
    assert len(recording_session.requests) == CALLS
    assert sorted(run.recordings()) == ["__recordings__/test_x/test_x.shared.yaml"]
    recording = run.recordings()["__recordings__/test_x/test_x.shared.yaml"]
    assert recording["test"] == "test_x.py"
    assert len(recording["interactions"]) == CALLS
    # Each test has the experiment; the totals count it once.
    tests = run.tests()
    for name in ("test_x.py::test_outputs", "test_x.py::test_cases"):
        (experiment,) = tests[name]["experiments"]
        assert experiment["shared"] == "test_x.py"
        assert experiment["configs"][0]["live"] == CALLS
    totals = run.report["totals"]
    assert (totals["experiments"], totals["calls"], totals["live"]) == (1, CALLS, CALLS)
    run.fnmatch(
        "test_x.py::test_cases (shared experiment test_x.py: counted once)",
        "test_x.py::test_outputs (shared experiment test_x.py: counted once)",
        f"total: 1 experiment, {CALLS} calls (0 replayed, {CALLS} live)*",
    )

    # Offline, the shared recording answers both tests.
    recording_session.requests.clear()
    replayed = suite.run("--chatexp-record=none", report=True)
    replayed.assert_outcomes(passed=2).assert_clean()
    assert len(recording_session.requests) == 0
    totals = replayed.report["totals"]
    assert (totals["experiments"], totals["calls"], totals["replayed"]) == (1, CALLS, CALLS)


MANY = SHARED + "".join(
    f"""
def test_also_{n}(chatexp):
    assert len(chatexp.outputs) == 4
"""
    for n in range(4)
)


@pytest.mark.parametrize("mode", ["once", "new", "all"])
def test_two_workers_send_each_call_once(
    suite: Suite, recording_session: ReferenceServer, mode: str
) -> None:
    pytest.importorskip("xdist")
    recording_session.latency = 0.05  # the workers' runs overlap: the second waits, then replays
    run = suite.write(MANY).run("-p", "xdist", "-n", "2", f"--chatexp-record={mode}", report=True)
    run.assert_outcomes(passed=6)
    assert len(recording_session.requests) == CALLS
    assert sorted(run.recordings()) == ["__recordings__/test_x/test_x.shared.yaml"]
    totals = run.report["totals"]
    assert (totals["experiments"], totals["calls"], totals["live"]) == (1, CALLS, CALLS)
    assert all(test["experiments"][0]["shared"] == "test_x.py" for test in run.report["tests"])
    run.fnmatch(f"total: 1 experiment, {CALLS} calls (0 replayed, {CALLS} live)*")

    recording_session.requests.clear()
    replayed = suite.run("-p", "xdist", "-n", "2", "--chatexp-record=none", report=True)
    replayed.assert_outcomes(passed=6)
    assert len(recording_session.requests) == 0
    assert replayed.report["totals"]["replayed"] == CALLS


def test_the_plan_shows_the_sharing_and_counts_it_once(
    suite: Suite, recording_session: ReferenceServer
) -> None:
    run = suite.write(SHARED).run("--chatexp-plan", "--chatexp-record=once", "-rs")
    run.assert_outcomes(skipped=2)
    assert not recording_session.requests
    shared = "(shared experiment test_x.py, shared with 2 tests: counted once)"
    run.fnmatch(
        "*- chatexp plan (nothing was called) -*",
        f"test_x.py::test_cases: 4 calls, 0 replayed, 4 live {shared}",
        f"test_x.py::test_outputs: 4 calls, 0 replayed, 4 live {shared}",
        "plan: 4 calls, 0 replayed, 4 live; live calls estimated at *",
    )
    run.fnmatch("SKIPPED * chatexp plan: shared experiment test_x.py, shared with 2 tests, *")


CHANGED = (
    SHARED
    + """
@pytest.mark.chatexp(num_samples=3)
def test_more_samples(chatexp):
    assert len(chatexp.samples) == 6

@pytest.mark.chatexp(num_samples=2)
def test_same_samples(chatexp):
    assert len(chatexp.samples) == 4

@pytest.mark.chatexp(share=False)
def test_opted_out(chatexp):
    assert len(chatexp.samples) == 4
"""
)


def test_a_test_that_changes_the_declaration_runs_its_own_experiment(
    suite: Suite, recording_session: ReferenceServer
) -> None:
    run = suite.write(CHANGED).run("--chatexp-record=once", report=True)
    run.assert_outcomes(passed=5).assert_clean()
    # Shared: 4 calls for three tests (a marker repeating a value changes nothing); its own:
    # 6 for the test asking 3 samples, 4 for the one opting out.
    assert len(recording_session.requests) == CALLS + 6 + CALLS
    assert sorted(run.recordings()) == [
        "__recordings__/test_x/test_more_samples.yaml",
        "__recordings__/test_x/test_opted_out.yaml",
        "__recordings__/test_x/test_x.shared.yaml",
    ]
    tests = run.tests()
    assert tests["test_x.py::test_same_samples"]["experiments"][0]["shared"] == "test_x.py"
    assert "shared" not in tests["test_x.py::test_more_samples"]["experiments"][0]
    assert run.report["totals"]["experiments"] == 3


def test_a_fixture_that_changes_the_shared_experiment_is_a_clear_error(
    suite: Suite, recording_session: ReferenceServer
) -> None:
    source = (
        SHARED
        + """
class TestOther:
    @pytest.fixture
    def chatexp_config(self):
        return {"max_turns": 3}

    def test_differs(self, chatexp):
        pass
"""
    )
    run = suite.write(source).run("--chatexp-record=once")
    run.assert_outcomes(passed=2, errors=1).assert_clean()
    run.fnmatch(
        "*chatexp: test_x.py::TestOther::test_differs: this test's options (its chatexp_config "
        "fixture) make the shared experiment test_x.py different from the one "
        "test_x.py::test_outputs ran*share=False*"
    )
    assert len(recording_session.requests) == CALLS


def test_a_failed_shared_experiment_fails_each_test_naming_it(
    suite: Suite, recording_session: ReferenceServer
) -> None:
    recording_session.faults.add(Fault.status(400), times=None)
    try:
        run = suite.write(SHARED).run("--chatexp-record=once", report=True)
    finally:
        recording_session.faults.clear()
    run.assert_outcomes(errors=2).assert_clean()
    run.fnmatch(
        "chatexp: test_x.py::test_outputs: the shared experiment test_x.py (shared with 2 "
        "tests) failed: 4 of 4 provider calls failed:",
        "chatexp: test_x.py::test_cases: the shared experiment test_x.py (shared with 2 "
        "tests) failed when test_x.py::test_outputs ran it: 4 of 4 provider calls failed:",
        "total: 1 experiment (1 raised), 4 calls (0 replayed, 4 live (4 failed))*",
    )
    # A 400 is not retried: each call went out once, for both tests.
    assert len(recording_session.requests) == CALLS
    assert run.report["totals"]["live"] == CALLS


CLASSES = """
import pytest
from pytest_chatexp import ModelConfig

CONFIG = ModelConfig(name="c", model="ref-model",
                     chat_template=[{"role": "user", "content": "{{q}}"}])

@pytest.mark.chatexp(model_configs=[CONFIG], inputs=[{"q": "a"}], share=True)
class TestA:
    def test_one(self, chatexp):
        assert chatexp.outputs

    def test_two(self, chatexp):
        assert chatexp.outputs

@pytest.mark.chatexp(model_configs=[CONFIG], inputs=[{"q": "b"}], share=True)
class TestB:
    def test_one(self, chatexp):
        assert chatexp.outputs

    def test_two(self, chatexp):
        assert chatexp.outputs
"""


def test_each_class_shares_its_own_experiment_and_prune_keeps_them(
    suite: Suite, recording_session: ReferenceServer
) -> None:
    run = suite.write(CLASSES).run("--chatexp-record=once")
    run.assert_outcomes(passed=4)
    assert len(recording_session.requests) == 2
    assert sorted(run.recordings()) == [
        "__recordings__/test_x/TestA.shared.yaml",
        "__recordings__/test_x/TestB.shared.yaml",
    ]
    # A file of a test from before it shared is unused; the shared files are not.
    stale = suite.path / "__recordings__" / "test_x" / "TestA__test_one.yaml"
    stale.write_text((suite.path / "__recordings__/test_x/TestA.shared.yaml").read_text())
    pruned = suite.run("--chatexp-prune")
    pruned.assert_outcomes(passed=4)
    pruned.fnmatch(
        "chatexp: deleted recording file *TestA__test_one.yaml (its test no longer exists)"
    )
    assert sorted(suite.run().recordings()) == [
        "__recordings__/test_x/TestA.shared.yaml",
        "__recordings__/test_x/TestB.shared.yaml",
    ]


@pytest.mark.parametrize(
    ("marker", "message"),
    [
        ("@pytest.mark.chatexp(share=True)", "share=True goes on a module or class marker*"),
        ("@pytest.mark.chatexp(split='inputs')", "share=True and split= cannot be combined*"),
        ("@pytest.mark.chatexp(share='yes')", "*share*"),
    ],
)
def test_share_where_it_cannot_apply_is_a_collection_error(
    suite: Suite, recording_session: ReferenceServer, marker: str, message: str
) -> None:
    source = SHARED.replace("share=True", "share=False") if "share=True" in marker else SHARED
    source += f"""
{marker}
def test_bad(chatexp):
    pass
"""
    run = suite.write(source).run("--chatexp-record=once")
    run.assert_outcomes(errors=1)
    run.fnmatch(f"*test_x.py::test_bad*{message}")
    assert not recording_session.requests


def test_a_member_building_experiments_in_its_body_keeps_its_own_recording(
    suite: Suite, recording_session: ReferenceServer
) -> None:
    source = (
        SHARED
        + """
def test_and_its_own(chatexp, chatexp_runner):
    assert len(chatexp.samples) == 4
    assert chatexp_runner.run(num_samples=1).outputs
"""
    )
    run = suite.write(source).run("--chatexp-record=once")
    run.assert_outcomes(passed=3)
    assert len(recording_session.requests) == CALLS + 2
    expected = [
        "__recordings__/test_x/test_and_its_own.yaml",
        "__recordings__/test_x/test_x.shared.yaml",
    ]
    assert sorted(run.recordings()) == expected
    pruned = suite.run("--chatexp-prune")
    pruned.assert_outcomes(passed=3)
    pruned.no_fnmatch("*deleted recording*")
    assert sorted(pruned.recordings()) == expected
