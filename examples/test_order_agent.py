"""An order-support agent: tools the plugin runs, a scripted conversation, a simulated customer.

The agent has two tools over a small in-memory order store: ``lookup_order`` and
``issue_refund`` (async, as a call to a payments API would be). Given handlers, the plugin runs
the tools the model calls, sends their results back and calls the model again until it answers
without a tool call. Every turn is recorded on its own and replayed; the handlers run again on
replay, so a change to the store or to a handler shows as a changed request, not a stale answer.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest

from pytest_chatexp import Input, ModelConfig, SimulatedUser, Tool
from pytest_chatexp import checks as c

# --- the shop's side: the store and the tools ------------------------------------------------


@dataclass(frozen=True)
class Order:
    order_id: str
    item: str
    total: float
    status: str  # "processing", "shipped" or "delivered"
    date: str  # when it was delivered, or is expected


@dataclass(frozen=True)
class Refund:
    refund_id: str
    order_id: str
    amount: float
    status: str


# Read-only: samples run concurrently and replays run the handlers again, so every sample must
# find the same store (a refund that marked its order refunded would change the next sample).
ORDERS = {
    order.order_id: order
    for order in (
        Order("1042", "Trail running shoes", 59.90, "delivered", "2025-03-02"),
        Order("2210", "Camping stove", 84.50, "shipped", "2025-03-14"),
        Order("3307", "Rain jacket", 120.00, "processing", "2025-03-20"),
    )
}


def lookup_order(order_id: str) -> Order:
    order = ORDERS.get(order_id.lstrip("#"))
    if order is None:
        # The model reads this as the tool's error result: "Error: LookupError: ..."
        raise LookupError(f"no order #{order_id}")
    return order


async def issue_refund(order_id: str, amount: float, reason: str) -> Refund:
    order = lookup_order(order_id)
    if order.status != "delivered":
        raise ValueError(f"order #{order.order_id} is {order.status}, not delivered yet")
    if amount > order.total:
        raise ValueError(f"{amount:.2f} is more than the {order.total:.2f} paid")
    return Refund(f"R-{order.order_id}", order.order_id, amount, "pending")


TOOLS = [
    Tool(
        name="lookup_order",
        description="Look up an order by its number: item, total, status and delivery date.",
        parameters={
            "type": "object",
            "properties": {"order_id": {"type": "string", "pattern": "^[0-9]+$"}},
            "required": ["order_id"],
        },
        handler=lookup_order,
    ),
    Tool(
        name="issue_refund",
        description="Refund a delivered order, in full or in part.",
        parameters={
            "type": "object",
            "properties": {
                "order_id": {"type": "string", "pattern": "^[0-9]+$"},
                "amount": {"type": "number", "exclusiveMinimum": 0},
                "reason": {"type": "string"},
            },
            "required": ["order_id", "amount", "reason"],
        },
        handler=issue_refund,
    ),
]

AGENT = ModelConfig(
    name="order-agent",
    model="gpt-4o-mini",
    temperature=0.2,
    max_tokens=300,
    chat_template=[
        {
            "role": "system",
            "content": (
                "You are the order assistant for Northwind Outfitters.\n"
                "Always look an order up with lookup_order before answering about it. Refund "
                "only delivered orders, only when the customer asks, and never more than was "
                "paid. If you do not know the order number, ask for it."
            ),
        }
    ],
    tools=TOOLS,
)

# --- a tool loop: one message, the tools it takes, the answer ---------------------------------

# Each a conversation of one message: the template is the system prompt alone, so the
# conversations below can start from the customer's words too.
REQUESTS = [
    Input(id="refund", turns=["My order #1042 arrived damaged. I'd like a refund, please."]),
    Input(id="refund-too-early", turns=["Please refund order #2210, I changed my mind."]),
    Input(id="unknown-order", turns=["Where is my order #9999?"]),
]


@pytest.mark.chatexp(model_configs=AGENT, inputs=REQUESTS, num_samples=2)
def test_refund_tool_loop(chatexp, chatexp_snapshot):
    cases = chatexp.by_input

    # The delivered order: looked up, then refunded in full, and the answer says so.
    c.assert_samples(
        cases["refund"],
        c.called_in_order("lookup_order", "issue_refund"),
        c.called("issue_refund", {"order_id": "1042", "amount": 59.90, "reason": c.ANY}),
        c.tool_result("issue_refund", '"status": "pending"'),
        c.no_tool_errors(),
        c.final_answer(c.no_tool_calls(), c.contains("R-1042", "$59.90")),
        c.turn_count(max=3),
    )
    # Not delivered yet: no refund, and the customer hears when it arrives.
    c.assert_samples(
        cases["refund-too-early"],
        c.called_times("lookup_order", 1),
        c.not_called("issue_refund"),
        c.tool_result("lookup_order", '"status": "shipped"'),
        c.contains("2025-03-14"),
    )
    # An unknown order: the lookup fails, and the agent asks again instead of making one up.
    c.assert_samples(
        cases["unknown-order"],
        c.satisfies(
            lambda s: (
                [r.error for r in s.tool_results] == [True]
                and "LookupError: no order #9999" in s.tool_results[0].result
            ),
            name="lookup failed once",
        ),
        c.icontains("couldn't find", "order number"),
    )

    # The same run as Humanloop's ChatResponse: each tool result with its call id and signature.
    response = cases["refund"][0].to_chat_response()
    for data in response.data:
        assert [(r.name, r.signature) for r in data.tool_results] == [
            ("lookup_order", "lookup_order(order_id: string)"),
            ("issue_refund", "issue_refund(order_id: string, amount: number, reason: string)"),
        ]
        calls = [call.id for message in data.messages for call in message.tool_calls or ()]
        assert [r.id for r in data.tool_results] == calls
        assert json.loads(data.tool_results[1].result)["amount"] == 59.90

    # Each turn resends the conversation so far: a budget for the whole loop.
    c.assert_tokens(chatexp, total=400, per="sample")
    assert chatexp == chatexp_snapshot


# --- a scripted conversation: the user's turns are fixed, the agent's are the model's ---------


@pytest.mark.chatexp(
    model_configs=AGENT,
    inputs=[
        Input(
            id="status-then-refund",
            turns=[
                "Hi, where is my order?",
                "It's #1042.",
                "It arrived damaged though. Can I get a refund?",
            ],
        )
    ],
)
def test_scripted_conversation(chatexp):
    (sample,) = chatexp.samples
    assert [m.text for m in sample.transcript if m.role == "user"] == [
        "Hi, where is my order?",
        "It's #1042.",
        "It arrived damaged though. Can I get a refund?",
    ]
    c.assert_samples(
        chatexp,
        # One reply per user message; without an order number it asks instead of guessing.
        c.satisfies(lambda s: len(s.replies) == 3, name="three replies"),
        c.reply(0, c.no_tool_calls(), c.icontains("order number")),
        c.reply(1, c.called("lookup_order", {"order_id": "1042"}), c.contains("delivered")),
        c.reply(2, c.called_in_order("lookup_order", "issue_refund"), c.contains("R-1042")),
        # Over the whole conversation: the order looked up twice, refunded once.
        c.called_times("lookup_order", 2),
        c.called_times("issue_refund", 1),
        c.each_reply(c.not_contains("As an AI")),
    )


# --- a simulated customer: another model plays the user, towards a goal ----------------------


def customer(goal: str) -> SimulatedUser:
    """A customer played by a model, who keeps their order number until asked for it."""
    return SimulatedUser(
        config=ModelConfig(name="customer", model="gpt-4o-mini", temperature=0.7),
        goal=goal + " Give the order number only when asked.",
        max_messages=4,
    )


# One experiment per goal: the goal is written out, not a template of input variables
# ({{item}}), since variables only a goal uses are rejected as unused by any template.
@pytest.mark.chatexp(
    model_configs=AGENT,
    simulated_user=customer(
        "You are waiting for your Camping stove (order #2210) and want to know when it arrives."
    ),
)
def test_simulated_customer_asks_when(chatexp):
    # The customer opens, the agent asks for the number, the customer gives it, the agent
    # looks the order up and answers; then the customer is satisfied and stops.
    c.assert_samples(
        chatexp,
        c.satisfies(lambda s: s.turns[0].speaker == "user", name="the customer opens"),
        c.reply(0, c.no_tool_calls(), c.icontains("order number")),
        c.reply(1, c.called("lookup_order", {"order_id": "2210"}), c.contains("2025-03-14")),
        c.satisfies(lambda s: len(s.replies) == 2, name="two replies"),
        c.not_called("issue_refund"),
    )


@pytest.mark.chatexp(
    model_configs=AGENT,
    simulated_user=customer(
        "You are waiting for your Trail running shoes (order #1042) and want a refund, as "
        "they arrived damaged."
    ),
)
def test_simulated_customer_wants_a_refund(chatexp):
    c.assert_samples(
        chatexp,
        c.reply(0, c.no_tool_calls(), c.icontains("order number")),
        c.reply(1, c.called_in_order("lookup_order", "issue_refund"), c.contains("R-1042")),
        c.called(
            "issue_refund", {"order_id": "1042", "amount": 59.90, "reason": "arrived damaged"}
        ),
        c.no_tool_errors(),
    )
    # What the customer said, turn by turn: the order number only once asked, then the stop.
    (sample,) = chatexp.samples
    said = [turn.output for turn in sample.turns if turn.speaker == "user"]
    assert len(said) == 3
    assert "#1042" not in said[0] and "#1042" in said[1]
    assert said[2] == "GOAL_COMPLETE"
