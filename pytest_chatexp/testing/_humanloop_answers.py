"""Humanloop v4 answers for the reference server: a ``ChatResponse`` or its event stream.

Like Humanloop, it renders the config's ``chat_template`` with ``inputs`` (``{{var}}``), appends
the request's ``messages``, asks the reply engine for each sample through an OpenAI-like provider
request, and answers one ``ChatResponse`` (or data-only server-sent events, one chunk per event
with samples interleaved). Ids are digests of the request, so everything is deterministic.

Standard library only, like the rest of :mod:`pytest_chatexp.testing`.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any, Final

from pytest_chatexp.testing._engine import ReplyEngine
from pytest_chatexp.testing._http import sse_event
from pytest_chatexp.testing._humanloop_requests import MESSAGE_FIELDS, invalid, problem
from pytest_chatexp.testing._replies import Answer, JsonObject, short_digest, stream_pieces

#: Fixed, so that whole provider responses are reproducible.
CREATED: Final = 1700000000

_SAMPLING_FIELDS: Final = ("temperature", "top_p", "stop", "presence_penalty", "frequency_penalty")
_FINISH_REASONS: Final = {"tool_calls": "tool_call", "function_call": "tool_call"}
_PLACEHOLDER: Final = re.compile(r"\{\{\s*([^{}\s]+)\s*\}\}")


class Config:
    """A model config and the id the response reports for it."""

    __slots__ = ("fields", "id")

    def __init__(self, config_id: str, fields: JsonObject) -> None:
        self.id = config_id
        self.fields = fields


def canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def sample_key(body: JsonObject, position: int) -> str:
    """What a sample's digests are made of: the request without ``stream`` (a streamed request
    answers what the plain one does) and the sample's position."""
    return canonical({k: v for k, v in body.items() if k != "stream"}) + f"|{position}"


def _as_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


def _render(text: str, inputs: Mapping[str, Any], loc: tuple[str | int, ...]) -> str:
    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in inputs:
            raise invalid(
                [
                    problem(
                        ("body", "inputs"),
                        f"no value for template variable '{name}' ({'.'.join(map(str, loc))})",
                    )
                ]
            )
        return _as_text(inputs[name])

    return _PLACEHOLDER.sub(substitute, text)


def _rendered_template(config: JsonObject, inputs: Mapping[str, Any]) -> list[JsonObject]:
    rendered: list[JsonObject] = []
    for position, message in enumerate(config.get("chat_template") or []):
        loc = ("chat_template", position, "content")
        content = message.get("content")
        if isinstance(content, str):
            content = _render(content, inputs, loc)
        elif isinstance(content, list):
            content = [
                {**part, "text": _render(part["text"], inputs, (*loc, n))}
                if isinstance(part, dict) and isinstance(part.get("text"), str)
                else part
                for n, part in enumerate(content)
            ]
        rendered.append({**message, "content": content})
    return rendered


def _full_message(message: Mapping[str, Any]) -> JsonObject:
    """A message as Humanloop returns it: every field present, ``null`` when unset."""
    return {name: message.get(name) for name in MESSAGE_FIELDS}


def _provider_request(
    config: JsonObject, messages: list[JsonObject], body: JsonObject
) -> JsonObject:
    """The OpenAI-like request Humanloop would send to the config's provider."""
    request: JsonObject = {
        "model": config["model"],
        "messages": [
            {k: v for k, v in message.items() if v is not None and k != "tool_call"}
            for message in messages
        ],
    }
    for name in _SAMPLING_FIELDS:
        if config.get(name) is not None:
            request[name] = config[name]
    if isinstance(config.get("max_tokens"), int) and config["max_tokens"] >= 0:
        request["max_tokens"] = config["max_tokens"]
    if config.get("seed") is not None:
        request["seed"] = config["seed"]
    tools = [
        {
            "type": "function",
            "function": {
                key: tool[key] for key in ("name", "description", "parameters") if key in tool
            },
        }
        for tool in config.get("tools") or []
        if isinstance(tool.get("name"), str)
    ]
    if tools:
        request["tools"] = tools
    tool_choice = body.get("tool_choice")
    legacy = body.get("tool_call")
    if tool_choice is None and isinstance(legacy, dict) and isinstance(legacy.get("name"), str):
        tool_choice = {"type": "function", "function": {"name": legacy["name"]}}
    elif tool_choice is None and isinstance(legacy, str):
        tool_choice = legacy
    if tool_choice is not None:
        request["tool_choice"] = tool_choice
    response_format = body.get("response_format") or config.get("response_format")
    if response_format is not None:
        request["response_format"] = response_format
    other = config.get("other")
    if isinstance(other, dict):
        request.update(other)
    return request


