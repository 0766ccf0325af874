"""What the benchmark scripts share: the generated test suites' common parts, and reporting.

The scripts run as ``python bench/<script>.py``, so this folder is on ``sys.path``.
"""

from __future__ import annotations

import importlib.metadata
import os

PLAIN_HEAD = """\
RESPONSE = {
    "id": "chatcmpl-0",
    "object": "chat.completion",
    "created": 1700000000,
    "model": "gpt-4o-mini",
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "echo: hello"},
            "finish_reason": "stop",
        }
    ],
    "usage": {"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20},
}
"""

CHATEXP_HEAD = """\
import pytest

from pytest_chatexp import ModelConfig

CONFIG = ModelConfig(
    name="bench",
    model="gpt-4o-mini",
    temperature=0.2,
    chat_template=[{"role": "user", "content": "{{question}}"}],
)
"""

FIXTURE_HEAD = """\
import pytest


@pytest.fixture
def config():
    return {}


@pytest.fixture
def answer(request, config):
    return RESPONSE
"""

FIXTURE_TEST = """

@pytest.mark.bench(inputs=[{{"id": "q{i}", "question": "{question}"}}])
def test_q{i}(answer):
    assert answer["choices"][0]["message"]["content"] == "echo: hello"
"""


def version(distribution: str) -> str:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "missing"


def print_load(when: str) -> None:
    """Other processes share the CPUs; the load average says how much to trust the figures."""
    one, five, fifteen = os.getloadavg()
    print(f"load average at {when}: {one:.2f}, {five:.2f}, {fifteen:.2f} (1, 5, 15 min)")
