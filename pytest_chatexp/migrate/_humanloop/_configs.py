"""Humanloop model configs (v4, as ``GET /model-configs/{id}`` returned them), prompt versions
(v5, serialized as JSON) and ``.prompt`` files (v5: YAML front matter, then ``<system>`` /
``<user>`` / ``<assistant>`` tagged messages) -> ``ConfigRecord``.

Humanloop's provider names become the plugin's; one the plugin does not speak is refused with
the file and field. Fields with the same meaning keep their name; anything else is listed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..._reading import YamlProblem, load_yaml
from .._records import ConfigRecord, MigrationError, TemplateMessage, Unmapped

__all__ = ["PROVIDERS", "ConfigSource", "config_record", "parse_prompt_file"]

# Humanloop provider -> the plugin's. Humanloop's "mock" answered without a model; cohere,
# replicate and the rest have no wire format here: all refused by name.
PROVIDERS: Mapping[str, str] = {
    "openai": "openai",
    "openai_azure": "azure_openai",
    "azure": "azure_openai",
    "anthropic": "anthropic",
    "google": "gemini",
    "gemini": "gemini",
    "bedrock": "bedrock",
    "groq": "groq",
}
# Sampling fields with the same name and meaning in ModelConfig.
_SAME = ("temperature", "top_p", "stop", "presence_penalty", "frequency_penalty", "seed")
# Fields that describe the config, not the request: never listed as lost.
_DESCRIPTIVE = frozenset(
    {"id", "type", "name", "path", "version_id", "version_name", "version_description",
     "description", "directory_id", "created_at", "updated_at", "created_by", "status",
     "last_used_at", "version_logs_count", "total_logs_count", "inputs", "environments",
     "commit_message", "project_id", "evaluator_aggregates", "schema", "readme", "tags",
     "model", "provider", "endpoint", "chat_template", "prompt_template", "template",
     "template_language", "max_tokens", "tools", "linked_tools", "response_format",
     "reasoning_effort", "other", "tool_configs", "attributes", "organization_id"}
)  # fmt: skip
_TAG = re.compile(r"<(system|user|assistant)>\s*\n?(.*?)\n?\s*</\1>", re.DOTALL)


@dataclass(frozen=True, slots=True)
class ConfigSource:
    """A config as read, with where it came from and the ids logs may name it by."""

    record: ConfigRecord
    ids: frozenset[str]  # config id, prompt id, version id
    where: str


def config_record(
    data: Mapping[str, Any], *, where: str, default_name: str
) -> tuple[ConfigSource, list[Unmapped]]:
    """A v4 model config or a v5 prompt version (``where`` names the file, e.g. ``a.json``)."""
    unmapped: list[Unmapped] = []
    provider_name = data.get("provider", "openai")
    if not isinstance(provider_name, str) or provider_name not in PROVIDERS:
        raise MigrationError(
            f"{where}: provider: '{provider_name}' is not a provider this plugin speaks "
            f"(supported: {', '.join(sorted(PROVIDERS))})"
        )
    if PROVIDERS[provider_name] == "azure_openai":  # Humanloop held the endpoint elsewhere
        unmapped.append(
            Unmapped(
                f"{where}: provider",
                "Azure OpenAI: set AZURE_OPENAI_ENDPOINT (or the config's base_url) to your "
                "resource; the model is the deployment's name",
            )
        )
    model = data.get("model")
    if not isinstance(model, str) or not model:
        raise MigrationError(f"{where}: model: expected the model's name, got {model!r}")
    endpoint = data.get("endpoint") or "chat"
    template = data.get("template", data.get("chat_template"))
    if endpoint == "complete" or (template is None and "prompt_template" in data):
        text = data.get("prompt_template") if template is None else template
        if not isinstance(text, str):
            raise MigrationError(f"{where}: prompt_template: expected the prompt's text")
        messages: tuple[TemplateMessage, ...] = (TemplateMessage("user", _spaces(text)),)
        unmapped.append(
            Unmapped(f"{where}: endpoint", "a completion prompt is sent as one chat user message")
        )
    elif endpoint != "chat":
        raise MigrationError(
            f"{where}: endpoint: '{endpoint}' cannot be imported (only chat and complete)"
        )
    else:
        messages = _template(template, f"{where}: template" if "template" in data else
                             f"{where}: chat_template", unmapped)  # fmt: skip
    params: dict[str, Any] = {k: data[k] for k in _SAME if data.get(k) is not None}
    max_tokens = data.get("max_tokens")
    if isinstance(max_tokens, int) and max_tokens > 0:  # -1 is Humanloop's "no limit"
        params["max_tokens"] = max_tokens
    if data.get("response_format") is not None:
        params["response_format"] = data["response_format"]
    if isinstance(data.get("reasoning_effort"), str):
        params["reasoning"] = {"effort": data["reasoning_effort"]}
    if isinstance(data.get("other"), Mapping) and data["other"]:
        params["other"] = dict(data["other"])
    tools = [
        _tool(tool, f"{where}: tools[{n}]", unmapped)
        for n, tool in enumerate(data.get("tools") or [])
    ]
    if tools := [tool for tool in tools if tool is not None]:
        params["tools"] = tools
    for n, _ in enumerate(data.get("linked_tools") or []):
        unmapped.append(
            Unmapped(f"{where}: linked_tools[{n}]", "a linked tool: copy its schema into tools")
        )
    for key in data:
        if key not in _DESCRIPTIVE and key not in _SAME:
            unmapped.append(Unmapped(f"{where}: {key}", "not carried over"))
    raw_name = data.get("name") or data.get("path") or default_name
    name = str(raw_name).rsplit("/", 1)[-1] or default_name
    if isinstance(data.get("version_name"), str) and data["version_name"]:
        name = f"{name}@{data['version_name']}"
    description = data.get("version_description") or data.get("description")
    record = ConfigRecord(
        name,
        PROVIDERS[provider_name],
        model,
        messages,
        params,
        description if isinstance(description, str) and description else None,
    )
    ids = frozenset(
        str(data[key]) for key in ("id", "version_id", "config_id") if data.get(key) is not None
    )
    return ConfigSource(record, ids, where), unmapped


def _spaces(text: str) -> str:
    """``{{ name }}`` as ``{{name}}``: the same placeholder, written as the plugin's docs do."""
    return re.sub(r"\{\{\s*([^{}\s]+)\s*\}\}", r"{{\1}}", text)


