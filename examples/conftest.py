"""Example suite setup: where the examples' model calls go.

By default the examples replay their recordings (``__recordings__/``): no server, no key, no
network. Their answers were recorded from pytest-chatexp's loopback reference server, a real HTTP
server speaking the OpenAI chat-completions format, whose rules below play a model that calls the
support tools (everything else it echoes). Recording again starts it:

    pytest -m chatexp examples --chatexp-record=all

To record from a real provider instead, drop this fixture and set OPENAI_BASE_URL/OPENAI_API_KEY:
the recordings then hold that provider's answers.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import nullcontext
from typing import Any

import pytest

from pytest_chatexp.testing import ReferenceServer, Reply, ToolCallReply


def _last_user_text(request: dict[str, Any]) -> str:
    user = [m for m in request["messages"] if m["role"] == "user"]
    content = user[-1]["content"] if user else ""
    return content if isinstance(content, str) else " ".join(p.get("text", "") for p in content)


def _support_agent(request: dict[str, Any]) -> Reply:
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


# Replays never connect; if a call went live by mistake it would fail fast here (nothing listens).
_NOWHERE = "http://127.0.0.1:9"
# Where each provider's calls go: the stand-in speaks both wire formats.
_BASE_URLS = {"OPENAI_BASE_URL": "/v1", "ANTHROPIC_BASE_URL": ""}


@pytest.fixture(scope="session", autouse=True)
def stand_in_model(pytestconfig: pytest.Config) -> Iterator[None]:
    previous = {name: os.environ.get(name) for name in _BASE_URLS}
    recording = pytestconfig.getoption("chatexp_record") not in (None, "none")
    with ReferenceServer() if recording else nullcontext() as server:
        if server is not None:
            server.add_rule(
                _support_agent, when=lambda request: "support agent" in str(request["messages"][0])
            )
        for name, path in _BASE_URLS.items():
            os.environ[name] = (server.url if server is not None else _NOWHERE) + path
        yield
    for name, value in previous.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
