"""Providers: one wire format each, turning a planned call into a request and a response into
a ``ProviderReply``. The HTTP exchange itself belongs to the runner, so that recording and
replay (which key on the request a provider builds) sit between the two without either knowing.

Each provider's module is imported when a config first names it: a suite that only speaks
OpenAI never loads the Anthropic or Humanloop models, nor the app target's httpx transports.
"""

from __future__ import annotations

import importlib
from typing import Final

from ._base import Provider, ProviderReply, WireRequest

__all__ = ["Provider", "ProviderReply", "WireRequest", "get_provider", "provider_names"]

_OPENAI: Final = ("._openai", "OpenAIChatProvider")

# Provider name -> (module, class). Humanloop's provider names that speak the OpenAI
# chat-completions format share one provider, as does the generic name.
_CLASSES: Final[dict[str, tuple[str, str]]] = {
    **{name: _OPENAI for name in ("openai", "openai_compatible", "openai_azure", "groq", "mock")},
    "python": ("pytest_chatexp._calls._app", "AppProvider"),  # TODO(issue 14): Target seam
    "anthropic": ("._anthropic", "AnthropicMessagesProvider"),
    "humanloop": ("._humanloop", "HumanloopProvider"),
}
_INSTANCES: dict[tuple[str, str], Provider] = {}


def provider_names() -> list[str]:
    return sorted(_CLASSES)


def get_provider(name: str) -> Provider | None:
    where = _CLASSES.get(name)
    if where is None:
        return None
    provider = _INSTANCES.get(where)
    if provider is None:
        module = importlib.import_module(where[0], __name__)
        provider = _INSTANCES[where] = getattr(module, where[1])()
    return provider
