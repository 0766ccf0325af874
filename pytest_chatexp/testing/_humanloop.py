"""Humanloop's v4 chat wire format for the reference server.

Serves ``POST /v4/chat`` (inline model config), ``/v4/chat-experiment``, ``/v4/chat-model-config``
and ``/v4/chat-deployed`` (configs stored on the server, see :class:`HumanloopBackend`). Like
Humanloop, it renders the config's ``chat_template`` with ``inputs`` (``{{var}}``), appends the
request's ``messages``, asks the reply engine for each of ``num_samples`` samples through an
OpenAI-like provider request, and answers a ``ChatResponse``; with ``"stream": true`` it answers
data-only server-sent events, one ``ChatResponse`` chunk per event with samples interleaved.

Requests are checked against the v4 schemas (``additionalProperties: false``): problems are a
422 in FastAPI's ``HTTPValidationError`` shape, a missing ``X-API-KEY`` is a 401, and an unknown
experiment, config or deployment a 404. Everything is deterministic: ids are digests of the
request, and an experiment picks its config for each sample by a digest of the request and the
sample's position.

Standard library only, like the rest of :mod:`pytest_chatexp.testing`.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import Any, Final

from pytest_chatexp.testing._http import RecordedRequest, Response, json_response, sse_event
from pytest_chatexp.testing._replies import (
    Answer,
    JsonObject,
    ReplyEngine,
    short_digest,
    stream_pieces,
)

__all__ = ["HumanloopBackend", "humanloop_error"]

#: Fixed, so that whole provider responses are reproducible.
CREATED: Final = 1700000000

_ROLES: Final = frozenset({"user", "assistant", "system", "tool"})
_MESSAGE_FIELDS: Final = ("role", "content", "name", "tool_call_id", "tool_calls", "tool_call")
_COMMON_FIELDS: Final = frozenset(
    {
        "messages",
        "inputs",
        "project",
        "project_id",
        "session_id",
        "session_reference_id",
        "parent_id",
        "parent_reference_id",
        "source",
        "metadata",
        "save",
        "source_datapoint_id",
        "provider_api_keys",
        "num_samples",
        "stream",
        "user",
        "seed",
        "return_inputs",
        "tool_choice",
        "tool_call",
        "response_format",
    }
)
# Per endpoint: its own fields, and which fields are required.
_ENDPOINTS: Final[Mapping[str, tuple[frozenset[str], tuple[str, ...]]]] = {
    "chat": (_COMMON_FIELDS | {"model_config"}, ("messages", "model_config")),
    "chat-experiment": (_COMMON_FIELDS | {"experiment_id"}, ("messages", "experiment_id")),
    "chat-model-config": (_COMMON_FIELDS | {"model_config_id"}, ("messages", "model_config_id")),
    "chat-deployed": (_COMMON_FIELDS | {"environment"}, ("messages",)),
}
_STRING_FIELDS: Final = (
    "experiment_id",
    "model_config_id",
    "environment",
    "project",
    "project_id",
    "session_id",
    "session_reference_id",
    "parent_id",
    "parent_reference_id",
    "source",
    "source_datapoint_id",
    "user",
)
_CONFIG_FIELDS: Final = frozenset(
    {
        "name",
        "description",
        "provider",
        "model",
        "max_tokens",
        "temperature",
        "top_p",
        "stop",
        "presence_penalty",
        "frequency_penalty",
        "other",
        "seed",
        "response_format",
        "endpoint",
        "chat_template",
        "tools",
    }
)
_CONFIG_NUMBERS: Final = (
    "temperature",
    "top_p",
    "presence_penalty",
    "frequency_penalty",
)
_SAMPLING_FIELDS: Final = ("temperature", "top_p", "stop", "presence_penalty", "frequency_penalty")
_FINISH_REASONS: Final = {"tool_calls": "tool_call", "function_call": "tool_call"}
_PLACEHOLDER: Final = re.compile(r"\{\{\s*([^{}\s]+)\s*\}\}")

Problem = JsonObject
"""One item of an ``HTTPValidationError``: ``{"loc": [...], "msg": str, "type": str}``."""


def humanloop_error(status: int, detail: str | list[Problem]) -> Response:
    """An error in Humanloop's (FastAPI's) shape: ``{"detail": ...}``."""
    return json_response({"detail": detail}, status)


class _Refusal(Exception):
    """A request the handler answers with an error response instead of a ChatResponse."""

    def __init__(self, response: Response) -> None:
        super().__init__()
        self.response = response


def _invalid(problems: list[Problem]) -> _Refusal:
    return _Refusal(humanloop_error(422, problems))


class HumanloopBackend:
    """What the reference server knows of a Humanloop organisation: stored model configs,
    experiments and deployments. Tests script it through ``server.humanloop``::

        server.humanloop.experiments["exp_1"] = [{"model": "a"}, {"model": "b", "temperature": 1}]
        config_id = server.humanloop.add_model_config({"model": "m", "chat_template": [...]})
        server.humanloop.deploy("support", "exp_1", environment="production")

    Config dicts have the shape of Humanloop's ``ModelConfigChatRequest``, plus an optional
    ``"id"``; without one, a config's id is ``config_`` and a digest of its content (see
    :meth:`config_id`). Each sample of an experiment call picks one of the experiment's configs
    by a digest of the request and the sample's position (:meth:`choose`).
    """

    def __init__(self) -> None:
        #: Stored configs by id, for ``/chat-model-config`` and deployments.
        self.model_configs: dict[str, JsonObject] = {}
        #: Experiments by id: the configs each call samples from.
        self.experiments: dict[str, list[JsonObject]] = {}
        #: ``(project name or id, environment or None)`` -> a config id or an experiment id.
        self.deployments: dict[tuple[str, str | None], str] = {}
        self._lock = threading.Lock()

    # --- scripting ------------------------------------------------------------------------

    def add_model_config(self, config: Mapping[str, Any]) -> str:
        """Store a config for ``/chat-model-config`` and deployments; returns its id."""
        _check_stored_config(config)
        config_id = self.config_id(config)
        with self._lock:
            self.model_configs[config_id] = dict(config)
        return config_id

    def add_experiment(self, experiment_id: str, configs: Sequence[Mapping[str, Any]]) -> list[str]:
        """Store an experiment over ``configs``; returns their ids."""
        for config in configs:
            _check_stored_config(config)
        with self._lock:
            self.experiments[experiment_id] = [dict(config) for config in configs]
        return [self.config_id(config) for config in configs]

    def deploy(self, project: str, target: str, *, environment: str | None = None) -> None:
        """Deploy a stored config or an experiment (by id) to a project's environment
        (``None``: the default environment)."""
        with self._lock:
            self.deployments[(project, environment)] = target

    def clear(self) -> None:
        """Forget every config, experiment and deployment."""
        with self._lock:
            self.model_configs.clear()
            self.experiments.clear()
            self.deployments.clear()

    @staticmethod
    def config_id(config: Mapping[str, Any]) -> str:
        """A config's ``"id"``, or ``config_`` and 16 hex digits of its canonical JSON."""
        given = config.get("id")
        if isinstance(given, str):
            return given
        return "config_" + short_digest(_canonical(dict(config)), 16)

    def choose(self, experiment_id: str, body: JsonObject, position: int) -> JsonObject:
        """The config an experiment uses for sample ``position`` of the request ``body``.

        A digest of the request (without ``stream``, so a streamed request picks what the plain
        one does) and the position, so different inputs and samples spread over the configs.
        """
        configs = self.experiments[experiment_id]
        key = _sample_key(body, position)
        return configs[int(short_digest(key, 8), 16) % len(configs)]

    # --- handlers (wrapped by ReferenceServer._model_route) --------------------------------

    def chat(self, request: RecordedRequest, engine: ReplyEngine) -> Response:
        """``POST /v4/chat``: an inline ``model_config``."""
        return self._handle("chat", request, engine)

    def chat_experiment(self, request: RecordedRequest, engine: ReplyEngine) -> Response:
        """``POST /v4/chat-experiment``: a config sampled from the experiment, per sample."""
        return self._handle("chat-experiment", request, engine)

    def chat_model_config(self, request: RecordedRequest, engine: ReplyEngine) -> Response:
        """``POST /v4/chat-model-config``: a stored config by ``model_config_id``."""
        return self._handle("chat-model-config", request, engine)

    def chat_deployed(self, request: RecordedRequest, engine: ReplyEngine) -> Response:
        """``POST /v4/chat-deployed``: the project's deployment (config or experiment)."""
        return self._handle("chat-deployed", request, engine)

    def _handle(self, endpoint: str, request: RecordedRequest, engine: ReplyEngine) -> Response:
        if not request.headers.get("x-api-key"):
            return humanloop_error(401, "Missing API key: send it in the X-API-KEY header.")
        try:
            body = _validated(endpoint, request.json)
            pick = self._config_picker(endpoint, body)
            samples = [
                _Sample.answer(body, position, pick(position), engine)
                for position in range(body.get("num_samples", 1))
            ]
        except _Refusal as refusal:
            return refusal.response
        if body.get("stream") is True:
            return Response(200, _event_stream(body, samples), "text/event-stream")
        return json_response(_chat_response(body, samples))

    def _config_picker(self, endpoint: str, body: JsonObject) -> Callable[[int], _Config]:
        """For each sample position, the config that answers it (with its id)."""
        if endpoint == "chat":
            inline = _Config(self.config_id(body["model_config"]), body["model_config"])
            return lambda position: inline
        if endpoint == "chat-experiment":
            return self._experiment_picker(body["experiment_id"], body)
        if endpoint == "chat-model-config":
            return self._stored_picker(body["model_config_id"])
        project = body.get("project_id", body.get("project"))
        if project is None:
            raise _invalid(
                [_problem(("body", "project"), "either project or project_id is required")]
            )
        environment = body.get("environment")
        target = self.deployments.get((project, environment))
        if target is None and environment is None:
            raise _Refusal(
                humanloop_error(
                    404, f"Project '{project}' has no deployment in its default environment."
                )
            )
        if target is None:
            raise _Refusal(
                humanloop_error(
                    404, f"Project '{project}' has no deployment in environment '{environment}'."
                )
            )
        if target in self.experiments:
            return self._experiment_picker(target, body)
        return self._stored_picker(target)

    def _experiment_picker(self, experiment_id: str, body: JsonObject) -> Callable[[int], _Config]:
        if not self.experiments.get(experiment_id):
            raise _Refusal(humanloop_error(404, f"Experiment '{experiment_id}' not found."))

        def pick(position: int) -> _Config:
            config = self.choose(experiment_id, body, position)
            return _Config(self.config_id(config), _usable(config))

        return pick

    def _stored_picker(self, config_id: str) -> Callable[[int], _Config]:
        config = self.model_configs.get(config_id)
        if config is None:
            raise _Refusal(humanloop_error(404, f"Model config '{config_id}' not found."))
        stored = _Config(config_id, _usable(config))
        return lambda position: stored


