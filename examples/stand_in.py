"""The stand-in model the examples' recordings were made with (used only when recording).

pytest-chatexp's reference server answers deterministically: by default it echoes the user. The
rules here make it play the models the examples need, from the text of each request, so that
the recorded answers read like a model's and the examples' checks have something to check:

- a support agent that calls ``lookup_order`` or ``issue_refund`` with the order number;
- an invoice extractor that reads the fields out of the invoice text. Like real models in JSON
  mode (``response_format: json_object``, no schema), it copies an amount written with a
  thousands separator as text (``"1,330.00"``) instead of a number; given a JSON schema it
  writes numbers, as structured outputs would;
- a ticket summariser that answers ``Summary: ...`` on two lines, the way models often do,
  which the helpdesk app must clean into one line;
- an order agent working a tool loop: it reads the tool results sent since the customer's last
  message to choose its next step (look the order up, refund it, or answer quoting them);
- a customer, for simulated-user conversations, who opens with their goal and gives their
  order number when asked;
- a grader for ``judge`` checks, which passes any answer that says something (the promptfoo
  import's ``llm-rubric``);
- a sentiment classifier that goes by keywords, answering ``Positive``, ``Negative`` or
  ``Neutral`` (or calling ``classify`` when given that tool), so it misreads reviews whose
  words point the other way ("not bad at all");
- a reasoning model solving short puzzles, answering ``Answer: ...`` (the wire formats add its
  reasoning: a Responses summary, Anthropic thinking, Gemini thoughts);
- a help-centre assistant that rewords its answer from one sample to the next, as a model at a
  temperature above 0 does, and a grader of its answers that votes FAIL on a number written in
  words the first time it is asked, and PASS when asked again (a noisy judge, for ``votes``).
  Samples and votes are identical requests: the Nth copy of a request gets the Nth wording or
  vote, so a recording run gets every wording once, whatever order the calls arrive in.

To record from a real provider instead, see conftest.py.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from collections import Counter
from datetime import datetime
from typing import Any

from pytest_chatexp.testing import ReferenceServer, Reply, ToolCallReply

Request = dict[str, Any]


def install(server: ReferenceServer) -> None:
    """Register the rules; a request no rule claims gets the server's default echo."""
    # First: a simulated user's goal may mention anything the rules below look for.
    server.add_rule(_customer, when=lambda request: _system(request).startswith(_ROLE_PLAY))
    server.add_rule(_order_agent, when=lambda request: "order assistant" in _system(request))
    server.add_rule(_support_agent, when=lambda request: "support agent" in _system(request))
    server.add_rule(
        _invoice_extractor, when=lambda request: "Extract the invoice" in _system(request)
    )
    server.add_rule(_ticket_summariser, when=lambda request: "summarise" in _system(request))
    server.add_rule(_sentiment, when=lambda request: "sentiment" in _system(request))
    server.add_rule(_puzzle_solver, when=lambda request: "Solve the puzzle" in _system(request))
    server.add_rule(_help_centre, when=lambda request: _HELP_CENTRE in _system(request))
    server.add_rule(
        _days_grader,
        when=lambda request: (
            _system(request).startswith(_GRADER) and _DAYS_RUBRIC in _last_user_text(request)
        ),
    )
    server.add_rule(_grader, when=lambda request: _system(request).startswith(_GRADER))


def _system(request: Request) -> str:
    first = request["messages"][0]
    return str(first["content"]) if first["role"] == "system" else ""


def _last_user_text(request: Request) -> str:
    user = [m for m in request["messages"] if m["role"] == "user"]
    return _text(user[-1]) if user else ""


def _text(message: dict[str, Any]) -> str:
    content = message.get("content") or ""
    return content if isinstance(content, str) else " ".join(p.get("text", "") for p in content)


# --- the support agent ------------------------------------------------------------------


