"""The provider seam: build a wire request from a planned call, parse the wire response."""

from __future__ import annotations

import importlib
import json
import os
from abc import ABC, abstractmethod
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Final, Protocol, TypeVar
from urllib.parse import urlencode, urlsplit, urlunsplit

from pydantic import BaseModel, ValidationError

from .._errors import InvalidExperimentError, ProviderError
from .._experiment._config import ModelConfig
from .._experiment._humanloop import (
    ChatMessage,
    HumanloopLog,
    ToolCall,
    ToolResultResponse,
    Usage,
)
from .._experiment._spec import PlannedCall
from .._validation import describe_validation_error

__all__ = [
    "Provider",
    "ProviderReply",
    "StreamDecoder",
    "UrlStreamedRequest",
    "WireRequest",
    "any_event_item_has",
    "api_key_env",
    "arguments_object",
    "base_url_for",
    "embeddings_kind",
    "embeddings_providers",
    "endpoint_url",
    "get_provider",
    "humanloop_finish_reason",
    "parse_wire",
    "provider_for",
    "provider_names",
    "read_api_key",
    "with_query",
]

_W = TypeVar("_W", bound=BaseModel)


@dataclass(frozen=True, slots=True)
class WireRequest:
    """What goes over the wire, minus credentials: those are added by ``auth_headers`` at send
    time, so a WireRequest can be fingerprinted, recorded and shown in errors safely."""

    url: str
    body: dict[str, Any]
    # Headers the wire format needs that are not credentials (e.g. ``anthropic-version``).
    headers: Mapping[str, str] = field(default_factory=dict)

    @property
    def streams(self) -> bool:
        """The request asks for server-sent events: the answer is a list of event objects."""
        return self.body.get("stream") is True


@dataclass(frozen=True, slots=True)
class UrlStreamedRequest(WireRequest):
    """A request of an API that says "stream" with its URL, not its body (Gemini, Bedrock):
    the flag is kept beside the body."""

    stream: bool = False

    @property
    def streams(self) -> bool:
        return self.stream


@dataclass(frozen=True, slots=True)
class ProviderReply:
    """A provider's answer mapped to the common result shape."""

    message: ChatMessage
    raw_output: str
    finish_reason: str | None
    usage: Usage
    # Set when the provider chose the config (Humanloop experiments sample one per call).
    model_config_id: str | None = None
    # Set by providers that answer in Humanloop's own shape, so its fields come through as sent:
    # the log id (for feedback), the sanitized output, and the tools the platform ran.
    log_id: str | None = None
    output: str | None = None
    tool_results: list[ToolResultResponse] | None = None
    # The model's reasoning text or summary when the provider returns it (Anthropic thinking
    # blocks): kept on the sample, never sent back as such.
    reasoning: str | None = None
    # Humanloop only: the rest of its answer (log envelope, its provider exchange, rendering).
    humanloop: HumanloopLog | None = None


# OpenAI's finish reasons in Humanloop's vocabulary (Humanloop says "tool_call", singular).
_OPENAI_FINISH_REASONS: Final[Mapping[str, str]] = {
    "tool_calls": "tool_call",
    "function_call": "tool_call",
}


def parse_wire(model: type[_W], body: Any, what: str) -> _W:
    """``body`` read as a provider's wire model, else a ProviderError saying it is not ``what``."""
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        raise ProviderError(
            f"the response is not {what}: {describe_validation_error(exc)}"
        ) from None


def arguments_object(call: ToolCall, *, where: str, field: str) -> dict[str, Any]:
    """A tool call's arguments (JSON text, as OpenAI sends them) as the object the other APIs
    take (``field`` names it in the error: a history whose arguments are not an object cannot be
    sent)."""
    arguments = call.function.arguments
    try:
        value = json.loads(arguments) if arguments else {}
    except json.JSONDecodeError:
        value = None
    if not isinstance(value, dict):
        raise InvalidExperimentError(
            f"{where}: the arguments of tool call '{call.id}' must be a JSON object for "
            f"{field}, got {arguments!r}"
        )
    return value


def endpoint_url(base_url: str, path: str) -> str:
    """``path`` appended to the base URL's path, its query kept after it: a gateway that takes
    ``?api-version=...`` on its base URL gets it on every request, not glued before the path."""
    parts = urlsplit(base_url)
    return urlunsplit(parts._replace(path=f"{parts.path.rstrip('/')}/{path.lstrip('/')}"))


