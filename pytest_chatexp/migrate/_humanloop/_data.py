"""Humanloop datapoints, evaluators and logs -> typed records.

Datapoints (v4 testcases, v5 dataset versions) hold ``inputs``, ``messages`` (chat history sent
after the template) and ``target`` (what an evaluator compares with). Logs hold the config or
prompt version that answered, the inputs and messages sent, the answer (``output``,
``output_message`` with its tool calls), when, how fast and how many tokens.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .._records import MigrationError, Unmapped
from ._configs import ConfigSource, config_record

__all__ = [
    "DatapointRecord",
    "EvaluatorRecord",
    "LogRecord",
    "LoggedToolCall",
    "read_datapoints",
    "read_evaluator",
    "read_log",
]


@dataclass(frozen=True, slots=True)
class DatapointRecord:
    id: str | None
    inputs: Mapping[str, Any]
    messages: tuple[Mapping[str, Any], ...]
    target: Any
    where: str


@dataclass(frozen=True, slots=True)
class EvaluatorRecord:
    name: str
    kind: str  # python, llm, human, external...
    code: str | None  # the Python source, or the LLM evaluator's prompt
    return_type: str | None
    where: str


@dataclass(frozen=True, slots=True)
class LoggedToolCall:
    id: str
    name: str
    arguments: str  # JSON text, as the model wrote it


@dataclass(frozen=True, slots=True)
class LogRecord:
    id: str
    config: ConfigSource | None  # the config or prompt version embedded in the log
    config_ids: frozenset[str]  # every id the log names its config by
    inputs: Mapping[str, Any]
    messages: tuple[Mapping[str, Any], ...]
    output: str
    tool_calls: tuple[LoggedToolCall, ...]
    created_at: str
    latency_s: float | None
    prompt_tokens: int | None
    output_tokens: int | None
    finish_reason: str | None
    where: str


def read_datapoints(items: list[Any], name: str, prefix: str) -> list[DatapointRecord]:
    records = []
    for n, item in enumerate(items):
        where = f"{name}: {prefix}{n}{']' if prefix.endswith('[') else ''}"
        if not isinstance(item, Mapping):
            raise MigrationError(f"{where}: expected a datapoint (inputs, messages, target)")
        inputs = item.get("inputs") or {}
        if not isinstance(inputs, Mapping):
            raise MigrationError(f"{where}.inputs: expected a mapping of input names to values")
        messages = _messages(item.get("messages"), f"{where}.messages")
        records.append(
            DatapointRecord(
                None if item.get("id") in (None, "") else str(item["id"]),
                dict(inputs),
                messages,
                item.get("target"),
                where,
            )
        )
    return records


def _messages(value: Any, where: str) -> tuple[Mapping[str, Any], ...]:
    if value in (None, ""):
        return ()
    if not isinstance(value, list) or not all(
        isinstance(m, Mapping) and isinstance(m.get("role"), str) for m in value
    ):
        raise MigrationError(f"{where}: expected a list of messages with role and content")
    return tuple(dict(m) for m in value)


def read_evaluator(item: Mapping[str, Any], where: str) -> EvaluatorRecord:
    nested = item.get("spec")
    spec: Mapping[str, Any] = nested if isinstance(nested, Mapping) else item
    kind = str(spec.get("evaluator_type") or spec.get("type") or "python")
    code = spec.get("code")
    if code is None and isinstance(spec.get("prompt"), Mapping):
        code = json.dumps(spec["prompt"].get("template"), ensure_ascii=False)
    name = str(item.get("name") or item.get("path") or item.get("id") or "evaluator")
    return_type = spec.get("return_type")
    return EvaluatorRecord(
        name.rsplit("/", 1)[-1],
        kind,
        code if isinstance(code, str) else None,
        return_type if isinstance(return_type, str) else None,
        where,
    )


def read_log(item: Mapping[str, Any], where: str) -> tuple[LogRecord, list[Unmapped]]:
    embedded = item.get("prompt") if isinstance(item.get("prompt"), Mapping) else item.get("config")
    config: ConfigSource | None = None
    unmapped: list[Unmapped] = []
    ids = {str(item[k]) for k in ("config_id", "model_config_id", "version_id") if item.get(k)}
    if isinstance(embedded, Mapping):
        ids |= {str(embedded[k]) for k in ("id", "version_id") if embedded.get(k)}
        if "model" in embedded and any(
            k in embedded for k in ("chat_template", "template", "prompt_template")
        ):
            field_name = "prompt" if "prompt" in item else "config"
            config, unmapped = config_record(
                embedded, where=f"{where}.{field_name}", default_name=str(item.get("id", "log"))
            )
    inputs = item.get("inputs") or {}
    if not isinstance(inputs, Mapping):
        raise MigrationError(f"{where}.inputs: expected a mapping of input names to values")
    message = item.get("output_message")
    if message is not None and not isinstance(message, Mapping):
        raise MigrationError(f"{where}.output_message: expected a message (role, content)")
    output = item.get("output")
    if not isinstance(output, str):
        content = message.get("content") if message else None
        output = content if isinstance(content, str) else ""
    calls = _tool_calls((message or {}).get("tool_calls") or item.get("tool_calls"), where)
    return (
        LogRecord(
            id=str(item.get("id") or where),
            config=config,
            config_ids=frozenset(ids),
            inputs=dict(inputs),
            messages=_messages(item.get("messages"), f"{where}.messages"),
            output=output,
            tool_calls=calls,
            created_at=str(item.get("created_at") or ""),
            latency_s=_number(item.get("provider_latency"), f"{where}.provider_latency"),
            prompt_tokens=_count(item.get("prompt_tokens"), f"{where}.prompt_tokens"),
            output_tokens=_count(item.get("output_tokens"), f"{where}.output_tokens"),
            finish_reason=item.get("finish_reason")
            if isinstance(item.get("finish_reason"), str)
            else None,
            where=where,
        ),
        unmapped,
    )


def _tool_calls(value: Any, where: str) -> tuple[LoggedToolCall, ...]:
    if not value:
        return ()
    if not isinstance(value, list):
        raise MigrationError(f"{where}.output_message.tool_calls: expected a list of tool calls")
    calls = []
    for n, call in enumerate(value):
        function = call.get("function") if isinstance(call, Mapping) else None
        if not isinstance(function, Mapping) or not isinstance(function.get("name"), str):
            raise MigrationError(
                f"{where}.output_message.tool_calls[{n}].function: expected a name and arguments"
            )
        arguments = function.get("arguments") or "{}"
        if not isinstance(arguments, str):
            arguments = json.dumps(arguments, ensure_ascii=False)
        calls.append(
            LoggedToolCall(str(call.get("id") or f"call_{n}"), function["name"], arguments)
        )
    return tuple(calls)


def _number(value: Any, where: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise MigrationError(f"{where}: expected seconds (a number of at least 0)")
    return float(value)


def _count(value: Any, where: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise MigrationError(f"{where}: expected a token count (a whole number)")
    return value
