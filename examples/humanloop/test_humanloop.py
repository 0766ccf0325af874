"""Imported from Humanloop by `python -m pytest_chatexp.migrate humanloop`.

Each model config or prompt version is a config of prompts.yaml (2); each datapoint a row of
dataset.jsonl (3) and a pytest item of its own (split="inputs"); a target's output is checked
with c.expected("expected"). Recordings seeded from the logs replay offline; record the rest
with:

    pytest test_humanloop.py --chatexp-record=new

TODO, not carried over (also marked where it belongs below):
- evaluators.json: [0]: python evaluator 'exact-match': finish check_exact_match() and add
  c.satisfies(check_exact_match) to DEFAULT_CHECKS
"""

import pytest

from pytest_chatexp import checks as c

pytestmark = pytest.mark.chatexp(
    model_configs="prompts.yaml",
    inputs="dataset.jsonl",
    split="inputs",
)


# TODO: port the Humanloop python evaluator 'exact-match' (evaluators.json: [0]).
# Its code, as exported:
#   def exact_match(log, testcase):
#       return log["output"].strip().lower() == testcase["target"]["output"]
def check_exact_match(sample):
    raise NotImplementedError("TODO: port python evaluator 'exact-match'")


# Checked on every row: add your ported evaluators here.
DEFAULT_CHECKS: list[c.SampleCheck] = []

# Checked on one row each, by the row's id in the dataset.
CHECKS: dict[str, list[c.SampleCheck]] = {
    "i-was-charged-twice-for-my-last-order": [
        c.expected("expected"),  # target
    ],
    "my-parcel-has-been-stuck-in-leipzig-for": [
        c.expected("expected"),  # target
    ],
    "the-jacket-is-too-small-how-do-i-send-it": [
        c.expected("expected"),  # target
    ],
}


def test_humanloop(chatexp):
    (input_id,) = {case.input.id for case in chatexp.cases}
    checks = [*DEFAULT_CHECKS, *CHECKS[input_id]]
    if checks:
        c.assert_samples(chatexp, *checks)