def _template(value: Any, where: str, unmapped: list[Unmapped]) -> tuple[TemplateMessage, ...]:
    if isinstance(value, str):
        return (TemplateMessage("user", _spaces(value)),)
    if not isinstance(value, list) or not value:
        raise MigrationError(f"{where}: expected a list of messages with role and content")
    messages = []
    for n, message in enumerate(value):
        if not isinstance(message, Mapping) or message.get("role") not in (
            "system", "user", "assistant", "developer"
        ):  # fmt: skip
            raise MigrationError(f"{where}[{n}].role: expected system, user or assistant")
        content = message.get("content")
        if isinstance(content, list):  # content parts: text kept, images listed
            texts = []
            for m, part in enumerate(content):
                if isinstance(part, Mapping) and part.get("type") == "text":
                    texts.append(str(part.get("text", "")))
                else:
                    unmapped.append(Unmapped(f"{where}[{n}].content[{m}]", "not text: dropped"))
            content = "\n".join(texts)
        if not isinstance(content, str):
            raise MigrationError(f"{where}[{n}].content: expected text")
        role = "system" if message["role"] == "developer" else message["role"]
        messages.append(TemplateMessage(role, _spaces(content)))
    return tuple(messages)


def _tool(tool: Any, where: str, unmapped: list[Unmapped]) -> dict[str, Any] | None:
    if isinstance(tool, Mapping) and isinstance(tool.get("function"), Mapping):
        tool = tool["function"]
    if not isinstance(tool, Mapping):
        raise MigrationError(f"{where}: expected a tool with a name and parameters")
    if "name" not in tool and tool.get("id") is not None:
        unmapped.append(
            Unmapped(where, f"linked tool {tool['id']}: copy its schema into the config's tools")
        )
        return None
    if not isinstance(tool.get("name"), str):
        raise MigrationError(f"{where}.name: expected the tool's name")
    fields: dict[str, Any] = {"name": tool["name"]}
    if tool.get("description"):
        fields["description"] = tool["description"]
    if tool.get("parameters") is not None:
        fields["parameters"] = tool["parameters"]
    if tool.get("strict") is not None:
        fields["strict"] = tool["strict"]
    return fields


def parse_prompt_file(text: str, *, where: str) -> dict[str, Any]:
    """A ``.prompt`` file as prompt-version data: its front matter and its ``template``."""
    lines = text.lstrip("\ufeff").split("\n")
    if not lines or lines[0].strip() != "---":
        raise MigrationError(f"{where}: front matter: a .prompt file starts with a '---' line")
    try:
        end = next(n for n in range(1, len(lines)) if lines[n].strip() == "---")
    except StopIteration:
        raise MigrationError(
            f"{where}: front matter: no closing '---' line after the YAML front matter"
        ) from None
    try:
        front = load_yaml("\n".join(lines[1:end]))
    except YamlProblem as exc:
        line = f" (line {exc.line + 1})" if exc.line is not None else ""
        raise MigrationError(f"{where}: front matter: invalid YAML{line}: {exc.problem}") from None
    if not isinstance(front, Mapping):
        raise MigrationError(
            f"{where}: front matter: expected YAML fields (model, provider, ...), "
            f"got {type(front).__name__}"
        )
    body = "\n".join(lines[end + 1 :])
    found = list(_TAG.finditer(body))
    leftover = _TAG.sub("", body).strip()
    if leftover and found:
        raise MigrationError(
            f"{where}: template: text outside <system>/<user>/<assistant> tags: {leftover[:40]!r}"
        )
    template: Any = [{"role": m.group(1), "content": m.group(2)} for m in found] or body.strip()
    return {**front, "template": template}
