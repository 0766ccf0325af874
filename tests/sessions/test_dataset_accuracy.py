"""A classifier's accuracy over a labelled dataset, as a user checks it: ``expected("label")``
against each row's metadata, and ``assert_pass_rate`` pooling each config's samples over the
dataset, with and without an interval, in one process and under ``-n 2``.

The reference server plays two sentiment classifiers: ``v1`` gets one review of ten wrong,
``v2`` three.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from pytest_chatexp.testing import ReferenceServer
from tests._suite import Run, Suite

LABELS = {
    "Love it, works perfectly.": "positive",
    "Arrived broken and support never answered.": "negative",
    "It is a kettle. It boils water.": "neutral",
    "Great, another charger that died in a week.": "negative",  # sarcasm
    "Best purchase this year!": "positive",
    "Too loud, returned it.": "negative",
    "Does what the box says.": "neutral",
    "My kids adore it.": "positive",
    "Not bad, not great.": "neutral",
    "Stopped working after the update.": "negative",
}
# What each classifier answers wrongly: v1 falls for the sarcasm, v2 for that and more.
WRONG = {
    "v1": {"Great, another charger that died in a week.": "positive"},
    "v2": {
        "Great, another charger that died in a week.": "positive",
        "Not bad, not great.": "negative",
        "Does what the box says.": "positive",
    },
}
DATASET = "\n".join(
    json.dumps({"id": f"review-{n}", "inputs": {"review": text}, "metadata": {"label": label}})
    for n, (text, label) in enumerate(LABELS.items())
)

MODULE = """
import pytest
from pytest_chatexp import ModelConfig
from pytest_chatexp import checks as c

V1 = ModelConfig(
    name="v1",
    model="ref-model",
    temperature=0,
    chat_template=[
        {"role": "system", "content": "Classify the review's sentiment (v1): positive, negative or neutral."},
        {"role": "user", "content": "{{review}}"},
    ],
)
V2 = V1.variant(
    name="v2",
    chat_template=[
        {"role": "system", "content": "Classify the review's sentiment (v2), one word."},
        {"role": "user", "content": "{{review}}"},
    ],
)

pytestmark = pytest.mark.chatexp(model_configs=[V1, V2], inputs="reviews.jsonl")


def test_meets_its_bar(chatexp):
    v1, v2 = c.assert_pass_rate(chatexp, c.expected("label"), min_pass_rate=0.7)
    assert (v1.name, v1.passed, v1.total) == ("v1", 9, 10)
    assert (v2.name, v2.passed, v2.total) == ("v2", 7, 10)


def test_misses_a_higher_bar(chatexp):
    c.assert_pass_rate(chatexp, c.expected("label"), min_pass_rate=0.8)


def test_ten_rows_cannot_show_it_at_95_percent(chatexp):
    c.assert_pass_rate(chatexp, c.expected("label"), min_pass_rate=0.7, confidence=0.95)


def test_the_experiment_as_a_whole(chatexp):
    [pool] = c.assert_pass_rate(chatexp, c.expected("label"), min_pass_rate=0.8, per="experiment")
    assert (pool.passed, pool.total) == (16, 20)
"""

UNLABELLED = """
import pytest
from pytest_chatexp import ModelConfig
from pytest_chatexp import checks as c

V1 = ModelConfig(
    name="v1",
    model="ref-model",
    chat_template=[
        {"role": "system", "content": "Classify the review's sentiment (v1): positive, negative or neutral."},
        {"role": "user", "content": "{{review}}"},
    ],
)


@pytest.mark.chatexp(model_configs=[V1], inputs="unlabelled.jsonl")
def test_unlabelled_row(chatexp):
    c.assert_pass_rate(chatexp, c.expected("label"), min_pass_rate=0.9)
"""

# The failures every run must show, whatever process ran the tests.
FAILURES = (
    "*1 of 2 configs fail [[]expected('label')[]] (required: a pass rate of at least 80% over "
    "each config's samples)",
    "*  config  passed  rate  bar  verdict",
    "*  v1      9/10    90%   80%  pass",
    "*  v2      7/10    70%   80%  FAIL",
    "*    v2/review-3 sample 0: expected('label'): is 'positive', not 'negative'",
    "*      output: 'positive'",
    "*    v2/review-6 sample 0: expected('label'): is 'positive', not 'neutral'",
    "*    v2/review-8 sample 0: expected('label'): is 'negative', not 'neutral'",
)
INCONCLUSIVE = (
    "*2 of 2 configs fail [[]expected('label')[]] (required: a pass rate of at least 70% over "
    "each config's samples, at 95% confidence)",
    "*  config  passed  rate  interval (95%)  bar  verdict",
    "*  v1      9/10    90%   [[]60%, 98%[]]      70%  INCONCLUSIVE",
    "*  v2      7/10    70%   [[]40%, 89%[]]      70%  INCONCLUSIVE",
    "*INCONCLUSIVE: the bar lies inside the interval, so these samples cannot tell whether the "
    "pass rate reaches it; add inputs or samples, or lower the confidence",
)


def _classifier(request: dict[str, Any]) -> str:
    system = request["messages"][0]["content"]
    review = request["messages"][-1]["content"]
    version = "v1" if "(v1)" in system else "v2"
    return WRONG[version].get(review, LABELS[review])


@pytest.fixture
def classifier(server: ReferenceServer) -> ReferenceServer:
    server.add_rule(_classifier, when=lambda request: "Classify" in str(request["messages"][0]))
    return server


def _check(run: Run) -> None:
    run.assert_outcomes(passed=2, failed=2).assert_clean()
    run.fnmatch(*FAILURES).fnmatch(*INCONCLUSIVE)
    rows = {
        (test.rsplit("::", 1)[1], row["name"]): (row["passed"], row["checked"])
        for test, entry in run.tests().items()
        for experiment in entry["experiments"]
        for row in experiment["configs"]
    }
    # Each sample's outcome reached the report: its pass rate per config, per test.
    for test in ("test_meets_its_bar", "test_misses_a_higher_bar"):
        assert rows[(test, "v1")] == (9, 10) and rows[(test, "v2")] == (7, 10)


def test_accuracy_over_a_labelled_dataset(suite: Suite, classifier: ReferenceServer) -> None:
    suite.write(MODULE, name="test_reviews.py", **{"reviews.jsonl": DATASET})
    _check(suite.run(report=True))
    assert len(classifier.requests) == 4 * 2 * 10  # 4 tests x 2 configs x 10 reviews


def test_the_same_under_xdist(suite: Suite, classifier: ReferenceServer) -> None:
    suite.write(MODULE, name="test_reviews.py", **{"reviews.jsonl": DATASET})
    _check(suite.run("-p", "xdist", "-n", "2", report=True))


def test_a_row_without_the_label_is_named(suite: Suite, classifier: ReferenceServer) -> None:
    rows = DATASET.splitlines()
    rows[4] = json.dumps({"id": "no-label", "inputs": {"review": "Best purchase this year!"}})
    suite.write(UNLABELLED, name="test_unlabelled.py", **{"unlabelled.jsonl": "\n".join(rows)})
    run = suite.run()
    run.assert_outcomes(failed=1).assert_clean()
    run.fnmatch(
        "*  v1      8/10    80%   90%  FAIL",
        "*    v1/review-3 sample 0: expected('label'): is 'positive', not 'negative'",
        "*    v1/no-label sample 0: expected('label'): input 'no-label' has no field 'label' "
        "(in its metadata or its inputs)",
    )