class _Config:
    """A model config and the id the response reports for it."""

    __slots__ = ("fields", "id")

    def __init__(self, config_id: str, fields: JsonObject) -> None:
        self.id = config_id
        self.fields = fields


def _stored(config: Mapping[str, Any]) -> JsonObject:
    """A stored config without its ``id`` (which is not a model config field)."""
    return {key: value for key, value in config.items() if key != "id"}


def _stored_config_problem(config: Mapping[str, Any]) -> str | None:
    problems = _config_problems(_stored(config), ("model_config",))
    if not problems:
        return None
    text = "; ".join(f"{'.'.join(map(str, p['loc']))}: {p['msg']}" for p in problems)
    return f"not a Humanloop chat model config: {text}"


def _check_stored_config(config: Mapping[str, Any]) -> None:
    problem = _stored_config_problem(config)
    if problem is not None:
        raise ValueError(problem)


def _usable(config: Mapping[str, Any]) -> JsonObject:
    """A stored config to answer with; one scripted wrongly (straight into the dicts) is a 500
    saying why, not a crash."""
    problem = _stored_config_problem(config)
    if problem is not None:
        raise _Refusal(humanloop_error(500, f"A stored model config is {problem}"))
    return _stored(config)


# --- validation ---------------------------------------------------------------------------


