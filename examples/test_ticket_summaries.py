"""Your own code as the target: a helpdesk's ticket summariser, with its HTTP calls recorded.

``helpdesk.summarise_ticket`` is application code: it calls an OpenAI-compatible API over httpx
and cleans the answer into one line for the queue view. The experiment runs it for every ticket
and sample -- on replay too, so its own code is what is tested -- while the HTTP requests it
makes are recorded and replayed like any model call.
"""

import re

import pytest
from helpdesk import summarise_ticket
from helpdesk.summaries import MAX_SUMMARY_CHARS

from pytest_chatexp import AppCall, ModelConfig, Sample
from pytest_chatexp import checks as c


def summarise(call: AppCall) -> str:
    # The adapter from an experiment's case to the app: the ticket is the case's input, and the
    # transport pytest-chatexp hands out records (or replays) the app's HTTP calls.
    return summarise_ticket(call.inputs["ticket"], transport=call.transport())


SUMMARISER = ModelConfig.for_app(
    summarise,
    name="summarise-ticket",
    # An experiment sends messages: here the ticket, as the user's. It is what reports show.
    chat_template=[{"role": "user", "content": "{{ticket}}"}],
)


def keeps_order_numbers(sample: Sample) -> str | None:
    """Agents search the queue by order number: every one in the ticket must survive."""
    orders = re.findall(r"#\d+", sample.input.inputs["ticket"])
    missing = [order for order in orders if order not in sample.output]
    return f"drops {', '.join(missing)}" if missing else None


@pytest.mark.chatexp(model_configs=[SUMMARISER], inputs="data/tickets.jsonl", num_samples=2)
def test_ticket_summaries(chatexp, chatexp_snapshot):
    c.assert_samples(
        chatexp,
        # The app's own promises: one line that fits the queue, without the model's label.
        c.length(min=10, max=MAX_SUMMARY_CHARS),
        c.not_contains("\n"),
        c.not_contains("summary:", ignore_case=True),
        # What the summary must say: the order numbers.
        c.satisfies(keeps_order_numbers, name="keeps order numbers"),
    )
    c.assert_samples(chatexp.by_input["charged-twice"], c.icontains("refund"))

    # The summaries, per ticket and sample, for review in the PR.
    assert chatexp == chatexp_snapshot