def humanloop_finish_reason(
    reason: str | None, table: Mapping[str, str] = _OPENAI_FINISH_REASONS
) -> str | None:
    """A provider's finish reason in Humanloop's vocabulary by ``table``; reasons it does not
    name pass through, and an empty one is None."""
    return table.get(reason, reason) if reason else None


def any_event_item_has(events: list[Any], items_key: str, field_name: str) -> bool:
    """Whether some event's ``items_key`` list holds an object with a truthy ``field_name``:
    how OpenAI (``choices``) and Humanloop (``data``) streams mark their last event."""
    return any(
        isinstance(event, dict)
        and any(
            isinstance(item, dict) and item.get(field_name) for item in event.get(items_key) or []
        )
        for event in events
    )


class StreamDecoder(Protocol):
    """Reads a streamed answer framed otherwise than as server-sent events (Bedrock's binary
    event stream): bytes in as they arrive, the events they complete out."""

    def feed(self, data: bytes) -> list[Any]:
        """The events ``data`` completes; ProviderError for a corrupt or oversized frame."""
        ...

    def end(self) -> str | None:
        """Why the stream stopped badly (inside a frame), or None."""
        ...


class Provider(ABC):
    """One wire format. Subclasses are stateless and shared by every call."""

    kind: ClassVar[str]
    default_base_url: ClassVar[str]
    default_api_key_env: ClassVar[str | None]
    base_url_env: ClassVar[str | None]
    # The same request always gets the same answer (an embedding, unlike a sampled chat
    # reply): a run sends it once and reuses the answer (``_calls/_reuse.py``).
    answers_repeat: ClassVar[bool] = False
    # Whether answers are generated tokens (False for embeddings: a call costs its prompt).
    generates: ClassVar[bool] = True

    @abstractmethod
    def build_request(self, call: PlannedCall, *, base_url: str) -> WireRequest:
        """The request body and URL for one call."""

    @abstractmethod
    def auth_headers(self, api_key: str) -> dict[str, str]:
        """Headers carrying the key. Never logged, recorded or shown."""

    @abstractmethod
    def parse_response(self, body: Any) -> ProviderReply:
        """Map a decoded 2xx answer; raise ProviderError if it is not the expected shape.

        For a streamed request (``WireRequest.streams``) ``body`` is the list of the stream's
        event objects, in order (each SSE ``data:`` line, decoded; ``[DONE]`` left out).
        """

    def read_answer(self, body: Any, *, streamed: bool) -> ProviderReply:
        """``parse_response``, after checking the answer's shape: a JSON object, or for a
        streamed request the list of its events. Before this check a bare ``[]`` answering a
        request that did not stream read as a stream with no events: an empty reply."""
        if not isinstance(body, list if streamed else dict):
            kind = "a list of events" if streamed else "a JSON object"
            raise ProviderError(f"the answer is not {kind}: {body!r:.80}")
        return self.parse_response(body)

    def key_env(self) -> str | None:
        """The variable holding the key when a config names none (Azure picks between two)."""
        return self.default_api_key_env

    def stream_finished(self, events: list[Any]) -> bool:
        """Whether a stream's events include its final one (a cut stream is retried)."""
        return True

    def stream_decoder(self) -> StreamDecoder | None:
        """How a streamed answer is framed: None for server-sent events (every provider but
        Bedrock), else a fresh decoder for one answer."""
        return None

    def first_token(self, event: Any) -> bool:
        """Whether a decoded stream event is the first one carrying output (first-token time)."""
        return True

    def sign(
        self, config: ModelConfig, url: str, headers: Mapping[str, str], body: bytes
    ) -> dict[str, str]:
        """Headers authenticating the exact request about to be sent, for a call without a key
        (Bedrock's SigV4). Never recorded, fingerprinted or shown, like ``auth_headers``."""
        return {}

    def default_url(self) -> str:
        """The public endpoint when neither the config nor the environment names one."""
        return self.default_base_url

    @abstractmethod
    def error_message(self, body: Any) -> str | None:
        """The provider's own error text from a non-2xx JSON body, if it has one."""


_OPENAI: Final = ("._openai", "OpenAIChatProvider")
_AZURE: Final = ("._azure", "AzureChatProvider")