def _problem(loc: Sequence[str | int], msg: str, kind: str = "value_error") -> Problem:
    return {"loc": list(loc), "msg": msg, "type": kind}


def _validated(endpoint: str, body: object) -> JsonObject:
    if not isinstance(body, dict):
        raise _invalid([_problem(("body",), "value is not a valid dict", "type_error.dict")])
    allowed, required = _ENDPOINTS[endpoint]
    problems = [
        _problem(("body", key), "extra fields not permitted", "value_error.extra")
        for key in body
        if key not in allowed
    ]
    problems += [
        _problem(("body", key), "field required", "value_error.missing")
        for key in required
        if key not in body
    ]
    problems += _field_problems(body)
    if "model_config" in body and "model_config" in allowed:
        problems += _config_problems(body["model_config"], ("body", "model_config"))
    if problems:
        raise _invalid(problems)
    return body


def _field_problems(body: JsonObject) -> list[Problem]:
    problems: list[Problem] = []
    if "messages" in body:
        problems += _messages_problems(body["messages"], ("body", "messages"))
    for name in _STRING_FIELDS:
        if name in body and not isinstance(body[name], str):
            problems.append(_problem(("body", name), "str type expected", "type_error.str"))
    for name in ("inputs", "metadata", "provider_api_keys"):
        if name in body and not isinstance(body[name], dict):
            problems.append(
                _problem(("body", name), "value is not a valid dict", "type_error.dict")
            )
    for name in ("stream", "save", "return_inputs"):
        if name in body and not isinstance(body[name], bool):
            problems.append(_problem(("body", name), "value could not be parsed to a boolean"))
    samples = body.get("num_samples", 1)
    if not isinstance(samples, int) or isinstance(samples, bool) or samples < 1:
        problems.append(
            _problem(("body", "num_samples"), "ensure this value is a positive integer")
        )
    if "response_format" in body:
        problems += _response_format_problems(body["response_format"], ("body", "response_format"))
    if "tool_choice" in body and not _is_tool_choice(body["tool_choice"]):
        problems.append(
            _problem(
                ("body", "tool_choice"),
                "value is not 'none', 'auto', 'required' or "
                "{'type': 'function', 'function': {'name': ...}}",
            )
        )
    return problems


