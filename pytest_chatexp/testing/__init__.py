"""Offline stand-ins for LLM provider APIs, for tests, examples and benchmarks.

:class:`ReferenceServer` is a real HTTP server on a loopback port that speaks the
OpenAI chat-completions wire format and answers deterministically, so experiments
run end to end through real HTTP clients without network access or API keys::

    with ReferenceServer() as server:
        server.add_rule("Paris", when="capital of France")
        client = openai.OpenAI(base_url=server.base_url, api_key="unused")

This module imports only the standard library: the pytest plugin imports it lazily
and must stay cheap and dependency-free.
"""

from __future__ import annotations

from pytest_chatexp.testing._fault_plan import AppliedFault, FaultPlan
from pytest_chatexp.testing._faults import Fault
from pytest_chatexp.testing._http import RecordedRequest
from pytest_chatexp.testing._replies import Reply, ToolCallReply
from pytest_chatexp.testing._server import ReferenceServer

__all__ = [
    "AppliedFault",
    "Fault",
    "FaultPlan",
    "RecordedRequest",
    "ReferenceServer",
    "Reply",
    "ToolCallReply",
]
