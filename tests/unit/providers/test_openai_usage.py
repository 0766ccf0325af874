"""The OpenAI chat provider's usage: cached prompt tokens are kept when reported."""

from __future__ import annotations

from pytest_chatexp._providers._openai import OpenAIChatProvider

PROVIDER = OpenAIChatProvider()


def _completion(usage: dict[str, object]) -> dict[str, object]:
    message = {"role": "assistant", "content": "hi"}
    return {"choices": [{"message": message, "finish_reason": "stop"}], "usage": usage}


def test_cached_tokens_come_from_prompt_tokens_details() -> None:
    usage = {
        "prompt_tokens": 2000,
        "completion_tokens": 10,
        "total_tokens": 2010,
        "prompt_tokens_details": {"cached_tokens": 1536},
    }
    reply = PROVIDER.parse_response(_completion(usage))
    assert (reply.usage.prompt_tokens, reply.usage.cached_tokens) == (2000, 1536)
    assert reply.usage.cache_write_tokens is None  # OpenAI reports no cache writes
    assert reply.usage.to_json_dict()["cached_tokens"] == 1536


def test_without_details_cached_tokens_are_unknown_and_not_dumped() -> None:
    usage = {"prompt_tokens": 20, "completion_tokens": 10, "total_tokens": 30}
    reply = PROVIDER.parse_response(_completion(usage))
    assert reply.usage.cached_tokens is None
    assert "cached_tokens" not in reply.usage.to_json_dict()