def _messages_problems(messages: object, loc: tuple[str | int, ...]) -> list[Problem]:
    if not isinstance(messages, list):
        return [_problem(loc, "value is not a valid list", "type_error.list")]
    problems: list[Problem] = []
    for position, message in enumerate(messages):
        where = (*loc, position)
        if not isinstance(message, dict):
            problems.append(_problem(where, "value is not a valid dict", "type_error.dict"))
            continue
        problems += [
            _problem((*where, key), "extra fields not permitted", "value_error.extra")
            for key in message
            if key not in _MESSAGE_FIELDS
        ]
        if "role" not in message:
            problems.append(_problem((*where, "role"), "field required", "value_error.missing"))
        elif message["role"] not in _ROLES:
            problems.append(
                _problem(
                    (*where, "role"),
                    "value is not a valid enumeration member; permitted: 'user', 'assistant', "
                    "'system', 'tool'",
                    "type_error.enum",
                )
            )
        content = message.get("content")
        if content is not None and not isinstance(content, str | list):
            problems.append(_problem((*where, "content"), "str or list type expected"))
    return problems


def _response_format_problems(value: object, loc: tuple[str | int, ...]) -> list[Problem]:
    if not isinstance(value, dict):
        return [_problem(loc, "value is not a valid dict", "type_error.dict")]
    if value.get("type") != "json_object":
        return [
            _problem(
                (*loc, "type"),
                "value is not a valid enumeration member; permitted: 'json_object'",
                "type_error.enum",
            )
        ]
    return []


def _is_tool_choice(value: object) -> bool:
    if value in ("none", "auto", "required"):
        return True
    if not isinstance(value, dict) or value.get("type") != "function":
        return False
    function = value.get("function")
    return isinstance(function, dict) and isinstance(function.get("name"), str)


