"""Humanloop v4 request validation for the reference server: what :mod:`._humanloop` refuses.

Requests are checked against the v4 schemas (``additionalProperties: false``): problems are a 422
in FastAPI's ``HTTPValidationError`` shape (:class:`Refusal` carries the response). Stored configs
(scripted by tests) are checked too: a bad one is a ``ValueError`` when scripted through
:class:`~._humanloop.HumanloopBackend`, a 500 when it was put straight into its dicts.

Standard library only, like the rest of :mod:`pytest_chatexp.testing`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from pytest_chatexp.testing._http import Response, json_response
from pytest_chatexp.testing._replies import JsonObject

_ROLES: Final = frozenset({"user", "assistant", "system", "tool"})
MESSAGE_FIELDS: Final = ("role", "content", "name", "tool_call_id", "tool_calls", "tool_call")
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

Problem = JsonObject
"""One item of an ``HTTPValidationError``: ``{"loc": [...], "msg": str, "type": str}``."""


def humanloop_error(status: int, detail: str | list[Problem]) -> Response:
    """An error in Humanloop's (FastAPI's) shape: ``{"detail": ...}``."""
    return json_response({"detail": detail}, status)


class Refusal(Exception):
    """A request the handler answers with an error response instead of a ChatResponse."""

    def __init__(self, response: Response) -> None:
        super().__init__()
        self.response = response


def invalid(problems: list[Problem]) -> Refusal:
    return Refusal(humanloop_error(422, problems))


def _stored(config: Mapping[str, Any]) -> JsonObject:
    """A stored config without its ``id`` (which is not a model config field)."""
    return {key: value for key, value in config.items() if key != "id"}


def _stored_config_problem(config: Mapping[str, Any]) -> str | None:
    problems = _config_problems(_stored(config), ("model_config",))
    if not problems:
        return None
    text = "; ".join(f"{'.'.join(map(str, p['loc']))}: {p['msg']}" for p in problems)
    return f"not a Humanloop chat model config: {text}"


def check_stored_config(config: Mapping[str, Any]) -> None:
    problem = _stored_config_problem(config)
    if problem is not None:
        raise ValueError(problem)


def usable(config: Mapping[str, Any]) -> JsonObject:
    """A stored config to answer with; one scripted wrongly (straight into the dicts) is a 500
    saying why, not a crash."""
    problem = _stored_config_problem(config)
    if problem is not None:
        raise Refusal(humanloop_error(500, f"A stored model config is {problem}"))
    return _stored(config)


def problem(loc: Sequence[str | int], msg: str, kind: str = "value_error") -> Problem:
    return {"loc": list(loc), "msg": msg, "type": kind}


def validated(endpoint: str, body: object) -> JsonObject:
    if not isinstance(body, dict):
        raise invalid([problem(("body",), "value is not a valid dict", "type_error.dict")])
    allowed, required = _ENDPOINTS[endpoint]
    problems = [
        problem(("body", key), "extra fields not permitted", "value_error.extra")
        for key in body
        if key not in allowed
    ]
    problems += [
        problem(("body", key), "field required", "value_error.missing")
        for key in required
        if key not in body
    ]
    problems += _field_problems(body)
    if "model_config" in body and "model_config" in allowed:
        problems += _config_problems(body["model_config"], ("body", "model_config"))
    if problems:
        raise invalid(problems)
    return body


def _field_problems(body: JsonObject) -> list[Problem]:
    problems: list[Problem] = []
    if "messages" in body:
        problems += _messages_problems(body["messages"], ("body", "messages"))
    for name in _STRING_FIELDS:
        if name in body and not isinstance(body[name], str):
            problems.append(problem(("body", name), "str type expected", "type_error.str"))
    for name in ("inputs", "metadata", "provider_api_keys"):
        if name in body and not isinstance(body[name], dict):
            problems.append(problem(("body", name), "value is not a valid dict", "type_error.dict"))
    for name in ("stream", "save", "return_inputs"):
        if name in body and not isinstance(body[name], bool):
            problems.append(problem(("body", name), "value could not be parsed to a boolean"))
    samples = body.get("num_samples", 1)
    if not isinstance(samples, int) or isinstance(samples, bool) or samples < 1:
        problems.append(problem(("body", "num_samples"), "ensure this value is a positive integer"))
    if "response_format" in body:
        problems += _response_format_problems(body["response_format"], ("body", "response_format"))
    if "tool_choice" in body and not _is_tool_choice(body["tool_choice"]):
        problems.append(
            problem(
                ("body", "tool_choice"),
                "value is not 'none', 'auto', 'required' or "
                "{'type': 'function', 'function': {'name': ...}}",
            )
        )
    return problems


def _messages_problems(messages: object, loc: tuple[str | int, ...]) -> list[Problem]:
    if not isinstance(messages, list):
        return [problem(loc, "value is not a valid list", "type_error.list")]
    problems: list[Problem] = []
    for position, message in enumerate(messages):
        where = (*loc, position)
        if not isinstance(message, dict):
            problems.append(problem(where, "value is not a valid dict", "type_error.dict"))
            continue
        problems += [
            problem((*where, key), "extra fields not permitted", "value_error.extra")
            for key in message
            if key not in MESSAGE_FIELDS
        ]
        if "role" not in message:
            problems.append(problem((*where, "role"), "field required", "value_error.missing"))
        elif message["role"] not in _ROLES:
            problems.append(
                problem(
                    (*where, "role"),
                    "value is not a valid enumeration member; permitted: 'user', 'assistant', "
                    "'system', 'tool'",
                    "type_error.enum",
                )
            )
        content = message.get("content")
        if content is not None and not isinstance(content, str | list):
            problems.append(problem((*where, "content"), "str or list type expected"))
    return problems


def _response_format_problems(value: object, loc: tuple[str | int, ...]) -> list[Problem]:
    if not isinstance(value, dict):
        return [problem(loc, "value is not a valid dict", "type_error.dict")]
    if value.get("type") != "json_object":
        return [
            problem(
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
        return [problem(loc, "value is not a valid dict", "type_error.dict")]
    problems = [
        problem((*loc, key), "extra fields not permitted", "value_error.extra")
        for key in config
        if key not in _CONFIG_FIELDS
    ]
    if "model" not in config:
        problems.append(problem((*loc, "model"), "field required", "value_error.missing"))
    elif not isinstance(config["model"], str):
        problems.append(problem((*loc, "model"), "str type expected", "type_error.str"))
    for name in _CONFIG_NUMBERS:
        value = config.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
            problems.append(problem((*loc, name), "value is not a valid float", "type_error.float"))
    for name in ("max_tokens", "seed"):
        value = config.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            problems.append(
                problem((*loc, name), "value is not a valid integer", "type_error.integer")
            )
    if config.get("endpoint", "chat") not in ("complete", "chat", "edit"):
        problems.append(
            problem(
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
                problem((*loc, "tools"), "value is not a valid list", "type_error.list")
            )
        else:
            for position, tool in enumerate(tools):
                if not isinstance(tool, dict) or not (
                    isinstance(tool.get("name"), str) or isinstance(tool.get("id"), str)
                ):
                    problems.append(
                        problem(
                            (*loc, "tools", position, "name"),
                            "field required",
                            "value_error.missing",
                        )
                    )
    return problems
