"""The Gemini API wire format (``POST {base_url}/v1beta/models/{model}:generateContent``).

Requests: system messages are ``systemInstruction``; user and assistant messages are
``contents`` (roles ``user`` and ``model``); an assistant's tool calls are ``functionCall``
parts and ``tool`` messages ``functionResponse`` parts of a ``user`` turn, named after the call
they answer (Gemini links them by name and order). Tools are one ``functionDeclarations`` entry
whose ``parameters`` is the tool's JSON schema as written: Gemini reads an OpenAPI subset of it
(``type``, ``properties``, ``required``, ``items``, ``enum``, ``description``, ``nullable``,
``format``...) and refuses more, with its message. ``tool_choice`` is
``toolConfig.functionCallingConfig`` (``AUTO``/``ANY``/``NONE``; a named function is ``ANY``
with ``allowedFunctionNames``). Sampling fields and a ``response_format``
(``responseMimeType: application/json``, a json_schema's schema as ``responseSchema``) go to
``generationConfig``. ``other`` is merged last (an object into the one built); its
``"stream": true`` is not sent but picks ``:streamGenerateContent?alt=sse``. The key goes in the
``x-goog-api-key`` header, never in the URL (URLs are shown in messages).

Answers: the first candidate's text parts joined are the output, ``thought: true`` parts the
reasoning; ``functionCall`` parts are tool calls (Gemini's ``id``, else one derived from the
call); ``STOP`` is ``stop``, ``MAX_TOKENS`` ``length``, other reasons in lower case. Generation
tokens are ``candidatesTokenCount + thoughtsTokenCount`` (as OpenAI's ``completion_tokens``
include reasoning); ``thoughtsTokenCount`` is ``reasoning_tokens``, ``cachedContentTokenCount``
``cached_tokens``. ``ModelConfig.reasoning`` is ``thinkingConfig``: a budget as
``thinkingBudget``, else the effort as ``thinkingLevel``, with ``includeThoughts``.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, ClassVar
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict

from .._errors import InvalidExperimentError, ProviderError
from .._experiment._config import ModelConfig
from .._experiment._humanloop import (
    ChatMessage,
    FunctionTool,
    ImageChatContent,
    TextChatContent,
    TokenCount,
    ToolCall,
    ToolChoice,
    Usage,
)
from .._experiment._spec import PlannedCall
from ._base import (
    Provider,
    ProviderReply,
    UrlStreamedRequest,
    WireRequest,
    arguments_object,
    endpoint_url,
    humanloop_finish_reason,
    parse_wire,
)
from ._gemini_stream import assemble_stream, error_text

__all__ = ["GeminiProvider", "assemble_stream"]

_FINISH_REASONS = {"STOP": "stop", "MAX_TOKENS": "length"}
_CHOICES = {"auto": "AUTO", "required": "ANY", "none": "NONE"}
# Humanloop field -> generationConfig field.
_GENERATION_FIELDS = (
    ("temperature", "temperature"),
    ("top_p", "topP"),
    ("seed", "seed"),
    ("presence_penalty", "presencePenalty"),
    ("frequency_penalty", "frequencyPenalty"),
)


class _Wire(BaseModel):
    model_config = ConfigDict(extra="allow")


class _WireCall(_Wire):
    name: str
    args: dict[str, Any] | None = None
    id: str | None = None


class _WirePart(_Wire):
    text: str | None = None
    thought: bool | None = None
    functionCall: _WireCall | None = None


class _WireContent(_Wire):
    parts: list[_WirePart] = []
    role: str | None = None


class _WireCandidate(_Wire):
    content: _WireContent | None = None
    finishReason: str | None = None


class _WireUsage(_Wire):
    promptTokenCount: TokenCount | None = None
    candidatesTokenCount: TokenCount | None = None
    thoughtsTokenCount: TokenCount | None = None
    totalTokenCount: TokenCount | None = None
    cachedContentTokenCount: TokenCount | None = None


class _WireResponse(_Wire):
    candidates: list[_WireCandidate] | None = None
    usageMetadata: _WireUsage | None = None
    promptFeedback: dict[str, Any] | None = None


class GeminiProvider(Provider):
    kind: ClassVar[str] = "gemini"
    default_base_url: ClassVar[str] = "https://generativelanguage.googleapis.com"
    default_api_key_env: ClassVar[str | None] = "GEMINI_API_KEY"
    base_url_env: ClassVar[str | None] = "GEMINI_BASE_URL"

    def build_request(self, call: PlannedCall, *, base_url: str) -> WireRequest:
        config = call.config
        where = f"model config '{config.display_name}'"
        body: dict[str, Any] = {"contents": wire_contents(call.messages, where=where)}
        system = [message.text for message in call.messages if message.role == "system"]
        if system:
            body["systemInstruction"] = {"parts": [{"text": text} for text in system]}
        if config.tools:
            declarations = [
                _declaration(tool.model_dump(exclude_none=True)) for tool in config.tools
            ]
            body["tools"] = [{"functionDeclarations": declarations}]
        if config.tool_choice is not None:
            body["toolConfig"] = {"functionCallingConfig": _calling_config(config.tool_choice)}
        generation = _generation_config(config, where=where)
        if generation:
            body["generationConfig"] = generation
        other = dict(config.other)
        stream = other.pop("stream", False) is True
        for key, value in other.items():  # an object merges into the one built (one level)
            built = body.get(key)
            body[key] = (
                {**built, **value} if isinstance(built, dict) and isinstance(value, dict) else value
            )
        model = quote(config.model.removeprefix("models/"), safe="")
        action = "streamGenerateContent?alt=sse" if stream else "generateContent"
        return UrlStreamedRequest(
            url=endpoint_url(base_url, f"v1beta/models/{model}:{action}"), body=body, stream=stream
        )

    def auth_headers(self, api_key: str) -> dict[str, str]:
        return {"x-goog-api-key": api_key}

    def parse_response(self, body: Any) -> ProviderReply:
        if isinstance(body, list):
            body = assemble_stream(body)
        response = parse_wire(_WireResponse, body, "a Gemini GenerateContentResponse")
        if not response.candidates:
            reason = (response.promptFeedback or {}).get("blockReason")
            if reason:
                raise ProviderError(
                    f"Gemini blocked the prompt (promptFeedback.blockReason {reason})"
                )
            raise ProviderError("the Gemini response has no candidates")
        candidate = response.candidates[0]
        texts: list[str] = []
        thoughts: list[str] = []
        tool_calls: list[ToolCall] = []
        for part in candidate.content.parts if candidate.content else []:
            if part.thought:
                thoughts.append(part.text or "")
                continue
            if part.functionCall is not None:
                tool_calls.append(_tool_call(part.functionCall, len(tool_calls)))
            elif part.text is not None:
                texts.append(part.text)
        raw_output = "".join(texts)
        message = ChatMessage(
            role="assistant", content=raw_output if texts else None, tool_calls=tool_calls or None
        )
        finish = humanloop_finish_reason(candidate.finishReason, _FINISH_REASONS)
        finish = finish.lower() if finish == candidate.finishReason and finish else finish
        if finish == "stop" and tool_calls:
            finish = "tool_call"  # Gemini says STOP after a function call
        return ProviderReply(
            message=message,
            raw_output=raw_output,
            finish_reason=finish,
            usage=_usage(response.usageMetadata),
            reasoning="".join(thoughts) or None,
        )

    def stream_finished(self, events: list[Any]) -> bool:
        return any(
            isinstance(event, dict)
            and (
                "error" in event
                or any(
                    isinstance(candidate, dict) and candidate.get("finishReason")
                    for candidate in event.get("candidates") or []
                )
                or bool((event.get("promptFeedback") or {}).get("blockReason"))
            )
            for event in events
        )

    def error_message(self, body: Any) -> str | None:
        return error_text(body)


def _thinking_config(config: ModelConfig) -> dict[str, Any]:
    """``generationConfig.thinkingConfig`` (Gemini takes a budget or a level, not both)."""
    reasoning = config.reasoning
    if reasoning is None:
        return {}
    if reasoning.budget_tokens is not None:
        thinking: dict[str, Any] = {"thinkingBudget": reasoning.budget_tokens}
    else:
        thinking = {"thinkingLevel": str(reasoning.effort).upper()}
    return {**thinking, "includeThoughts": True}


def _generation_config(config: ModelConfig, *, where: str) -> dict[str, Any]:
    generation: dict[str, Any] = {}
    for name, wire_name in _GENERATION_FIELDS:
        value = getattr(config, name)
        if value is not None:
            generation[wire_name] = value
    if config.max_tokens not in (None, -1):
        generation["maxOutputTokens"] = config.max_tokens
    if config.stop is not None:
        generation["stopSequences"] = [config.stop] if isinstance(config.stop, str) else config.stop
    if config.response_format is not None:
        generation.update(_response_format(config.response_format, where=where))
    thinking = _thinking_config(config)
    if thinking:
        generation["thinkingConfig"] = thinking
    return generation


def _response_format(response_format: dict[str, Any], *, where: str) -> dict[str, Any]:
    kind = response_format.get("type")
    if kind == "text":
        return {}
    if kind == "json_object":
        return {"responseMimeType": "application/json"}
    if kind == "json_schema":
        spec = response_format.get("json_schema")
        schema = spec.get("schema") if isinstance(spec, dict) else None
        if isinstance(schema, dict):
            return {"responseMimeType": "application/json", "responseSchema": schema}
    raise InvalidExperimentError(
        f"{where}: response_format {response_format!r} cannot be sent to Gemini: give "
        "{'type': 'json_object'} or {'type': 'json_schema', 'json_schema': {'schema': {...}}}"
    )


# --- requests ---------------------------------------------------------------------------


def wire_contents(messages: tuple[ChatMessage, ...], *, where: str) -> list[dict[str, Any]]:
    """The ``contents`` array: every non-system message in Gemini's shape."""
    names: dict[str, str] = {}  # tool call id -> function name, for the results
    wire: list[dict[str, Any]] = []
    for position, message in enumerate(messages):
        here = f"{where}: messages[{position}]"
        if message.role == "system":
            continue
        if message.role == "tool":
            name = names.get(message.tool_call_id or "") or message.name
            if not name:
                raise InvalidExperimentError(
                    f"{here} (role 'tool') answers no earlier tool call (tool_call_id "
                    f"{message.tool_call_id!r}) and has no 'name': Gemini needs the function name"
                )
            part = {"functionResponse": {"name": name, "response": _result(message)}}
            previous = wire[-1] if wire else None
            if previous is not None and all("functionResponse" in p for p in previous["parts"]):
                previous["parts"].append(part)  # parallel results: one user turn
            else:
                wire.append({"role": "user", "parts": [part]})
            continue
        parts = _parts(message.content)
        for tool_call in message.tool_calls or []:
            names[tool_call.id] = tool_call.function.name
            parts.append({"functionCall": _function_call(tool_call, where=here)})
        wire.append({"role": "model" if message.role == "assistant" else "user", "parts": parts})
    return wire