def _config_problems(config: object, loc: tuple[str | int, ...]) -> list[Problem]:
    if not isinstance(config, dict):
        return [_problem(loc, "value is not a valid dict", "type_error.dict")]
    problems = [
        _problem((*loc, key), "extra fields not permitted", "value_error.extra")
        for key in config
        if key not in _CONFIG_FIELDS
    ]
    if "model" not in config:
        problems.append(_problem((*loc, "model"), "field required", "value_error.missing"))
    elif not isinstance(config["model"], str):
        problems.append(_problem((*loc, "model"), "str type expected", "type_error.str"))
    for name in _CONFIG_NUMBERS:
        value = config.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
            problems.append(
                _problem((*loc, name), "value is not a valid float", "type_error.float")
            )
    for name in ("max_tokens", "seed"):
        value = config.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            problems.append(
                _problem((*loc, name), "value is not a valid integer", "type_error.integer")
            )
    if config.get("endpoint", "chat") not in ("complete", "chat", "edit"):
        problems.append(
            _problem(
                (*loc, "endpoint"),
                "value is not a valid enumeration member; permitted: 'complete', 'chat', 'edit'",
                "type_error.enum",
            )
        )
    if "response_format" in config:
        problems += _response_format_problems(config["response_format"], (*loc, "response_format"))
    if "chat_template" in config:
        problems += _messages_problems(config["chat_template"], (*loc, "chat_template"))
    tools = config.get("tools")
    if tools is not None:
        if not isinstance(tools, list):
            problems.append(
                _problem((*loc, "tools"), "value is not a valid list", "type_error.list")
            )
        else:
            for position, tool in enumerate(tools):
                if not isinstance(tool, dict) or not (
                    isinstance(tool.get("name"), str) or isinstance(tool.get("id"), str)
                ):
                    problems.append(
                        _problem(
                            (*loc, "tools", position, "name"),
                            "field required",
                            "value_error.missing",
                        )
                    )
    return problems


# --- answering ----------------------------------------------------------------------------


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _sample_key(body: JsonObject, position: int) -> str:
    """What a sample's digests are made of: the request without ``stream`` (a streamed request
    answers what the plain one does) and the sample's position."""
    return _canonical({k: v for k, v in body.items() if k != "stream"}) + f"|{position}"


def _as_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


def _render(text: str, inputs: Mapping[str, Any], loc: tuple[str | int, ...]) -> str:
    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in inputs:
            raise _invalid(
                [
                    _problem(
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
    return {name: message.get(name) for name in _MESSAGE_FIELDS}


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


class _Sample:
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
    def answer(
        cls, body: JsonObject, position: int, config: _Config, engine: ReplyEngine
    ) -> _Sample:
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
        key = _sample_key(body, position)
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


def _project_id(body: JsonObject) -> str | None:
    if isinstance(body.get("project_id"), str):
        project_id: str = body["project_id"]
        return project_id
    if isinstance(body.get("project"), str):
        return "pr_" + short_digest(body["project"], 16)
    return None


def _envelope(body: JsonObject) -> JsonObject:
    """The ``ChatResponse`` fields around ``data``, ``provider_responses`` and ``usage``."""
    return {
        "project_id": _project_id(body),
        "num_samples": body.get("num_samples", 1),
        "logprobs": None,
        "suffix": None,
        "user": body.get("user"),
        "metadata": body.get("metadata"),
        "session_id": body.get("session_id"),
        "tool_choice": body.get("tool_choice"),
    }


def _chat_response(body: JsonObject, samples: list[_Sample]) -> JsonObject:
    usage = {
        name: sum(sample.usage[name] for sample in samples)
        for name in ("prompt_tokens", "generation_tokens", "total_tokens", "reasoning_tokens")
    }
    return {
        "data": [sample.data for sample in samples],
        "provider_responses": [sample.provider_response for sample in samples],
        **_envelope(body),
        "usage": usage,
        "provider_request": samples[0].provider_request,
    }


def _sample_events(body: JsonObject, sample: _Sample) -> list[JsonObject]:
    """One sample's stream: text deltas, then a final chunk with the finish reason, the tool
    calls, the messages and the sample's usage."""
    data = sample.data
    envelope = _envelope(body)

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


async def _event_stream(body: JsonObject, samples: list[_Sample]) -> AsyncIterator[bytes]:
    """Data-only server-sent events, no terminator (Humanloop documents none)."""
    for event in interleave([_sample_events(body, sample) for sample in samples]):
        yield sse_event(event)
