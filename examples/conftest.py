"""Example suite setup: a stand-in model for the examples to run offline.

The examples talk to pytest-chatexp's loopback reference server, a real HTTP server speaking the
OpenAI chat-completions format. Its rules below play the part of a model that calls the support
tools; everything else it echoes. Point OPENAI_BASE_URL at a real provider and the same tests run
against it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
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
        return Reply(tool_calls=[ToolCallReply("issue_refund", {"order_id": order.group(1), "reason": "customer request"})])
    if order:
        return Reply(tool_calls=[ToolCallReply("lookup_order", {"order_id": order.group(1)})])
    return Reply(text="Could you share your order number (it starts with #)?")


@pytest.fixture(scope="session", autouse=True)
def stand_in_model() -> Iterator[ReferenceServer]:
    with ReferenceServer() as server:
        server.add_rule(_support_agent, when=lambda request: "support agent" in str(request["messages"][0]))
        previous = os.environ.get("OPENAI_BASE_URL")
        os.environ["OPENAI_BASE_URL"] = server.base_url
        yield server
        if previous is None:
            del os.environ["OPENAI_BASE_URL"]
        else:
            os.environ["OPENAI_BASE_URL"] = previous
