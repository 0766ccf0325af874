"""The AWS Bedrock Converse wire format (``POST {base_url}/model/{modelId}/converse``).

Requests: system messages are ``system`` text blocks; user and assistant messages are
``messages`` of content blocks (``text``, ``image`` from a ``data:`` URL, ``toolUse``), tool
messages ``toolResult`` blocks of a user turn (a JSON object result as ``json``, anything else
as ``text``; ``status: error`` when the tool failed: it raised, was unknown or got invalid
arguments). Consecutive messages of one
role are merged, since Converse requires the roles to alternate. Sampling fields go to
``inferenceConfig``, tools to ``toolConfig`` (``tool_choice`` ``auto``/``required``/a named tool
as ``auto``/``any``/``tool``; ``none`` has no Converse equivalent and is refused).
``ModelConfig.reasoning`` is Anthropic-on-Bedrock's ``thinking`` in
``additionalModelRequestFields``. ``other`` is merged last: a key naming a Converse request
field at the top level (``guardrailConfig``, ``performanceConfig``, ``outputConfig``...), any
other key into ``additionalModelRequestFields`` (the model's own parameters); its
``"stream": true`` is not sent but picks ``/converse-stream``. A ``json_schema``
``response_format`` is ``outputConfig.textFormat`` (its schema as a JSON string, as Converse
takes it); ``seed``, the penalties and a ``json_object`` format (Converse has no JSON mode
without a schema) are refused, not dropped.

Answers: text blocks joined are the output, ``reasoningContent`` blocks the reasoning (and,
with tool calls, kept on the message to be sent back signed, as Anthropic requires);
``toolUse`` blocks are tool calls. ``inputTokens`` excludes the prompt cache, so the prompt
count adds ``cacheReadInputTokens`` (``cached_tokens``) and ``cacheWriteInputTokens``
(``cache_write_tokens``), each kept only when reported.

Auth: a Bedrock API key in ``AWS_BEARER_TOKEN_BEDROCK`` is a bearer token; without one the
request is signed (SigV4, ``_bedrock_auth``) when it is sent.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any, ClassVar
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict

from .._errors import InvalidExperimentError, ProviderError
from .._experiment._config import ModelConfig
from .._experiment._humanloop import (
    ChatMessage,
    FunctionTool,
    TokenCount,
    ToolCall,
    ToolChoice,
    Usage,
)
from .._experiment._spec import PlannedCall
from ._base import (
    Provider,
    ProviderReply,
    StreamDecoder,
    UrlStreamedRequest,
    WireRequest,
    endpoint_url,
    humanloop_finish_reason,
    parse_wire,
)
from ._bedrock_messages import REASONING_BLOCKS_FIELD, wire_messages
from ._bedrock_stream import assemble_stream, error_text, is_first_token, stream_finished
from ._eventstream import EventStreamDecoder

__all__ = ["REASONING_BLOCKS_FIELD", "BedrockConverseProvider"]

KEY_ENV = "AWS_BEARER_TOKEN_BEDROCK"
_FINISH_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "tool_use": "tool_call",
    "guardrail_intervened": "content_filter",
    "content_filtered": "content_filter",
}
_UNSUPPORTED_FIELDS = ("seed", "presence_penalty", "frequency_penalty")
# Converse's own request fields: an ``other`` key naming one is sent at the top level.
_CONVERSE_FIELDS = frozenset(
    {
        "system",
        "messages",
        "inferenceConfig",
        "toolConfig",
        "guardrailConfig",
        "additionalModelRequestFields",
        "promptVariables",
        "additionalModelResponseFieldPaths",
        "requestMetadata",
        "performanceConfig",
        "serviceTier",
        "outputConfig",
    }
)
_IMAGE_FORMATS = {
    "image/png": "png",
    "image/jpeg": "jpeg",
    "image/gif": "gif",
    "image/webp": "webp",
}


class _Wire(BaseModel):
    model_config = ConfigDict(extra="allow")


class _WireToolUse(_Wire):
    toolUseId: str
    name: str
    input: Any = None


class _WireReasoningText(_Wire):
    text: str | None = None
    signature: str | None = None


class _WireReasoning(_Wire):
    reasoningText: _WireReasoningText | None = None
    redactedContent: str | None = None


class _WireBlock(_Wire):
    text: str | None = None
    toolUse: _WireToolUse | None = None
    reasoningContent: _WireReasoning | None = None


class _WireMessage(_Wire):
    role: str | None = None
    content: list[_WireBlock] = []


class _WireOutput(_Wire):
    message: _WireMessage | None = None


class _WireUsage(_Wire):
    inputTokens: TokenCount | None = None
    outputTokens: TokenCount | None = None
    totalTokens: TokenCount | None = None
    cacheReadInputTokens: TokenCount | None = None
    cacheWriteInputTokens: TokenCount | None = None


class _WireResponse(_Wire):
    output: _WireOutput
    stopReason: str | None = None
    usage: _WireUsage | None = None


class BedrockConverseProvider(Provider):
    kind: ClassVar[str] = "bedrock"
    # The region's endpoint is worked out per call (``default_url``); this is us-east-1's.
    default_base_url: ClassVar[str] = "https://bedrock-runtime.us-east-1.amazonaws.com"
    default_api_key_env: ClassVar[str | None] = KEY_ENV
    base_url_env: ClassVar[str | None] = "BEDROCK_BASE_URL"

    def default_url(self) -> str:
        region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
        return f"https://bedrock-runtime.{region or 'us-east-1'}.amazonaws.com"

    def key_env(self) -> str | None:
        # Without a Bedrock API key the call is signed with AWS credentials instead: no key is
        # missing then (``sign`` says what is, if anything).
        return KEY_ENV if os.environ.get(KEY_ENV) else None

    def build_request(self, call: PlannedCall, *, base_url: str) -> WireRequest:
        config = call.config
        where = f"model config '{config.display_name}'"
        for name in _UNSUPPORTED_FIELDS:
            if getattr(config, name) is not None:
                raise InvalidExperimentError(
                    f"{where}: '{name}' has no field in the Bedrock Converse API (provider "
                    "'bedrock'); remove it, or pass the model's own parameter in 'other' (sent "
                    "as additionalModelRequestFields)"
                )
        body: dict[str, Any] = {"messages": wire_messages(call.messages, where=where)}
        system = [message.text for message in call.messages if message.role == "system"]
        if system:
            body["system"] = [{"text": text} for text in system]
        inference = _inference_config(config)
        if inference:
            body["inferenceConfig"] = inference
        if config.tools:
            tools = [_tool_spec(tool.model_dump(exclude_none=True)) for tool in config.tools]
            body["toolConfig"] = {"tools": tools}
            if config.tool_choice is not None:
                body["toolConfig"]["toolChoice"] = _tool_choice(config.tool_choice, where)
        if config.response_format is not None:
            output = _output_config(config.response_format, where)
            if output is not None:
                body["outputConfig"] = output
        additional = _thinking(config, where)
        other = dict(config.other)
        stream = other.pop("stream", False) is True
        for key, value in other.items():
            if key not in _CONVERSE_FIELDS:
                additional[key] = value
                continue
            built = body.get(key)  # an object merges into the one built (one level)
            body[key] = (
                {**built, **value} if isinstance(built, dict) and isinstance(value, dict) else value
            )
        if additional:
            body["additionalModelRequestFields"] = {
                **additional,
                **(body.get("additionalModelRequestFields") or {}),
            }
        model = quote(config.model, safe="")
        action = "converse-stream" if stream else "converse"
        return UrlStreamedRequest(
            url=endpoint_url(base_url, f"model/{model}/{action}"), body=body, stream=stream
        )

    def auth_headers(self, api_key: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {api_key}"}

    def sign(
        self, config: ModelConfig, url: str, headers: Mapping[str, str], body: bytes
    ) -> dict[str, str]:
        # Imported here: botocore is an optional extra, loaded only when a call is signed.
        from ._bedrock_auth import sigv4_headers

        return sigv4_headers(config, url, headers, body)

    def stream_decoder(self) -> StreamDecoder:
        return EventStreamDecoder()

    def first_token(self, event: Any) -> bool:
        return is_first_token(event)

    def stream_finished(self, events: list[Any]) -> bool:
        return stream_finished(events)

    def parse_response(self, body: Any) -> ProviderReply:
        if isinstance(body, list):
            body = assemble_stream(body)
        response = parse_wire(_WireResponse, body, "a Bedrock Converse response")
        message = response.output.message
        if message is None:
            raise ProviderError("the Bedrock Converse response has no output.message")
        texts: list[str] = []
        thoughts: list[str] = []
        reasoning_blocks: list[dict[str, Any]] = []
        tool_calls: list[ToolCall] = []
        for block in message.content:
            if block.reasoningContent is not None:
                reasoning = block.reasoningContent
                reasoning_blocks.append(
                    {"reasoningContent": reasoning.model_dump(exclude_none=True)}
                )
                if reasoning.reasoningText is not None and reasoning.reasoningText.text:
                    thoughts.append(reasoning.reasoningText.text)
            elif block.toolUse is not None:
                tool_calls.append(_tool_call(block.toolUse))
            elif block.text is not None:
                texts.append(block.text)
        raw_output = "".join(texts)
        reply = ChatMessage(
            role="assistant", content=raw_output if texts else None, tool_calls=tool_calls or None
        )
        if tool_calls and reasoning_blocks:
            # Anthropic's models on Bedrock want the turn's reasoning (signed) back before its
            # tool results: kept on the message for wire_messages.
            reply = reply.model_copy(update={REASONING_BLOCKS_FIELD: reasoning_blocks})
        return ProviderReply(
            message=reply,
            raw_output=raw_output,
            finish_reason=humanloop_finish_reason(response.stopReason, _FINISH_REASONS),
            usage=_usage(response.usage),
            reasoning="\n\n".join(thoughts) if thoughts else None,
        )

    def error_message(self, body: Any) -> str | None:
        return error_text(body)


def _inference_config(config: ModelConfig) -> dict[str, Any]:
    inference: dict[str, Any] = {}
    if config.max_tokens not in (None, -1):
        inference["maxTokens"] = config.max_tokens
    if config.temperature is not None:
        inference["temperature"] = config.temperature
    if config.top_p is not None:
        inference["topP"] = config.top_p
    if config.stop is not None:
        inference["stopSequences"] = [config.stop] if isinstance(config.stop, str) else config.stop
    return inference


def _thinking(config: ModelConfig, where: str) -> dict[str, Any]:
    """``additionalModelRequestFields`` for the reasoning setting: Anthropic's ``thinking``."""
    if config.reasoning is None:
        return {}
    budget = config.reasoning.thinking_budget
    if config.max_tokens not in (None, -1) and (config.max_tokens or 0) <= budget:
        raise InvalidExperimentError(
            f"{where}: Anthropic's models on Bedrock require max_tokens ({config.max_tokens}) "
            f"to be greater than the thinking budget ({budget} tokens); raise max_tokens"
        )
    return {"thinking": {"type": "enabled", "budget_tokens": budget}}


