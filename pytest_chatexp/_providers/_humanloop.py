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
    ``/chat`` only: the provider Humanloop calls for the inline config (default ``"openai"``).
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
sample is recorded and replayed on its own. In an experiment Humanloop picks the config per call;
its id comes back as the sample's ``model_config_id``.

Provider keys (``provider_api_keys``) are not supported: they are body fields, and request bodies
are recorded, so a key would end up in a committed recording. Humanloop then uses the keys saved
to the organisation.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Final, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from .._errors import InvalidExperimentError, ProviderError
from .._experiment._config import ModelConfig
from .._experiment._humanloop import (
    ChatMessage,
    ChatResponse,
    ModelConfigChatRequest,
    ToolCall,
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

__all__ = ["ENDPOINTS", "HumanloopProvider", "assemble_stream"]

_T = TypeVar("_T")

ENDPOINTS: Final = ("chat", "chat-experiment", "chat-model-config", "chat-deployed")

# The endpoint-specific request field of each stored-config endpoint.
_ENDPOINT_FIELD: Final[Mapping[str, str]] = {
    "chat-experiment": "experiment_id",
    "chat-model-config": "model_config_id",
    "chat-deployed": "environment",
}
# ``other`` keys that steer this provider and are not sent under their own name.
_CONTROL_KEYS: Final = frozenset(
    {"humanloop_endpoint", "humanloop_provider", "stream", *_ENDPOINT_FIELD.values()}
)
# Top-level fields of every Humanloop chat request that ``other`` may set.
_REQUEST_FIELDS: Final = (
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
    "user",
    "return_inputs",
)
# ``other`` keys that are not the inline config's own ``other`` (passed through on /chat,
# refused elsewhere).
_NOT_PASSED_THROUGH: Final = _CONTROL_KEYS | frozenset(_REQUEST_FIELDS)
# Request fields the plugin owns, with what to do instead.
_OWNED_FIELDS: Final[Mapping[str, str]] = {
    "provider_api_keys": (
        "provider keys would be recorded with the request body; Humanloop uses the keys saved "
        "to your organisation"
    ),
    "num_samples": "use the experiment's num_samples (each sample is one call)",
    "messages": "messages come from the chat template, the experiment and the input",
    "inputs": "inputs come from the experiment's inputs",
    "model_config": "the inline model config is built from this ModelConfig",
    "tool_choice": "set the config's tool_choice",
    "response_format": "set the config's response_format",
    "tool_call": "set the config's tool_choice",
    "seed": "set the config's seed (/chat only)",
}
# ModelConfig fields that only an inline config (``/chat``) can carry.
_INLINE_ONLY: Final = (
    "temperature",
    "max_tokens",
    "top_p",
    "stop",
    "presence_penalty",
    "frequency_penalty",
    "seed",
    "tools",
)


class HumanloopProvider(Provider):
    kind: ClassVar[str] = "humanloop"
    default_base_url: ClassVar[str] = "https://api.humanloop.com/v4"
    default_api_key_env: ClassVar[str | None] = "HUMANLOOP_API_KEY"
    base_url_env: ClassVar[str | None] = "HUMANLOOP_BASE_URL"

    def build_request(self, call: PlannedCall, *, base_url: str) -> WireRequest:
        config = call.config
        if config.reasoning is not None:
            raise InvalidExperimentError(
                f"model config '{config.display_name}': Humanloop v4 has no reasoning setting "
                "(its model config has no reasoning_effort or thinking field); remove "
                "'reasoning', or pass the provider's own parameter in 'other'"
            )
        endpoint = endpoint_of(config)
        other = config.other
        body: dict[str, Any] = {}
        if endpoint == "chat":
            template = len(config.chat_template)
            body["model_config"] = _inline_config(config)
            body["messages"] = [_wire_message(message) for message in call.messages[template:]]
        else:
            _refuse_inline_fields(config, endpoint)
            field_name = _ENDPOINT_FIELD[endpoint]
            if field_name in other:
                body[field_name] = other[field_name]
            body["messages"] = [_wire_message(message) for message in call.messages]
        body["inputs"] = dict(call.input.inputs)
        body["num_samples"] = 1
        for name in _REQUEST_FIELDS:
            if name in other:
                body[name] = other[name]
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
            return _pick(assemble_stream(body), what="stream samples")
        try:
            response = ChatResponse.model_validate(body)
        except ValidationError as exc:
            raise ProviderError(
                "the response is not a Humanloop ChatResponse: " + describe_validation_error(exc)
            ) from None
        by_index = {item.index: item for item in response.data}
        item = _pick(by_index, what="data items")
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


def endpoint_of(config: ModelConfig) -> str:
    """The Humanloop endpoint a config calls (see the module docs), or a readable error."""
    other = config.other
    where = f"model config '{config.display_name}'"
    for name, reason in _OWNED_FIELDS.items():
        if name in other:
            raise InvalidExperimentError(f"{where}: other['{name}'] is not supported: {reason}")
    explicit = other.get("humanloop_endpoint")
    if explicit is not None:
        if explicit not in ENDPOINTS:
            raise InvalidExperimentError(
                f"{where}: other['humanloop_endpoint'] is {explicit!r}; expected one of "
                + ", ".join(repr(name) for name in ENDPOINTS)
            )
        endpoint: str = explicit
    else:
        endpoint = next(
            (name for name, key in _ENDPOINT_FIELD.items() if key in other),
            "chat",
        )
    for name, key in _ENDPOINT_FIELD.items():
        if key in other and name != endpoint:
            raise InvalidExperimentError(
                f"{where}: other['{key}'] belongs to /{name}, but the config calls /{endpoint}"
            )
        if key in other and not isinstance(other[key], str):
            raise InvalidExperimentError(f"{where}: other['{key}'] must be a string")
    if endpoint == "chat-experiment" and "experiment_id" not in other:
        raise InvalidExperimentError(f"{where}: /chat-experiment needs other['experiment_id']")
    if endpoint == "chat-model-config" and "model_config_id" not in other:
        raise InvalidExperimentError(f"{where}: /chat-model-config needs other['model_config_id']")
    if endpoint == "chat-deployed" and "project" not in other and "project_id" not in other:
        raise InvalidExperimentError(
            f"{where}: /chat-deployed needs other['project'] or other['project_id'] (the project "
            "whose deployment answers)"
        )
    if endpoint != "chat" and "humanloop_provider" in other:
        raise InvalidExperimentError(
            f"{where}: other['humanloop_provider'] applies to /chat only; the stored config of "
            f"/{endpoint} names its own provider"
        )
    if "stream" in other and not isinstance(other["stream"], bool):
        raise InvalidExperimentError(f"{where}: other['stream'] must be true or false")
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
    return ModelConfigChatRequest.model_validate(fields).to_json_dict()


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


def _pick(by_index: Mapping[int, _T], *, what: str) -> _T:
    """Sample 0, or the only one: each call asks for one sample."""
    if 0 in by_index:
        return by_index[0]
    if len(by_index) == 1:
        return next(iter(by_index.values()))
    if not by_index:
        raise ProviderError(f"the response has no {what}")
    raise ProviderError(
        f"the response has {len(by_index)} {what} (indexes {sorted(by_index)}) and none is 0"
    )


# --- streams -------------------------------------------------------------------------------


class _Chunk(BaseModel):
    """One ``data`` item of a stream event: every field optional, since chunks are partial."""

    model_config = ConfigDict(extra="allow", protected_namespaces=())

    index: int = 0
    output: str | None = None
    raw_output: str | None = None
    finish_reason: str | None = None
    model_config_id: str | None = None
    output_message: ChatMessage | None = None
    tool_calls: list[ToolCall] | None = None


class _Event(BaseModel):
    model_config = ConfigDict(extra="allow")

    data: list[_Chunk]
    usage: Usage | None = None


@dataclass
class _Assembly:
    pieces: list[str] = field(default_factory=list)
    finish_reason: str | None = None
    model_config_id: str | None = None
    tool_calls: list[ToolCall] | None = None
    usage: Usage | None = None
    last_message: ChatMessage | None = None

    def add(self, chunk: _Chunk, usage: Usage | None) -> None:
        delta = chunk.raw_output if chunk.raw_output is not None else chunk.output
        if delta:
            self.pieces.append(delta)
        self.finish_reason = chunk.finish_reason or self.finish_reason
        self.model_config_id = chunk.model_config_id or self.model_config_id
        calls = chunk.output_message.tool_calls if chunk.output_message is not None else None
        self.tool_calls = calls or chunk.tool_calls or self.tool_calls
        self.usage = usage or self.usage
        self.last_message = chunk.output_message or self.last_message

    def reply(self) -> ProviderReply:
        text = "".join(self.pieces)
        content = text if text or not self.tool_calls else None
        # The final chunk's message, as Humanloop shapes it, with the whole text.
        base = self.last_message or ChatMessage(role="assistant")
        message = base.model_copy(update={"content": content, "tool_calls": self.tool_calls})
        return ProviderReply(
            message=message,
            raw_output=text,
            finish_reason=humanloop_finish_reason(self.finish_reason),
            usage=self.usage or Usage(),
            model_config_id=self.model_config_id,
        )


def assemble_stream(events: Sequence[Any]) -> dict[int, ProviderReply]:
    """The replies a Humanloop stream adds up to, by sample index.

    Each event is a ``ChatResponse`` whose single ``data`` item is one sample's chunk; samples
    interleave, told apart by ``index``. A sample's text is its chunks' deltas joined
    (``raw_output``, else ``output``), its finish reason the last one set (Humanloop sets it on
    the final chunk only), its tool calls and model config id the last ones sent, and its usage
    the last ``usage`` of an event carrying only its chunk.
    """
    samples: dict[int, _Assembly] = {}
    for position, raw in enumerate(events):
        try:
            event = _Event.model_validate(raw)
        except ValidationError as exc:
            raise ProviderError(
                f"stream event {position} is not a Humanloop ChatResponse chunk: "
                + describe_validation_error(exc)
            ) from None
        usage = event.usage if len(event.data) == 1 else None
        for chunk in event.data:
            samples.setdefault(chunk.index, _Assembly()).add(chunk, usage)
    return {index: samples[index].reply() for index in sorted(samples)}
