"""promptfoo providers -> the plugin's provider names, models and config fields.

promptfoo spells a provider ``family:kind:model`` (``openai:chat:gpt-4o``) or ``family:model``;
the plugin's names are ``_providers/_base.py``'s table. Provider config keys become ModelConfig
fields where one means the same; any other key is listed, never silently dropped.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .._records import MigrationError, Unmapped
from ._source import Source

__all__ = ["ProviderRecord", "grader_provider", "read_providers"]

# family (and kind) -> the plugin's provider. The kinds promptfoo has that this plugin does not
# speak (embeddings, completion, image, assistants...) are refused by name.
_FAMILIES: Mapping[str, Mapping[str | None, str]] = {
    "openai": {None: "openai", "chat": "openai", "responses": "openai_responses"},
    "anthropic": {None: "anthropic", "messages": "anthropic"},
    "google": {None: "gemini"},
    "vertex": {None: "gemini"},
    "azure": {"chat": "azure_openai", "responses": "azure_openai_responses"},
    "azureopenai": {"chat": "azure_openai", "responses": "azure_openai_responses"},
    "bedrock": {None: "bedrock", "converse": "bedrock"},
    "groq": {None: "groq"},
}
# promptfoo config keys -> ModelConfig fields (the same meaning, another spelling).
_FIELDS: Mapping[str, str] = {
    "temperature": "temperature",
    "max_tokens": "max_tokens",
    "max_completion_tokens": "max_tokens",
    "max_output_tokens": "max_tokens",
    "maxOutputTokens": "max_tokens",
    "maxTokens": "max_tokens",
    "top_p": "top_p",
    "topP": "top_p",
    "stop": "stop",
    "stopSequences": "stop",
    "stop_sequences": "stop",
    "presence_penalty": "presence_penalty",
    "frequency_penalty": "frequency_penalty",
    "seed": "seed",
    "response_format": "response_format",
    "tool_choice": "tool_choice",
    "apiBaseUrl": "base_url",
    "apiHost": "base_url",
    "apiKeyEnvar": "api_key_env",
}


@dataclass(frozen=True, slots=True)
class ProviderRecord:
    label: str
    provider: str
    model: str
    params: Mapping[str, Any]
    prompts: tuple[str, ...] | None  # the prompt labels it runs (None: all)
    where: str


def read_providers(source: Source) -> tuple[list[ProviderRecord], list[Unmapped]]:
    key = "providers" if "providers" in source.data else "targets"
    raw = source.data[key]
    items: list[tuple[Any, str]] = []
    if isinstance(raw, str):
        items.append((raw, key))
    elif isinstance(raw, list):
        items.extend((item, f"{key}[{n}]") for n, item in enumerate(raw))
    else:
        raise MigrationError(f"{source.where(key)}: expected a list of providers")
    records: list[ProviderRecord] = []
    unmapped: list[Unmapped] = []
    for item, field in items:
        record, skipped = _provider(source, item, field)
        records.append(record)
        unmapped += skipped
    labels = [record.label for record in records]
    for record in records:
        if labels.count(record.label) > 1:
            raise MigrationError(
                f"{record.where}: two providers are labelled '{record.label}'; give each a label"
            )
    return records, unmapped


def _provider(source: Source, item: Any, field: str) -> tuple[ProviderRecord, list[Unmapped]]:
    if isinstance(item, str):
        item = {"id": item}
    elif isinstance(item, Mapping) and "id" not in item and len(item) == 1:
        # The legacy form: {"openai:gpt-4o": {config: ...}}
        ((provider_id, options),) = item.items()
        item = {"id": provider_id, **(options if isinstance(options, Mapping) else {})}
    if not isinstance(item, Mapping) or not isinstance(item.get("id"), str):
        raise MigrationError(
            f"{source.where(field)}: expected a provider id or an object with 'id'"
        )
    where = source.where(f"{field}.id")
    provider, model = map_provider_id(item["id"], where)
    config = item.get("config") or {}
    if not isinstance(config, Mapping):
        raise MigrationError(f"{source.where(field)}.config: expected a mapping")
    params, unmapped = map_config(config, source.where(f"{field}.config"))
    for key in item:
        if key not in ("id", "label", "config", "prompts"):
            unmapped.append(Unmapped(source.where(f"{field}.{key}"), "not carried over"))
    prompts = item.get("prompts")
    if prompts is not None and not (
        isinstance(prompts, list) and all(isinstance(p, str) for p in prompts)
    ):
        raise MigrationError(f"{source.where(field)}.prompts: expected a list of prompt labels")
    if item["id"].startswith("vertex:"):
        unmapped.append(
            Unmapped(
                where,
                "Vertex AI is called through the Gemini API here (provider gemini, GEMINI_API_KEY "
                "or base_url): Vertex's own endpoint and credentials are not",
            )
        )
    label = str(item.get("label") or item["id"])
    return (
        ProviderRecord(label, provider, model, params, tuple(prompts) if prompts else None, where),
        unmapped,
    )


def map_provider_id(provider_id: str, where: str) -> tuple[str, str]:
    """``openai:chat:gpt-4o`` -> ("openai", "gpt-4o"); a MigrationError for anything else."""
    family, _, rest = provider_id.partition(":")
    kinds = _FAMILIES.get(family)
    if kinds is None or not rest:
        supported = ", ".join(sorted(_FAMILIES))
        raise MigrationError(
            f"{where}: provider '{provider_id}' is not supported (supported families: "
            f"{supported}; e.g. openai:gpt-4o-mini, anthropic:messages:claude-sonnet-4-0)"
        )
    kind, _, model = rest.partition(":")
    if kind in kinds and model:
        return kinds[kind], model
    if None in kinds and rest and not (kind in _KNOWN_KINDS and model):
        return kinds[None], rest
    raise MigrationError(
        f"{where}: provider '{provider_id}' is not supported: '{family}:{kind}' is not a chat "
        f"API this plugin speaks (kinds: {', '.join(k for k in kinds if k) or 'none'})"
    )


# Kinds promptfoo names that are not chat APIs: ``openai:embedding:...`` must not become a model
# called "embedding:...".
_KNOWN_KINDS = frozenset(
    {"chat", "responses", "messages", "completion", "embedding", "embeddings", "assistant",
     "image", "realtime", "moderation", "converse", "live", "transcription"}
)  # fmt: skip


def map_config(config: Mapping[str, Any], where: str) -> tuple[dict[str, Any], list[Unmapped]]:
    params: dict[str, Any] = {}
    unmapped: list[Unmapped] = []
    for key, value in config.items():
        if key == "generationConfig" and isinstance(value, Mapping):  # Gemini's own nesting
            nested, more = map_config(value, f"{where}.generationConfig")
            params.update(nested)
            unmapped += more
        elif key == "tools" and isinstance(value, list):
            params["tools"] = [_tool(tool, f"{where}.tools[{n}]") for n, tool in enumerate(value)]
        elif key == "apiKey":
            unmapped.append(
                Unmapped(
                    f"{where}.apiKey",
                    "a key written in the config is not copied: set the provider's key variable",
                )
            )
        elif key == "reasoning_effort" and isinstance(value, str):
            params["reasoning"] = {"effort": value}
        elif key in _FIELDS:
            params[_FIELDS[key]] = value
        else:
            unmapped.append(Unmapped(f"{where}.{key}", "not carried over"))
    return params, unmapped


def _tool(tool: Any, where: str) -> dict[str, Any]:
    """An OpenAI function tool or an Anthropic tool -> {name, description, parameters}."""
    if isinstance(tool, Mapping) and isinstance(tool.get("function"), Mapping):
        tool = tool["function"]
    if not (isinstance(tool, Mapping) and isinstance(tool.get("name"), str)):
        raise MigrationError(f"{where}: expected a function tool with a name")
    fields: dict[str, Any] = {"name": tool["name"]}
    if tool.get("description"):
        fields["description"] = tool["description"]
    parameters = tool.get("parameters", tool.get("input_schema"))
    if parameters is not None:
        fields["parameters"] = parameters
    return fields


def grader_provider(value: Any, where: str) -> tuple[str, str, dict[str, Any], list[Unmapped]]:
    """The grading provider of ``options.provider`` (an id or an object)."""
    if isinstance(value, str):
        provider, model = map_provider_id(value, where)
        return provider, model, {}, []
    if isinstance(value, Mapping) and isinstance(value.get("id"), str):
        provider, model = map_provider_id(value["id"], where)
        params, unmapped = map_config(value.get("config") or {}, f"{where}.config")
        return provider, model, params, unmapped
    raise MigrationError(f"{where}: expected a provider id or an object with 'id'")