class Sample:
    """One answered sample: the pieces a ChatResponse (or its stream) is made of."""

    def __init__(
        self,
        *,
        data: JsonObject,
        usage: JsonObject,
        provider_request: JsonObject,
        provider_response: JsonObject,
        text: str,
    ) -> None:
        self.data = data
        self.usage = usage
        self.provider_request = provider_request
        self.provider_response = provider_response
        self.text = text

    @classmethod
    def answer(cls, body: JsonObject, position: int, config: Config, engine: ReplyEngine) -> Sample:
        inputs: JsonObject = body.get("inputs") or {}
        messages = [*_rendered_template(config.fields, inputs), *body["messages"]]
        request = _provider_request(config.fields, messages, body)
        answer = engine.answer(request)
        text = answer.text or ""
        calls = [
            {
                "id": call.id,
                "type": "function",
                "function": {"name": call.name, "arguments": call.arguments},
            }
            for call in answer.tool_calls
        ]
        output_message = _full_message(
            {"role": "assistant", "content": answer.text, "tool_calls": calls or None}
        )
        key = sample_key(body, position)
        data: JsonObject = {
            "id": "data_" + short_digest(key, 20),
            "index": position,
            "output": text.strip(),
            "raw_output": text,
            "model_config_id": config.id,
            "output_message": output_message,
            "inputs": inputs if body.get("return_inputs", True) else {},
            "finish_reason": _FINISH_REASONS.get(answer.finish_reason, answer.finish_reason),
            "tool_results": [],
            "messages": [_full_message(message) for message in messages],
            "tool_calls": calls or None,
            "tool_call": calls[0]["function"] if calls else None,
        }
        return cls(
            data=data,
            usage=_usage(answer),
            provider_request=request,
            provider_response=_completion(request, answer, key, calls),
            text=text,
        )


def _usage(answer: Answer) -> JsonObject:
    """Humanloop's usage names; the engine's overrides may use them or OpenAI's."""
    overrides = dict(answer.usage_overrides or {})
    details = overrides.get("completion_tokens_details")
    prompt = overrides.get("prompt_tokens", answer.prompt_tokens)
    generation = overrides.get(
        "generation_tokens", overrides.get("completion_tokens", answer.completion_tokens)
    )
    reasoning = overrides.get(
        "reasoning_tokens", details.get("reasoning_tokens", 0) if isinstance(details, dict) else 0
    )
    return {
        "prompt_tokens": prompt,
        "generation_tokens": generation,
        "total_tokens": overrides.get("total_tokens", prompt + generation),
        "reasoning_tokens": reasoning,
    }


def _completion(
    request: JsonObject, answer: Answer, key: str, calls: list[JsonObject]
) -> JsonObject:
    """The OpenAI-style completion the simulated provider answered (``provider_responses``)."""
    message: JsonObject = {"role": "assistant", "content": answer.text}
    if calls:
        message["tool_calls"] = calls
    return {
        "id": "chatcmpl-" + short_digest(key, 16),
        "object": "chat.completion",
        "created": CREATED,
        "model": request["model"],
        "choices": [
            {
                "index": 0,
                "message": message,
                "finish_reason": answer.finish_reason,
                "logprobs": None,
            }
        ],
        "usage": {
            "prompt_tokens": answer.prompt_tokens,
            "completion_tokens": answer.completion_tokens,
            "total_tokens": answer.prompt_tokens + answer.completion_tokens,
        },
    }


