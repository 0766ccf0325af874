"""Humanloop's v4 chat API (``POST {base_url}/chat``, ``/chat-experiment``,
``/chat-model-config``, ``/chat-deployed``), authenticated with the ``X-API-KEY`` header.

A config selects it with ``provider="humanloop"``; which endpoint it calls, and with what, is
chosen by keys of ``ModelConfig.other``. Those keys are read here and never sent as such, because
every Humanloop request body rejects unknown fields (``additionalProperties: false``):

``humanloop_endpoint``
    ``"chat"``, ``"chat-experiment"``, ``"chat-model-config"`` or ``"chat-deployed"``. Optional:
    inferred from the keys below (``experiment_id`` -> chat-experiment, ``model_config_id`` ->
    chat-model-config, ``environment`` -> chat-deployed), otherwise ``chat``.
``humanloop_provider``
    ``/chat`` only: the provider Humanloop calls for the inline config (default ``"openai"``);
    one of the v4 ``ModelProviders`` enum.
``humanloop_tools``
    ``/chat`` only: tools saved to the organisation, linked by id
    (``[{"id": "oc_...", "source": "organization"}]``, ``source`` may be left out), sent after
    the config's own ``tools``; Humanloop runs them and returns their ``tool_results``.
``experiment_id``, ``model_config_id``, ``environment``
    The request field of that endpoint. ``/chat-deployed`` also needs ``project`` or
    ``project_id``; ``environment`` is optional there (Humanloop's default environment).
``stream``
    ``True`` asks for data-only server-sent events (assembled by :func:`assemble_stream`).
``project``, ``project_id``, ``metadata``, ``source``, ``save``, ``user``, ``session_id``,
``session_reference_id``, ``parent_id``, ``parent_reference_id``, ``source_datapoint_id``,
``return_inputs``
    Top-level request fields, sent as given (on every endpoint).
anything else
    ``/chat``: the inline model config's ``other`` (parameters Humanloop passes to the provider).
    Other endpoints: an error, since the stored config owns the provider parameters.

``/chat`` sends the config inline (``model_config``) with its *unrendered* ``chat_template`` plus
the input's variables as ``inputs``, so Humanloop renders the template; the call's messages after
the template go in ``messages``. The other endpoints use a config stored on Humanloop: they send
every rendered message of the call (the local ``chat_template``, if any, included) and ``inputs``
for the stored template; ``model`` is then only a label, and sampling parameters or tools on the
local config are an error (only ``tool_choice`` and ``response_format`` are request fields).

Every request asks for ``num_samples: 1``: the plugin makes one call per sample, so that each
sample is recorded and replayed on its own, and adds the sample's index to ``metadata``
(``"chatexp_sample"``), so that an input's N samples are N distinguishable requests (Humanloop
logs each apart; an experiment may serve each another config). In an experiment Humanloop picks
the config per call; its id comes back as the sample's ``model_config_id``. A flat row's ``id``
names the case and is not sent in ``inputs`` (unless the local template uses ``{{id}}``).

What Humanloop answers beyond the message (log id, project, session, user, metadata, its own
``provider_request``/``provider_responses`` with the model, its rendering of the messages, the
inputs it echoed) comes back as ``ProviderReply.humanloop`` and ends up in
``Case.to_chat_response()``; our ``/v4`` exchange stays in the recording. The sample is priced
by the model Humanloop reports calling. :func:`check_config` runs at collection.

Provider keys (``provider_api_keys``) are not supported: they are body fields, and request bodies
are recorded, so a key would end up in a committed recording. Humanloop then uses the keys saved
to the organisation.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar, Final

from pydantic import ValidationError

from .._errors import InvalidExperimentError, ProviderError
from .._experiment._config import ModelConfig
from .._experiment._humanloop import (
    ChatMessage,
    ChatResponse,
    HumanloopLog,
    ModelConfigChatRequest,
    ToolChoice,
    Usage,
)
from .._experiment._spec import PlannedCall
from .._validation import describe_validation_error
from ._base import (
    Provider,
    ProviderReply,
    WireRequest,
    any_event_item_has,
    endpoint_url,
    humanloop_finish_reason,
)
from ._humanloop_config import (
    _ENDPOINT_FIELD,
    _INLINE_ONLY,
    _NOT_PASSED_THROUGH,
    _REQUEST_FIELDS,
    ENDPOINTS,
    PROVIDERS,
    SAMPLE_KEY,
    endpoint_of,
    linked_tools,
)
from ._humanloop_stream import assemble_stream, pick

__all__ = [
    "ENDPOINTS",
    "PROVIDERS",
    "SAMPLE_KEY",
    "HumanloopProvider",
    "assemble_stream",
    "check_config",
]

_ID_PLACEHOLDER: Final = re.compile(r"\{\{\s*id\s*\}\}")


class HumanloopProvider(Provider):
    kind: ClassVar[str] = "humanloop"
    default_base_url: ClassVar[str] = "https://api.humanloop.com/v4"
    default_api_key_env: ClassVar[str | None] = "HUMANLOOP_API_KEY"
    base_url_env: ClassVar[str | None] = "HUMANLOOP_BASE_URL"

    def build_request(self, call: PlannedCall, *, base_url: str) -> WireRequest:
        config = call.config
        endpoint = check_config(config)
        other = config.other
        body: dict[str, Any] = {}
        if endpoint == "chat":
            template = len(config.chat_template)
            body["model_config"] = _inline_config(config)
            body["messages"] = [_wire_message(message) for message in call.messages[template:]]
        else:
            field_name = _ENDPOINT_FIELD[endpoint]
            if field_name in other:
                body[field_name] = other[field_name]
            body["messages"] = [_wire_message(message) for message in call.messages]
        body["inputs"] = _inputs(call)
        body["num_samples"] = 1
        for name in _REQUEST_FIELDS:
            if name in other:
                body[name] = other[name]
        body["metadata"] = {**(other.get("metadata") or {}), SAMPLE_KEY: call.sample_index}
        if isinstance(config.tool_choice, ToolChoice):
            body["tool_choice"] = config.tool_choice.model_dump(mode="json")
        elif config.tool_choice is not None:
            body["tool_choice"] = config.tool_choice
        if endpoint != "chat" and config.response_format is not None:
            body["response_format"] = config.response_format
        if other.get("stream") is True:
            body["stream"] = True
        return WireRequest(url=endpoint_url(base_url, endpoint), body=body)

    def auth_headers(self, api_key: str) -> dict[str, str]:
        return {"X-API-KEY": api_key}

    def parse_response(self, body: Any) -> ProviderReply:
        if isinstance(body, list):
            return pick(assemble_stream(body), what="stream samples")
        try:
            response = ChatResponse.model_validate(body)
        except ValidationError as exc:
            raise ProviderError(
                "the response is not a Humanloop ChatResponse: " + describe_validation_error(exc)
            ) from None
        by_index = {item.index: item for item in response.data}
        item = pick(by_index, what="data items")
        responses = list(response.provider_responses)
        if len(response.data) > 1 and len(responses) == len(response.data):
            # One raw answer per sample, in the order of ``data``: this sample's.
            responses = [responses[response.data.index(item)]]
        message = item.output_message
        if message.tool_calls is None and item.tool_calls:
            # ``data[].tool_calls`` is the deprecated copy; prefer the message's own.
            message = message.model_copy(update={"tool_calls": list(item.tool_calls)})
        return ProviderReply(
            message=message,
            raw_output=item.raw_output,
            finish_reason=humanloop_finish_reason(item.finish_reason),
            usage=response.usage or Usage(),
            model_config_id=item.model_config_id,
            log_id=item.id,
            output=item.output,
            tool_results=item.tool_results,
            humanloop=HumanloopLog(
                project_id=response.project_id,
                session_id=response.session_id,
                user=response.user,
                metadata=response.metadata,
                provider_request=response.provider_request,
                provider_responses=responses,
                messages=item.messages,
                inputs=item.inputs,
            ),
        )

    def stream_finished(self, events: list[Any]) -> bool:
        # Each sample's last event carries its finish reason; a cut stream has none.
        return any_event_item_has(events, "data", "finish_reason")

    def error_message(self, body: Any) -> str | None:
        """``HTTPValidationError`` as ``field.path: msg; ...``; other ``detail`` shapes as text."""
        if not isinstance(body, dict):
            return None
        detail = body.get("detail")
        if isinstance(detail, str):
            return detail
        if isinstance(detail, list):
            problems = [_describe_problem(item) for item in detail]
            return "; ".join(problem for problem in problems if problem) or None
        if isinstance(detail, dict):
            message = detail.get("message") or detail.get("msg")
            if isinstance(message, str):
                origin = detail.get("origin")
                return f"{origin}: {message}" if isinstance(origin, str) else message
        return None


def check_config(config: ModelConfig) -> str:
    """Every Humanloop-only constraint on a config, checked at collection and before each
    call; returns the endpoint it calls. Errors name the config and the field."""
    where = f"model config '{config.display_name}'"
    if config.reasoning is not None:
        raise InvalidExperimentError(
            f"{where}: Humanloop v4 has no reasoning setting "
            "(its model config has no reasoning_effort or thinking field); remove "
            "'reasoning', or pass the provider's own parameter in 'other'"
        )
    endpoint = endpoint_of(config)
    if config.response_format is not None and config.response_format.get("type") != "json_object":
        raise InvalidExperimentError(
            f"{where}: response_format type {config.response_format.get('type')!r} is not "
            "accepted by Humanloop's v4 chat API (its ResponseFormat allows only "
            "{'type': 'json_object'}, on every endpoint); use json_object, and check the shape "
            "with a JSON schema check"
        )
    if endpoint == "chat":
        _inline_config(config)
    else:
        _refuse_inline_fields(config, endpoint)
    return endpoint


def _inline_config(config: ModelConfig) -> dict[str, Any]:
    """The config as Humanloop's ``ModelConfigChatRequest``, template unrendered."""
    where = f"model config '{config.display_name}'"
    fields: dict[str, Any] = {
        "model": config.model,
        "provider": config.other.get("humanloop_provider", "openai"),
    }
    for name in (
        "max_tokens",
        "temperature",
        "top_p",
        "stop",
        "presence_penalty",
        "frequency_penalty",
        "seed",
        "response_format",
    ):
        value = getattr(config, name)
        if value is not None:
            fields[name] = value
    passthrough = {
        key: value for key, value in config.other.items() if key not in _NOT_PASSED_THROUGH
    }
    if passthrough:
        fields["other"] = passthrough
    if config.chat_template:
        fields["chat_template"] = [_wire_message(message) for message in config.chat_template]
    if config.tools:
        tools = []
        for position, tool in enumerate(config.tools):
            if tool.strict is not None:
                raise InvalidExperimentError(
                    f"{where}: tools[{position}].strict is not supported by Humanloop's v4 chat "
                    "API (ModelConfigToolRequest has no 'strict'); remove it"
                )
            tools.append(tool.model_dump(exclude_none=True, exclude={"strict"}))
        fields["tools"] = tools
    if "humanloop_tools" in config.other:
        fields["tools"] = [*fields.get("tools", []), *linked_tools(config)]
    return ModelConfigChatRequest.model_validate(fields).to_json_dict()


