"""The example suites as a reviewer meets them: replay offline, then a prompt edit and its diff.

Each run is a fresh interpreter: this session may have imported the examples' own modules.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).parents[2] / "examples"


@pytest.fixture
def examples(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("PYTEST_ADDOPTS", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    # Under xdist this process is a worker; the inner run must not think it is one too.
    for name in ("PYTEST_XDIST_WORKER", "PYTEST_XDIST_WORKER_COUNT", "PYTEST_XDIST_TESTRUNUID"):
        monkeypatch.delenv(name, raising=False)
    target = pytester.path / "examples"
    shutil.copytree(EXAMPLES, target, ignore=shutil.ignore_patterns("__pycache__"))
    return target


def test_examples_replay_offline(pytester: pytest.Pytester, examples: Path) -> None:
    # -v: the summary lists every experiment (it shows 20 without).
    result = pytester.runpytest_subprocess("-m", "chatexp", "examples", "-v")
    result.assert_outcomes(passed=26)
    result.stdout.fnmatch_lines(
        [
            # Imported from examples/promptfoo/promptfooconfig.yaml: one item per promptfoo
            # test, its llm-rubric graded by a recorded judge.
            "examples/promptfoo/test_promptfoo.py::test_promptfoo[[]sunday-opening-hours[]]",
            "  judge:grader *2 *2 replayed",
            "  one-sentence x haiku *1 *100% *1 replayed",
            # The keyword classifier misreads two of twelve reviews: 83% over the dataset.
            "  sentiment-v1 *12 *83% *12 replayed",
            "  sentiment-tool *12 *83% *12 replayed",
            # JSON mode writes one invoice's total as text: the pass rate the comparison saw.
            "  invoice-json-mode *6 *67% *6 replayed",
            "  invoice-json-schema *6 *100% *6 replayed",
            # SmolLM2, recorded from llama.cpp's server on 127.0.0.1:8000 and replayed with
            # nothing listening there: the wrong order numbers (and, warm, one call whose
            # arguments are not valid JSON) are the pass rates its checks saw.
            "  smollm2-tool *6 *67% *372 *6 replayed",
            "  smollm2-tool-warm *6 *33% *410 *6 replayed",
            # Streamed: llama.cpp's events carry no token usage, so it is unknown, not 0.
            "  smollm2-reply-stream *6 *100% *unknown *6 replayed",
            # Reasoning models side by side: each provider's reasoning replayed with its answers.
            "  gpt-5-mini *6 *100% *168 *6 replayed",
            "  claude-sonnet-4 *6 *100% *126 *6 replayed",
            "  gemini-2.5-flash *6 *100% *196 *6 replayed",
            # Summaries compared with references by embeddings (test_semantic_summaries.py):
            # a local embeddings model has no price, so the cost is unknown, not $0.
            "  embedding:nomic-embed *2 *-* *cost unknown *2 replayed",
            # Reworded answers judged by meaning (test_support_answers.py): each sample passes,
            # "five business days" by 2 of 3 votes once its first vote failed (confirm_on_fail:
            # two more grading calls), and the semantic snapshot's embeddings.
            "  help-centre *6 *100% *6 replayed",
            "  judge:grader *3 *-* *3 replayed",
            "  judge:grader *2 *-* *2 replayed",
            "  embedding:embedder *3 *-* *3 replayed",
            # The helpdesk app runs every time (its code is under test) while the model calls
            # it makes replay, so its samples count as replayed; the examples' base URLs point
            # at a closed port, so a call that went out would fail its test.
            "  summarise-ticket *6 *100% *6 replayed",
            "total: 38 experiments, 207 calls (207 replayed, 0 live)*",
            "10 snapshots passed.",
        ]
    )


def test_a_prompt_edit_fails_then_shows_a_reviewable_snapshot_diff(
    pytester: pytest.Pytester, examples: Path
) -> None:
    prompts = examples / "prompts" / "support.yaml"
    prompts.write_text(
        prompts.read_text().replace("Never invent order numbers.", "Never guess order numbers.")
    )

    gate = pytester.runpytest_subprocess("-m", "chatexp", "examples")
    gate.assert_outcomes(passed=25, errors=1)
    gate.stdout.fnmatch_lines(
        [
            "chatexp: examples/test_support_agent.py::test_support_agent: 12 of 12 calls have no matching recording*",
            "*messages[[]0[]].content changed:*",
            "*-*customer asks for a refund. Never invent order numbers.",
            "*+*customer asks for a refund. Never guess order numbers.",
            "To record, run: pytest --chatexp-record=new 'examples/test_support_agent.py::test_support_agent'",
        ]
    )

    rerecorded = pytester.runpytest_subprocess(
        "-m", "chatexp", "examples", "--chatexp-record=new", "-vv"
    )
    rerecorded.assert_outcomes(passed=25, failed=1)
    rerecorded.stdout.fnmatch_lines(
        [
            "*@@ model config 'support-v1' @@*",
            "*-   customer asks for a refund. Never invent order numbers.*",
            "*+   customer asks for a refund. Never guess order numbers.*",
            "*@@ model config 'support-v1-warm' @@*",
        ]
    )
    accepted = pytester.runpytest_subprocess("-m", "chatexp", "examples", "--snapshot-update")
    accepted.assert_outcomes(passed=26)
    snapshot = (
        examples / "__snapshots__" / "test_support_agent" / "test_support_agent[experiment].chatexp"
    )
    assert "Never guess order numbers." in snapshot.read_text()
    pytester.runpytest_subprocess("-m", "chatexp", "examples").assert_outcomes(passed=26)


def test_an_ab_template_edit_shows_what_each_question_now_gets(
    pytester: pytest.Pytester, examples: Path
) -> None:
    """The Humanloop-style A/B: edit one of the two templates, and the reviewer sees, case by
    case, the template's change and the answers it changed; the other template's stay put."""
    module = examples / "test_prompt_ab.py"
    module.write_text(
        module.read_text().replace("You are a friendly tutor.", "You are a cheerful tutor.")
    )
    ab = ("-m", "chatexp", "examples/test_prompt_ab.py")

    # The tests that use the edited template miss their recordings; the rest still replay.
    gate = pytester.runpytest_subprocess(*ab)
    gate.assert_outcomes(passed=3, errors=3)
    gate.stdout.fnmatch_lines(
        [
            "chatexp: examples/test_prompt_ab.py::test_both_templates_answer_every_question: 6 of 12 calls have no matching recording*",
            '  messages[[]0[]].content: "You are a friendly tutor. Answer warmly, in one sentence." -> "You are a cheerful tutor. Answer warmly, in one sentence."',
        ]
    )

    rerecorded = pytester.runpytest_subprocess(*ab, "--chatexp-record=new", "-vv")
    rerecorded.assert_outcomes(passed=5, failed=1)
    rerecorded.stdout.fnmatch_lines(
        [
            "*@@ model config 'friendly' @@",
            "*-   You are a friendly tutor. Answer warmly, in one sentence.",
            "*+   You are a cheerful tutor. Answer warmly, in one sentence.",
            "*@@ model config 'friendly', input 'photosynthesis', sample 0 @@",
            "*-   [[]system: You are a friendly tutor. Answer warmly,[]] echo: What is photosynthesis?",
            "*+   [[]system: You are a cheerful tutor. Answer warmly,[]] echo: What is photosynthesis?",
            "*@@ model config 'friendly', input 'tides', sample 0 @@",
            "*-   [[]system: You are a friendly tutor. Answer warmly,[]] echo: Why are there tides?",
            "*+   [[]system: You are a cheerful tutor. Answer warmly,[]] echo: Why are there tides?",
            # Only the changed calls were made: the concise template's answers replayed.
            "total: 6 experiments, 18 calls (10 replayed, 8 live)*",
        ]
    )
    assert "@@ model config 'concise'" not in rerecorded.stdout.str()

    accepted = pytester.runpytest_subprocess(*ab, "--snapshot-update")
    accepted.assert_outcomes(passed=6)
    snapshot = (
        examples
        / "__snapshots__"
        / "test_prompt_ab"
        / "test_both_templates_answer_every_question[experiment].chatexp"
    )
    reviewed = snapshot.read_text()
    assert "You are a friendly tutor." not in reviewed
    assert reviewed.count("[system: You are a cheerful tutor.") == 6  # 2 questions x 3 samples
    pytester.runpytest_subprocess(*ab).assert_outcomes(passed=6)


def test_the_local_model_s_broken_tool_arguments_are_caught(
    pytester: pytest.Pytester, examples: Path
) -> None:
    """SmolLM2's recording (examples/test_local_model.py) holds a tool call cut off mid-string
    by max_tokens: at the realistic bar it passes; asking for every sample, the check names it."""
    module = examples / "test_local_model.py"
    realistic = "c.assert_samples(chatexp, c.valid_tool_arguments(), min_pass_rate=0.5)"
    text = module.read_text()
    assert text.count(realistic) == 1
    module.write_text(text.replace(realistic, realistic.replace("0.5", "1.0")))

    result = pytester.runpytest_subprocess("-m", "chatexp", "examples/test_local_model.py")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "E * 1 of 6 cases fail [[]valid_tool_arguments()[]] (required: every sample)",
            "E * smollm2-tool-warm/damaged  1/2 passed (50%)",
            "E * sample 1: valid_tool_arguments(): lookup_order(*): arguments are invalid JSON*",
        ]
    )


def test_the_classifier_s_misreadings_are_named_at_a_higher_bar(
    pytester: pytest.Pytester, examples: Path
) -> None:
    """examples/test_classifier.py replays a keyword classifier that gets two of twelve labelled
    reviews wrong: 83% clears its 80% bar; at 90% the table names the two reviews."""
    module = examples / "test_classifier.py"
    text = module.read_text()
    assert text.count("min_pass_rate=0.8") == 2
    module.write_text(text.replace("min_pass_rate=0.8", "min_pass_rate=0.9"))

    result = pytester.runpytest_subprocess("-m", "chatexp", "examples/test_classifier.py")
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(
        [
            "E * 1 of 1 configs fail [[]expected('label', ignore_case=True)[]] (required: a pass "
            "rate of at least 90% over each config's samples)",
            "E * sentiment-v1  10/12   83%   90%  FAIL",
            "E * sentiment-v1/not-bad-at-all sample 0: expected('label', ignore_case=True): "
            "is 'Negative', not 'positive'",
            "E * sentiment-v1/worried-it-would-break sample 0: *",
            "E * 1 of 1 configs fail [[]called('classify'), expected('label', tool='classify', "
            "argument='sentiment')[]]*",
            "E * sentiment-tool/not-bad-at-all sample 0: expected('label', tool='classify', "
            "argument='sentiment'): is 'negative', not 'positive'",
            'E *   output: classify({"sentiment":"negative"})',
        ]
    )


def test_the_support_answers_pass_by_the_judge_s_votes_not_its_first_one(
    pytester: pytest.Pytester, examples: Path
) -> None:
    """examples/test_support_answers.py's grader fails "five business days" on its first vote;
    the confirming votes pass it. Asked once (votes=1), the same recorded first vote fails it."""
    module = examples / "test_support_answers.py"
    voting = "grader=GRADER, votes=3, confirm_on_fail=True"
    text = module.read_text()
    assert text.count(voting) == 1
    module.write_text(text.replace(voting, "grader=GRADER, votes=1"))

    result = pytester.runpytest_subprocess("-m", "chatexp", "examples/test_support_answers.py")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "E * help-centre/refund-time  2/3 passed (67%)",
            "E * judge('Says how many days it takes, as a number'): *It gives no number of days*",
        ]
    )