def _support_agent(request: Request) -> Reply:
    text = _last_user_text(request)
    order = re.search(r"#(\d+)", text)
    if order and "refund" in text.lower():
        return Reply(
            tool_calls=[
                ToolCallReply(
                    "issue_refund", {"order_id": order.group(1), "reason": "customer request"}
                )
            ]
        )
    if order:
        return Reply(tool_calls=[ToolCallReply("lookup_order", {"order_id": order.group(1)})])
    return Reply(text="Could you share your order number (it starts with #)?")


# --- the invoice extractor --------------------------------------------------------------

# An amount after its currency: "$40.00", "£3.50", "EUR 1,330.00".
_MONEY = r"(?:[$€£]\s?|[A-Z]{3}\s)(?P<amount>[\d,]+\.\d{2})"
_CURRENCIES = {"$": "USD", "€": "EUR", "£": "GBP"}
_DATES = (
    (r"\d{4}-\d{2}-\d{2}", "%Y-%m-%d"),  # 2025-03-31
    (r"\d{1,2} [A-Z][a-z]+ \d{4}", "%d %B %Y"),  # 14 February 2025
    (r"[A-Z][a-z]+ \d{1,2}, \d{4}", "%B %d, %Y"),  # March 3, 2025
)
_LINE_ITEMS = (
    # "2 x Standard VM (monthly) @ $40.00", "12 x Sourdough loaf at £3.50 each"
    re.compile(rf"(?P<qty>\d+) x (?P<what>.+?) (?:@|at) {_MONEY}"),
    # A table row: "Logo redesign        1   EUR 950.00"
    re.compile(rf"^ *(?P<what>\S.*?) {{2,}}(?P<qty>\d+) +{_MONEY} *$", re.MULTILINE),
)


def _invoice_extractor(request: Request) -> Reply:
    text = _last_user_text(request)
    with_schema = (request.get("response_format") or {}).get("type") == "json_schema"

    def amount(written: str) -> float | str:
        # Without a schema, a formatted amount is copied as written: the slip JSON mode allows.
        return float(written.replace(",", "")) if with_schema or "," not in written else written

    number = re.search(r"invoice\s*(?:number:?|no\.|#)\s*([A-Z0-9-]+)", text, re.IGNORECASE)
    sender = re.search(r"^From: (.+?) <", text, re.MULTILINE)
    total = re.search(rf"(?:total|amount)(?: due)?:? {_MONEY}", text, re.IGNORECASE)
    code = re.search(r"\b(USD|EUR|GBP)\b", text)
    symbol = re.search(r"[$€£]", text)
    invoice = {
        "invoice_number": number.group(1) if number else "",
        # The sender, or else the letterhead: the first line, up to its address.
        "vendor": sender.group(1) if sender else text.strip().splitlines()[0].split(" · ")[0],
        "issue_date": _iso_date(text),
        "currency": code.group(1)
        if code
        else _CURRENCIES.get(symbol.group(0) if symbol else "", ""),
        "line_items": [
            {
                "description": item["what"].strip(),
                "quantity": int(item["qty"]),
                "unit_price": amount(item["amount"]),
            }
            for pattern in _LINE_ITEMS
            for item in pattern.finditer(text)
        ],
        "total": amount(total["amount"]) if total else None,
    }
    return Reply(text=json.dumps(invoice, indent=2, ensure_ascii=False))


def _iso_date(text: str) -> str | None:
    for pattern, form in _DATES:
        found = re.search(pattern, text)
        if found:
            return datetime.strptime(found.group(0), form).date().isoformat()
    return None


# --- the ticket summariser --------------------------------------------------------------


def _ticket_summariser(request: Request) -> Reply:
    text = _last_user_text(request)
    subject = re.search(r"^Subject: (.+)$", text, re.MULTILINE)
    orders = re.findall(r"#\d+", text)
    headline = subject.group(1) if subject else text.strip().splitlines()[0]
    if orders:
        headline += f" (order {', '.join(orders)})"
    lowered = text.lower()
    wants = next(
        (f"Customer wants a {what}." for what in ("refund", "replacement") if what in lowered),
        "Customer needs help.",
    )
    return Reply(text=f"Summary: {headline}.\n{wants}")


