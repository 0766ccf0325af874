"""Offline stand-ins for LLM provider APIs, for tests, examples and benchmarks.

:class:`ReferenceServer` is a real HTTP server on a loopback port that speaks the
OpenAI chat-completions, Anthropic Messages and Humanloop v4 wire formats and answers
deterministically, so experiments run end to end through real HTTP clients without
network access or API keys::

    with ReferenceServer() as server:
        server.add_rule("Paris", when="capital of France")
        client = openai.OpenAI(base_url=server.base_url, api_key="unused")

It plays agents too: a :class:`Plan` (or ``[[step: ...]]`` directives in the prompt) scripts
tool calls turn by turn and a final reply quoting the tool results, and :func:`tool_results`
gives a rule the results it is answering.

This module imports only the standard library: the pytest plugin imports it lazily
and must stay cheap and dependency-free.
"""

from __future__ import annotations

from pytest_chatexp.testing._fault_plan import AppliedFault, FaultPlan
from pytest_chatexp.testing._faults import Fault
from pytest_chatexp.testing._http import RecordedRequest
from pytest_chatexp.testing._plans import Plan, ReceivedToolResult, tool_results
from pytest_chatexp.testing._replies import Reply, ToolCallReply
from pytest_chatexp.testing._server import ReferenceServer

__all__ = [
    "AppliedFault",
    "Fault",
    "FaultPlan",
    "Plan",
    "ReceivedToolResult",
    "RecordedRequest",
    "ReferenceServer",
    "Reply",
    "ToolCallReply",
    "tool_results",
]
