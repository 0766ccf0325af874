"""Example suite setup: where the examples' model calls go.

By default the examples replay their recordings (``__recordings__/``): no server, no key, no
network. Their answers were recorded from pytest-chatexp's loopback reference server, a real HTTP
server speaking the OpenAI (chat and Responses), Anthropic and Gemini formats, whose rules in ``stand_in.py`` play the models
the examples need (a support agent, an invoice extractor, a ticket summariser, an order agent
and its simulated customer; anything else it echoes). Recording again starts it:

    pytest -m chatexp examples --chatexp-record=all --deselect examples/test_local_model.py

``test_local_model.py`` is the exception: its answers come from a real model (SmolLM2 behind
llama.cpp's server on 127.0.0.1:8000, see docs/how-to/local-models.md), so it is
re-recorded only with that server running.

To record from a real provider instead, drop this fixture and set OPENAI_BASE_URL/OPENAI_API_KEY:
the recordings then hold that provider's answers.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import nullcontext

import pytest
import stand_in

from pytest_chatexp.testing import ReferenceServer

# Replays never connect; if a call went live by mistake it would fail fast here (nothing listens).
_NOWHERE = "http://127.0.0.1:9"
# Where each provider's calls go: the stand-in speaks every wire format.
_BASE_URLS = {"OPENAI_BASE_URL": "/v1", "ANTHROPIC_BASE_URL": "", "GEMINI_BASE_URL": ""}


@pytest.fixture(scope="session", autouse=True)
def stand_in_model(pytestconfig: pytest.Config) -> Iterator[None]:
    previous = {name: os.environ.get(name) for name in _BASE_URLS}
    recording = pytestconfig.getoption("chatexp_record") not in (None, "none")
    with ReferenceServer() if recording else nullcontext() as server:
        if server is not None:
            stand_in.install(server)
        for name, path in _BASE_URLS.items():
            os.environ[name] = (server.url if server is not None else _NOWHERE) + path
        yield
    for name, value in previous.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