def _inputs(call: PlannedCall) -> dict[str, Any]:
    """The input's variables, less a flat row's ``id`` (it names the case: not a template
    variable, unless a local template uses it)."""
    inputs = dict(call.input.inputs)
    if "id" in inputs and str(inputs["id"]) == call.input.id:
        texts = [message.model_dump_json() for message in call.config.chat_template]
        if not any(_ID_PLACEHOLDER.search(text) for text in texts):
            del inputs["id"]
    return inputs


def _refuse_inline_fields(config: ModelConfig, endpoint: str) -> None:
    sent = [name for name in _INLINE_ONLY if getattr(config, name) not in (None, ())]
    extra = sorted(set(config.other) - _NOT_PASSED_THROUGH)
    if sent or extra:
        names = ", ".join([*sent, *(f"other['{key}']" for key in extra)])
        raise InvalidExperimentError(
            f"model config '{config.display_name}': {names} cannot be sent to /{endpoint}: the "
            "model config stored on Humanloop decides the model's parameters and tools; remove "
            "them, or call /chat with an inline config"
        )


def _wire_message(message: ChatMessage) -> dict[str, Any]:
    return message.model_dump(mode="json", by_alias=True, exclude_none=True)


def _describe_problem(item: Any) -> str:
    """One ``ValidationError`` item (``{"loc": [...], "msg": ..., "type": ...}``) as text."""
    if not isinstance(item, dict):
        return str(item)
    loc = item.get("loc")
    parts = list(loc) if isinstance(loc, list) else []
    if parts and parts[0] == "body":  # FastAPI's marker for "in the JSON body"
        parts = parts[1:]
    path = ""
    for part in parts:
        path += f"[{part}]" if isinstance(part, int) else ("." if path else "") + str(part)
    message = item.get("msg")
    text = message if isinstance(message, str) else "invalid"
    return f"{path or '(body)'}: {text}"
