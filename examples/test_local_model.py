"""A real model, locally: SmolLM2-135M-Instruct behind llama.cpp's OpenAI-compatible server.

The other examples were recorded from a stand-in (``stand_in.py``); these answers came from a
real, tiny model on the project's own machine (docs/how-to/local-models.md). A 135M
model is no support agent, so the checks say what it does reliably -- it calls the tool it is
forced to call, answers in its chat format, stays within its token budget -- and catch what it
gets wrong: tool arguments that are not valid JSON.

Replaying needs nothing. Recording needs llama.cpp's server on the base URL below (replays work
on any loopback port: the port is not part of a recording's key):

    python -m llama_cpp.server --model "$GGUF" --host 127.0.0.1 --port 8000 --model_alias smollm2
    pytest -m chatexp examples/test_local_model.py --chatexp-record=all
"""

import pytest

from pytest_chatexp import ModelConfig, Sample, Tool
from pytest_chatexp import checks as c

# An explicit base URL: these configs never go to the examples' stand-in. A local server needs no
# key, so no api_key_env (one that is set, such as OPENAI_API_KEY, is sent and ignored).
LOCAL_SERVER = "http://127.0.0.1:8000/v1"
MAX_TOKENS = 48

LOOKUP_ORDER = Tool(
    name="lookup_order",
    description="Look up an order's status by its number.",
    parameters={
        "type": "object",
        "properties": {
            "order_id": {"type": "string", "description": "The order number, digits only."}
        },
        "required": ["order_id"],
    },
)

# The tool is forced (tool_choice): the question is not whether it is called, but with what.
ORDER_DESK = ModelConfig(
    name="smollm2-tool",
    model="smollm2",  # the server's --model_alias
    base_url=LOCAL_SERVER,
    temperature=0,
    max_tokens=MAX_TOKENS,
    chat_template=[
        {
            "role": "system",
            "content": "You are the order desk of Acme. Look up the customer's order.",
        },
        {"role": "user", "content": "{{message}}"},
    ],
    tools=[LOOKUP_ORDER],
    tool_choice={"type": "function", "function": {"name": "lookup_order"}},
)
ORDER_DESK_WARM = ORDER_DESK.variant(name="smollm2-tool-warm", temperature=0.8)

# A plain answer, streamed (server-sent events assembled into the same result).
REPLY = ModelConfig(
    name="smollm2-reply-stream",
    model="smollm2",
    base_url=LOCAL_SERVER,
    temperature=0.7,
    max_tokens=60,
    chat_template=[
        {
            "role": "system",
            "content": "You are the order desk of Acme. "
            "Reply to the customer in one or two short sentences.",
        },
        {"role": "user", "content": "{{message}}"},
    ],
    other={"stream": True},
)

# llama.cpp's server runs one completion at a time: one call in flight keeps the recorded
# latencies the model's own, not time spent queueing behind the other calls.
LOCAL = {"inputs": "data/orders.jsonl", "num_samples": 2, "concurrency": 1}


def under_the_cap(sample: Sample) -> str | None:
    """Cut off by max_tokens? llama.cpp's finish_reason says 'tool_calls' even then, so
    not_truncated() cannot tell; the token count can."""
    used = sample.usage.generation_tokens
    if used >= MAX_TOKENS:
        return f"used all {MAX_TOKENS} tokens (max_tokens): cut off"
    return None


def the_order_asked_about(sample: Sample) -> str | None:
    """The order number of the message (the dataset's metadata), copied into the call."""
    check = c.called("lookup_order", {"order_id": sample.input.metadata["order_id"]})
    return check(sample)


RIGHT_ORDER = c.satisfies(the_order_asked_about, name="the order asked about")


@pytest.mark.chatexp(model_configs=[ORDER_DESK, ORDER_DESK_WARM], **LOCAL)
def test_forced_tool_call(chatexp, chatexp_snapshot):
    # The server honours tool_choice: one call to the forced tool in every sample, and no text.
    c.assert_samples(
        chatexp,
        c.called_times("lookup_order", 1),
        c.finish_reason("tool_call"),
        c.length(max=0),
    )

    # Valid arguments (a JSON object that fits the schema), in at least half of each case's
    # samples. llama.cpp's grammar keeps them well-formed while they last, but the model can run
    # on inside a string until max_tokens cuts it off: a broken call the checks must catch.
    c.assert_samples(chatexp, c.valid_tool_arguments(), min_pass_rate=0.5)
    # Where arguments are broken, the cap cut them off (finish_reason does not say so).
    for verdict in c.verdicts(chatexp, [c.valid_tool_arguments()]):
        for sample, reason in verdict.failures:
            assert "invalid JSON" in reason, reason
            assert under_the_cap(sample) is not None, reason

    # Temperature 0 is the setting to keep: no worse than 0.8 at calling the tool with the order
    # number from the message, in at most 25% more tokens; and right in half its samples or more.
    comparison = c.assert_not_worse(
        chatexp,
        candidate="smollm2-tool",
        baseline="smollm2-tool-warm",
        checks=[RIGHT_ORDER, c.valid_tool_arguments()],
        max_token_increase=0.25,
    )
    assert comparison.candidate.pass_rate >= 0.5, comparison

    c.assert_tokens(chatexp, generation=MAX_TOKENS, total=150, per="sample")
    # Recorded on a busy 2-CPU machine: a new prompt took up to 12 s, a cached one under 2 s.
    c.assert_latency(chatexp, max=30.0)
    assert chatexp == chatexp_snapshot


def streamed(sample: Sample) -> str | None:
    if sample.first_token_s is None:
        return "no time to first token: not streamed"
    if sample.first_token_s > sample.latency_s:
        return f"first token after {sample.first_token_s}s, the answer after {sample.latency_s}s"
    return None


@pytest.mark.chatexp(model_configs=[REPLY], **LOCAL)
def test_streamed_reply(chatexp, chatexp_snapshot):
    c.assert_samples(
        chatexp,
        c.satisfies(streamed, name="streamed"),
        c.length(min=1, max=600),  # 60 tokens of English is a few hundred characters
        c.no_tool_calls(),
        c.finish_reason("stop", "length"),
        # The server applied SmolLM2's chat template: no control tokens leak into the text.
        c.not_contains("<|im_start|>", "<|im_end|>"),
    )
    # Asked for one or two sentences, it stops on its own in at least half the samples.
    c.assert_samples(chatexp, c.not_truncated(), min_pass_rate=0.5)
    # No token budget here: llama.cpp's streams report no usage (stream_options is ignored).
    assert chatexp == chatexp_snapshot