def _project_id(body: JsonObject, projects: Mapping[str, str]) -> str | None:
    if isinstance(body.get("project_id"), str):
        project_id: str = body["project_id"]
        return project_id
    if isinstance(body.get("project"), str):
        return projects.get(body["project"]) or "pr_" + short_digest(body["project"], 16)
    return None


def _session_id(body: JsonObject) -> str | None:
    """The session the log joined: the one named, or the one a reference id opens."""
    if isinstance(body.get("session_id"), str):
        session_id: str = body["session_id"]
        return session_id
    if isinstance(body.get("session_reference_id"), str):
        return "sess_" + short_digest(body["session_reference_id"], 16)
    return None


def _envelope(body: JsonObject, projects: Mapping[str, str]) -> JsonObject:
    """The ``ChatResponse`` fields around ``data``, ``provider_responses`` and ``usage``."""
    return {
        "project_id": _project_id(body, projects),
        "num_samples": body.get("num_samples", 1),
        "logprobs": None,
        "suffix": None,
        "user": body.get("user"),
        "metadata": body.get("metadata"),
        "session_id": _session_id(body),
        "tool_choice": body.get("tool_choice"),
    }


def chat_response(
    body: JsonObject, samples: list[Sample], projects: Mapping[str, str] | None = None
) -> JsonObject:
    usage = {
        name: sum(sample.usage[name] for sample in samples)
        for name in ("prompt_tokens", "generation_tokens", "total_tokens", "reasoning_tokens")
    }
    return {
        "data": [sample.data for sample in samples],
        "provider_responses": [sample.provider_response for sample in samples],
        **_envelope(body, projects or {}),
        "usage": usage,
        "provider_request": samples[0].provider_request,
    }


def _sample_events(
    body: JsonObject, sample: Sample, projects: Mapping[str, str]
) -> list[JsonObject]:
    """One sample's stream: text deltas, then a final chunk with the finish reason, the tool
    calls, the messages and the sample's usage."""
    data = sample.data
    envelope = _envelope(body, projects)

    def event(chunk: JsonObject, *, final: bool) -> JsonObject:
        return {
            "data": [chunk],
            "provider_responses": [sample.provider_response] if final else [],
            **envelope,
            "usage": sample.usage if final else None,
            "provider_request": sample.provider_request if final else None,
        }

    def chunk(delta: str, **fields: Any) -> JsonObject:
        return {
            "id": data["id"],
            "index": data["index"],
            "output": delta,
            "raw_output": delta,
            "model_config_id": data["model_config_id"],
            "output_message": _full_message({"role": "assistant", "content": delta}),
            "inputs": data["inputs"],
            "finish_reason": None,
            "tool_results": None,
            "messages": None,
            "tool_calls": None,
            "tool_call": None,
            **fields,
        }

    events = [event(chunk(piece), final=False) for piece in stream_pieces(sample.text)]
    final = chunk(
        "",
        output_message=_full_message(
            {"role": "assistant", "content": "", "tool_calls": data["tool_calls"]}
        ),
        finish_reason=data["finish_reason"],
        tool_results=[],
        messages=data["messages"],
        tool_calls=data["tool_calls"],
        tool_call=data["tool_call"],
    )
    events.append(event(final, final=True))
    return events


def interleave(streams: Sequence[Sequence[JsonObject]]) -> list[JsonObject]:
    """Round-robin over the samples' event lists, as independent streams would arrive."""
    merged: list[JsonObject] = []
    for step in range(max((len(stream) for stream in streams), default=0)):
        merged.extend(stream[step] for stream in streams if step < len(stream))
    return merged


async def event_stream(
    body: JsonObject, samples: list[Sample], projects: Mapping[str, str] | None = None
) -> AsyncIterator[bytes]:
    """Data-only server-sent events, no terminator (Humanloop documents none)."""
    streams = [_sample_events(body, sample, projects or {}) for sample in samples]
    for event in interleave(streams):
        yield sse_event(event)