def _parts(content: str | list[TextChatContent | ImageChatContent] | None) -> list[dict[str, Any]]:
    if content is None or content == "":
        return []
    if isinstance(content, str):
        return [{"text": content}]
    parts: list[dict[str, Any]] = []
    for part in content:
        if isinstance(part, TextChatContent):
            parts.append({"text": part.text})
            continue
        url = part.image_url.url
        # ``data:image/png;base64,AAAA`` is inline data; any other URL is a file Gemini fetches.
        if url.startswith("data:") and ";base64," in url:
            mime, _, data = url[5:].partition(";base64,")
            parts.append({"inlineData": {"mimeType": mime, "data": data}})
        else:
            parts.append({"fileData": {"fileUri": url}})
    return parts


def _function_call(call: ToolCall, *, where: str) -> dict[str, Any]:
    args = arguments_object(call, where=where, field="Gemini's functionCall args")
    return {"name": call.function.name, "args": args}


def _result(message: ChatMessage) -> dict[str, Any]:
    """A tool result as ``functionResponse.response`` (an object): a failed tool's under
    ``error``, a JSON object result as itself, anything else under ``output``, as Google's SDK
    wraps function results."""
    text = message.text
    if message.is_error:
        return {"error": text}
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        value = None
    return value if isinstance(value, dict) else {"output": text}


