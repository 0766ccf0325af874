"""What a config may ask of Humanloop's v4 chat API: which endpoint, which ``other`` keys, and
the linked organisation tools; read by :mod:`._humanloop`, errors naming config and field."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from .._errors import InvalidExperimentError
from .._experiment._config import ModelConfig

__all__ = [
    "ENDPOINTS",
    "PROVIDERS",
    "SAMPLE_KEY",
    "endpoint_of",
    "linked_tools",
]

ENDPOINTS: Final = ("chat", "chat-experiment", "chat-model-config", "chat-deployed")
# The v4 ``ModelProviders`` enum: the providers an inline config may name.
PROVIDERS: Final = (
    "openai",
    "openai_azure",
    "mock",
    "anthropic",
    "cohere",
    "replicate",
    "google",
    "groq",
)
# The ``metadata`` key that carries the sample index, so that the N samples of an input are N
# distinguishable requests: Humanloop logs it with each sample (filterable in its UI), and an
# experiment can then serve different configs to them (the reference server does, round-robin).
SAMPLE_KEY: Final = "chatexp_sample"
# Keys of a linked organisation tool (``LinkedToolRequest``), declared in
# ``other["humanloop_tools"]``.
_LINKED_TOOL_KEYS: Final = frozenset({"id", "source", "name", "description", "parameters"})

# The endpoint-specific request field of each stored-config endpoint.
_ENDPOINT_FIELD: Final[Mapping[str, str]] = {
    "chat-experiment": "experiment_id",
    "chat-model-config": "model_config_id",
    "chat-deployed": "environment",
}
# ``other`` keys that steer this provider and are not sent under their own name.
_CONTROL_KEYS: Final = frozenset(
    {
        "humanloop_endpoint",
        "humanloop_provider",
        "humanloop_tools",
        "stream",
        *_ENDPOINT_FIELD.values(),
    }
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
    if "metadata" in other and not isinstance(other["metadata"], Mapping):
        raise InvalidExperimentError(f"{where}: other['metadata'] must be a mapping")
    provider = other.get("humanloop_provider", "openai")
    if provider not in PROVIDERS:
        raise InvalidExperimentError(
            f"{where}: other['humanloop_provider'] is {provider!r}, which Humanloop's v4 API "
            "does not know; expected one of " + ", ".join(repr(name) for name in PROVIDERS)
        )
    if "humanloop_tools" in other and endpoint != "chat":
        raise InvalidExperimentError(
            f"{where}: other['humanloop_tools'] applies to /chat only; the stored config of "
            f"/{endpoint} links its own tools"
        )
    return endpoint


def linked_tools(config: ModelConfig) -> list[dict[str, Any]]:
    """``other["humanloop_tools"]``: tools saved to the Humanloop organisation, linked by id
    (``LinkedToolRequest``); Humanloop runs them and returns their ``tool_results``."""
    where = f"model config '{config.display_name}': other['humanloop_tools']"
    declared = config.other["humanloop_tools"]
    if not isinstance(declared, list | tuple):
        raise InvalidExperimentError(f"{where} must be a list of {{'id': ...}} mappings")
    linked = []
    for position, tool in enumerate(declared):
        at = f"{where}[{position}]"
        if not isinstance(tool, Mapping) or not isinstance(tool.get("id"), str):
            raise InvalidExperimentError(f"{at} must be a mapping with a string 'id'")
        unknown = sorted(set(tool) - _LINKED_TOOL_KEYS)
        if unknown:
            raise InvalidExperimentError(
                f"{at} has unknown keys {unknown}; a linked tool takes "
                + ", ".join(sorted(_LINKED_TOOL_KEYS))
            )
        if tool.get("source", "organization") != "organization":
            raise InvalidExperimentError(f"{at}: 'source' must be 'organization'")
        linked.append({**tool, "source": "organization"})
    return linked
