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
  which the helpdesk app must clean into one line.

To record from a real provider instead, see conftest.py.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any

from pytest_chatexp.testing import ReferenceServer, Reply, ToolCallReply

Request = dict[str, Any]


def install(server: ReferenceServer) -> None:
    """Register the rules; a request no rule claims gets the server's default echo."""
    server.add_rule(_support_agent, when=lambda request: "support agent" in _system(request))
    server.add_rule(
        _invoice_extractor, when=lambda request: "Extract the invoice" in _system(request)
    )
    server.add_rule(_ticket_summariser, when=lambda request: "summarise" in _system(request))


def _system(request: Request) -> str:
    first = request["messages"][0]
    return str(first["content"]) if first["role"] == "system" else ""


def _last_user_text(request: Request) -> str:
    user = [m for m in request["messages"] if m["role"] == "user"]
    content = user[-1]["content"] if user else ""
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
