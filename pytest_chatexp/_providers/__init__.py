"""Providers: one wire format each, turning a planned call into a request and a response into
a ``ProviderReply``. The HTTP exchange itself belongs to the calls layer, so that recording and
replay (which key on the request a provider builds) sit between the two without either knowing.

Each provider's module is imported when a config first names it (``get_provider``): a suite
that only speaks OpenAI never loads the Anthropic or Humanloop models.
"""

from __future__ import annotations

from ._base import Provider, ProviderReply, WireRequest, get_provider, provider_names

__all__ = ["Provider", "ProviderReply", "WireRequest", "get_provider", "provider_names"]