def _declaration(tool: dict[str, Any]) -> dict[str, Any]:
    declaration: dict[str, Any] = {"name": tool["name"]}
    if "description" in tool:
        declaration["description"] = tool["description"]
    parameters = tool.get("parameters")
    if parameters and parameters.get("properties") != {}:
        declaration["parameters"] = parameters  # Gemini refuses an object with no properties
    return declaration


def _calling_config(choice: str | ToolChoice) -> dict[str, Any]:
    return (
        {"mode": "ANY", "allowedFunctionNames": [choice.function.name]}
        if isinstance(choice, ToolChoice)
        else {"mode": _CHOICES.get(choice, choice.upper())}
    )


# --- responses --------------------------------------------------------------------------


def _tool_call(call: _WireCall, index: int) -> ToolCall:
    arguments = json.dumps(call.args or {}, separators=(",", ":"), ensure_ascii=False)
    # Gemini sends no call id (only the Live and Vertex APIs do): one is derived from what
    # the call is, so a replay, a recording and a tool result all name it alike.
    digest = hashlib.sha256(f"{index}\0{call.name}\0{arguments}".encode()).hexdigest()[:24]
    return ToolCall(
        id=call.id or f"call_{digest}",
        type="function",
        function=FunctionTool(name=call.name, arguments=arguments),
    )


def _usage(usage: _WireUsage | None) -> Usage:
    if usage is None:
        return Usage()  # not reported: unknown, not zero
    candidates, thoughts = usage.candidatesTokenCount, usage.thoughtsTokenCount
    # A function-call-only answer may omit candidatesTokenCount: it is then 0 when a total
    # confirms the counts, else unknown.
    if candidates is None and usage.totalTokenCount is not None and usage.promptTokenCount:
        candidates = max(0, usage.totalTokenCount - usage.promptTokenCount - (thoughts or 0))
    generation = None if candidates is None else candidates + (thoughts or 0)
    plain = Usage.of(usage.promptTokenCount, generation)
    return Usage(
        prompt_tokens=plain.prompt_tokens,
        generation_tokens=plain.generation_tokens,
        total_tokens=usage.totalTokenCount
        if usage.totalTokenCount is not None
        else plain.total_tokens,
        reasoning_tokens=thoughts,
        cached_tokens=usage.cachedContentTokenCount,  # part of promptTokenCount, like OpenAI's
    )