def _tool_spec(tool: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = {"name": tool["name"]}
    if "description" in tool:
        spec["description"] = tool["description"]
    # Converse requires a schema; a tool without parameters takes an empty object.
    spec["inputSchema"] = {"json": tool.get("parameters") or {"type": "object", "properties": {}}}
    return {"toolSpec": spec}


def _tool_choice(choice: str | ToolChoice, where: str) -> dict[str, Any]:
    if isinstance(choice, ToolChoice):
        return {"tool": {"name": choice.function.name}}
    if choice in ("auto", "required"):
        return {"auto": {}} if choice == "auto" else {"any": {}}
    raise InvalidExperimentError(
        f"{where}: tool_choice {choice!r} has no Bedrock Converse equivalent (it takes 'auto', "
        "'required' or a named tool); leave the tools out of the config instead"
    )


# --- responses --------------------------------------------------------------------------


def _tool_call(tool_use: _WireToolUse) -> ToolCall:
    value = tool_use.input
    # A string input only comes from a stream whose JSON fragments did not decode: kept as
    # the model wrote it, so the checks can report invalid arguments.
    arguments = (
        value
        if isinstance(value, str)
        else json.dumps({} if value is None else value, separators=(",", ":"), ensure_ascii=False)
    )
    return ToolCall(
        id=tool_use.toolUseId,
        type="function",
        function=FunctionTool(name=tool_use.name, arguments=arguments),
    )


def _usage(usage: _WireUsage | None) -> Usage:
    if usage is None:
        return Usage()  # not reported: unknown, not zero
    read, written = usage.cacheReadInputTokens, usage.cacheWriteInputTokens
    prompt = None if usage.inputTokens is None else usage.inputTokens + (read or 0) + (written or 0)
    counted = Usage.of(prompt, usage.outputTokens)
    caches = {
        name: value
        for name, value in (("cached_tokens", read), ("cache_write_tokens", written))
        if value is not None
    }
    return counted.model_copy(update=caches) if caches else counted


def _output_config(response_format: dict[str, Any], where: str) -> dict[str, Any] | None:
    """``outputConfig`` for a ``response_format``: Converse's structured output takes a JSON
    schema only, as a string."""
    kind = response_format.get("type")
    if kind == "text":
        return None
    spec = response_format.get("json_schema")
    if kind != "json_schema" or not isinstance(spec, dict) or "schema" not in spec:
        raise InvalidExperimentError(
            f"{where}: Bedrock Converse takes a response_format of type 'json_schema' with a "
            f"'json_schema' object holding a 'schema' (got type {kind!r}); it has no JSON mode "
            "without a schema"
        )
    structure: dict[str, Any] = {"schema": json.dumps(spec["schema"], ensure_ascii=False)}
    for key in ("name", "description"):
        if isinstance(spec.get(key), str):
            structure[key] = spec[key]
    return {"textFormat": {"type": "json_schema", "structure": {"jsonSchema": structure}}}