# --- the order agent --------------------------------------------------------------------


def _order_agent(request: Request) -> Reply:
    messages = request["messages"]
    said = [_text(m) for m in messages if m["role"] == "user"]
    last_user = max(i for i, m in enumerate(messages) if m["role"] == "user")
    results = _tool_results(messages[last_user + 1 :])
    orders = re.findall(r"#(\d+)", " ".join(said))
    wants_refund = any("refund" in text.lower() for text in said)
    if not results:  # a new message from the customer: check the order first
        if not orders:
            return Reply(text="Happy to help! What's your order number? It starts with #.")
        return Reply(tool_calls=[ToolCallReply("lookup_order", {"order_id": orders[-1]})])
    tool, result = results[-1]
    if result.startswith("Error:"):
        wanted = f"order #{orders[-1]}" if orders else "that order"
        return Reply(
            text=f"Sorry, I couldn't find {wanted} ({result.removeprefix('Error: ')}). "
            "Could you check the order number on your confirmation email?"
        )
    found = json.loads(result)
    if tool == "issue_refund":
        return Reply(
            text=f"Done: I've refunded ${found['amount']:.2f} for order #{found['order_id']} "
            f"(refund {found['refund_id']}, {found['status']}). It should reach your card "
            "within 5 business days."
        )
    order = f"Order #{found['order_id']} ({found['item']}, ${found['total']:.2f})"
    if wants_refund and found["status"] == "delivered":
        damaged = any("damaged" in text.lower() for text in said)
        refund = {
            "order_id": found["order_id"],
            "amount": found["total"],
            "reason": "arrived damaged" if damaged else "customer request",
        }
        return Reply(tool_calls=[ToolCallReply("issue_refund", refund)])
    if found["status"] == "delivered":
        return Reply(text=f"{order} was delivered on {found['date']}.")
    status = f"{order} is {found['status']} and should arrive on {found['date']}."
    if wants_refund:
        return Reply(
            text=f"{status} I can only refund it once it has been delivered: if you still "
            "want to return it then, just ask."
        )
    return Reply(text=status)