# Provider name -> (module, class), each module imported when a config first names it.
# Humanloop's provider names that speak the OpenAI chat-completions format share one provider,
# as does the generic name.
_CLASSES: Final[dict[str, tuple[str, str]]] = {
    **{name: _OPENAI for name in ("openai", "openai_compatible", "groq", "mock")},
    "openai_responses": ("._responses", "ResponsesProvider"),
    # Humanloop calls Azure "openai_azure": the same deployment-URL chat provider.
    **{name: _AZURE for name in ("azure_openai", "openai_azure")},
    "azure_openai_responses": ("._azure", "AzureResponsesProvider"),
    "anthropic": ("._anthropic", "AnthropicMessagesProvider"),
    "bedrock": ("._bedrock", "BedrockConverseProvider"),
    "gemini": ("._gemini", "GeminiProvider"),
    "humanloop": ("._humanloop", "HumanloopProvider"),
    # Embeddings formats: named by the embedding check's own configs (``embeddings_kind``), not
    # listed among the providers a chat config may name.
    "openai_embeddings": ("._embeddings", "OpenAIEmbeddingsProvider"),
    "gemini_embeddings": ("._embeddings", "GeminiEmbeddingsProvider"),
    "bedrock_embeddings": ("._bedrock_embeddings", "BedrockEmbeddingsProvider"),
}
# A chat provider name -> the embeddings format of the same API (same key, same base URL).
_EMBEDDINGS: Final[dict[str, str]] = {
    **{
        name: "openai_embeddings"
        for name in ("openai", "openai_compatible", "groq", "mock", "openai_responses")
    },
    "gemini": "gemini_embeddings",
    "bedrock": "bedrock_embeddings",
}
_INSTANCES: dict[tuple[str, str], Provider] = {}


def provider_names() -> list[str]:
    return sorted(name for name in _CLASSES if name not in _EMBEDDINGS.values())


def embeddings_kind(provider: str) -> str | None:
    """The embeddings format served beside chat provider ``provider``'s API (its name in
    ``get_provider``), or None when that API has no embeddings endpoint."""
    return provider if provider in _EMBEDDINGS.values() else _EMBEDDINGS.get(provider)


def embeddings_providers() -> list[str]:
    """The chat provider names whose API has an embeddings endpoint."""
    return sorted(_EMBEDDINGS)


def get_provider(name: str) -> Provider | None:
    where = _CLASSES.get(name)
    if where is None:
        return None
    provider = _INSTANCES.get(where)
    if provider is None:
        module = importlib.import_module(where[0], __package__)
        provider = _INSTANCES[where] = getattr(module, where[1])()
    return provider


def provider_for(config: ModelConfig, *, also: Collection[str] = ()) -> Provider:
    """The wire format ``config`` names. ``also`` are the names served by something other than
    a wire format (the calls layer's app target), listed as supported in the one message for a
    provider nobody serves."""
    provider = get_provider(config.provider)
    if provider is None:
        supported = ", ".join(sorted({*provider_names(), *also}))
        raise InvalidExperimentError(
            f"model config '{config.display_name}': provider '{config.provider}' is not "
            f"supported (supported: {supported})"
        )
    return provider


def api_key_env(config: ModelConfig, provider: Provider) -> str | None:
    """The environment variable holding a config's key: the one place that rule lives, since
    both sending the key and keeping it out of every written file depend on it."""
    return config.api_key_env or provider.key_env()


def read_api_key(config: ModelConfig, provider: Provider) -> str | None:
    """The key a call of ``config`` sends, from its variable; a ProviderError when the config
    names a variable that is not set (a provider's default variable may be unset: a local
    server needs no key)."""
    name = api_key_env(config, provider)
    key = os.environ.get(name) if name else None
    if config.api_key_env and not key:
        raise ProviderError(
            f"model config '{config.display_name}': the environment variable "
            f"{config.api_key_env} (api_key_env) is not set"
        )
    return key


def base_url_for(config: ModelConfig, provider: Provider) -> str:
    """Where ``config``'s calls go: its ``base_url``, else the provider's base-URL variable,
    else the provider's public endpoint."""
    if config.base_url:
        return config.base_url
    from_env = os.environ.get(provider.base_url_env) if provider.base_url_env else None
    return (from_env or provider.default_url()).rstrip("/")


def with_query(url: str, query: Mapping[str, str]) -> str:
    """``url`` with ``query``'s parameters after its own (a base URL's ``?api-version=...``):
    a config's extra ``query``, added when a request is sent, never to the recorded URL."""
    if not query:
        return url
    parts = urlsplit(url)
    extra = urlencode(query)
    return urlunsplit(parts._replace(query=f"{parts.query}&{extra}" if parts.query else extra))
