"""Providers: one wire format each, turning a planned call into a request and a response into
a ``ProviderReply``. The HTTP exchange itself belongs to the runner, so that recording and
replay (which key on the request a provider builds) sit between the two without either knowing.
"""

from __future__ import annotations

from ._anthropic import AnthropicMessagesProvider
from ._app import AppProvider
from ._base import Provider, ProviderReply, WireRequest
from ._humanloop import HumanloopProvider
from ._openai import OpenAIChatProvider

__all__ = ["Provider", "ProviderReply", "WireRequest", "get_provider", "provider_names"]

_OPENAI = OpenAIChatProvider()

# Humanloop's provider names that speak the OpenAI chat-completions format, plus the generic one.
_PROVIDERS: dict[str, Provider] = {
    name: _OPENAI for name in ("openai", "openai_compatible", "openai_azure", "groq", "mock")
}
_PROVIDERS["python"] = AppProvider()
_PROVIDERS["anthropic"] = AnthropicMessagesProvider()
_PROVIDERS["humanloop"] = HumanloopProvider()


def provider_names() -> list[str]:
    return sorted(_PROVIDERS)


def get_provider(name: str) -> Provider | None:
    return _PROVIDERS.get(name)