def _tool_results(messages: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """(tool name, result text) of the ``tool`` messages, named from the calls they answer."""
    names = {
        call["id"]: call["function"]["name"]
        for message in messages
        for call in message.get("tool_calls") or ()
    }
    return [
        (names.get(m.get("tool_call_id", ""), ""), _text(m))
        for m in messages
        if m["role"] == "tool"
    ]


# --- the simulated customer -------------------------------------------------------------

# How pytest-chatexp's SimulatedUser prompt starts; its goal follows "Your goal: ".
_ROLE_PLAY = "You are role-playing a user"


def _customer(request: Request) -> Reply:
    system = _system(request)
    goal = system.split("Your goal: ", 1)[-1].split("\n", 1)[0]
    stop = re.search(r"reply with exactly (\S+?)\.?$", system)
    done = Reply(text=stop.group(1) if stop else "Thanks, bye.")
    wanted = re.search(r"waiting for your (?P<item>.+?) \(order #(?P<order>\d+)\)", goal)
    mine = [m for m in request["messages"] if m["role"] == "assistant"]  # roles are swapped
    agent = _last_user_text(request)
    if wanted is None:
        return done
    if not mine:  # the opening message: the goal, in the customer's words
        if "refund" in goal:
            return Reply(text=f"Hi, my {wanted['item']} arrived damaged. I'd like a refund.")
        return Reply(text=f"Hi, I'm still waiting for my {wanted['item']}. When will it arrive?")
    if "order number" in agent.lower():
        return Reply(text=f"Sure, it's #{wanted['order']}.")
    return done  # answered: the goal is met


# --- the sentiment classifier -----------------------------------------------------------

_NEGATIVE = ("bad", "break", "broken", "died", "loud", "refund", "stopped", "terrible")
_POSITIVE = ("adore", "best", "great", "love", "perfect", "recommend")


def _sentiment(request: Request) -> Reply:
    words = re.findall(r"[a-z]+", _last_user_text(request).lower())
    if any(word in _NEGATIVE for word in words):
        label = "negative"
    elif any(word in _POSITIVE for word in words):
        label = "positive"
    else:
        label = "neutral"
    if request.get("tools"):
        return Reply(tool_calls=[ToolCallReply("classify", {"sentiment": label})])
    return Reply(text=label.capitalize())


# --- the reasoning model --------------------------------------------------------------------

# Each puzzle's answer, by a phrase of it: the stand-in knows them, a real model works them out.
_PUZZLES = {
    "14:05": "165 minutes",
    "17 x 23": "391",
    "3 pens": "$10.50",
}


def _puzzle_solver(request: Request) -> Reply:
    text = _last_user_text(request)
    answer = next((value for phrase, value in _PUZZLES.items() if phrase in text), "unsure")
    return Reply(f"Answer: {answer}")


# checks.judge's grading prompt (pytest_chatexp/checks/_judge.py) starts so.
_GRADER = "You are a strict grader of a chat model's responses."


def _grader(request: Request) -> Reply:
    response = _last_user_text(request).rpartition("Response:\n")[2].strip()
    if response.startswith("Does the response satisfy") or not response:
        return Reply(text="FAIL\nThe response is empty.")
    return Reply(text="PASS\nThe response addresses the question.")


# --- the help-centre assistant and its grader -------------------------------------------

_HELP_CENTRE = "Acme's help-centre assistant"
# The rubric of examples/test_support_answers.py's judge.
_DAYS_RUBRIC = "Says how many days it takes, as a number"

# Each question's wordings, by a phrase of it; the last writes its number in words.
_WORDINGS = {
    "refund take": (
        "Your refund reaches your card within 5 business days of us receiving the return.",
        "Once we receive the return, the refund reaches your card within 5 business days.",
        "Your refund should reach your card within five business days of receiving the return.",
    ),
    "return an item": (
        "You can return an item within 30 days of delivery for a full refund.",
        "Items can be returned for a full refund up to 30 days after delivery.",
        "Items can be returned for a full refund within thirty days of delivery.",
    ),
}

_seen: Counter[str] = Counter()
_seen_lock = threading.Lock()


def _copy_number(request: Request) -> int:
    """How many identical requests came before this one (the Nth sample or vote asks the same)."""
    body = {key: value for key, value in request.items() if key != "stream"}
    digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
    with _seen_lock:
        _seen[digest] += 1
        return _seen[digest] - 1


def _help_centre(request: Request) -> Reply:
    text = _last_user_text(request)
    wordings = next((w for phrase, w in _WORDINGS.items() if phrase in text), None)
    if wordings is None:
        return Reply(text="Let me pass your question to a colleague.")
    return Reply(text=wordings[_copy_number(request) % len(wordings)])


def _days_grader(request: Request) -> Reply:
    response = _last_user_text(request).rpartition("Response:\n")[2]
    response = response.rpartition("\n\nDoes the response satisfy")[0] or response
    number = re.search(r"\b(\d+) (?:business )?days\b", response)
    if number:
        return Reply(text=f"PASS\nIt says {number.group(1)} days.")
    in_words = re.search(r"\b([a-z]+) (?:business )?days\b", response)
    if in_words is None:
        return Reply(text="FAIL\nIt gives no number of days.")
    # A strict first reading misses a number written in words; asked again, the grader sees it.
    if _copy_number(request) == 0:
        return Reply(text="FAIL\nIt gives no number of days.")
    return Reply(text=f"PASS\nIt says {in_words.group(1)} days.")
