"""Azure OpenAI: the chat-completions and Responses wire formats at Azure's URLs, with its keys.

Two provider names, one per API, as the OpenAI ones are:

* ``azure_openai`` (also Humanloop's ``openai_azure``): chat completions at the deployment URL
  ``{endpoint}/openai/deployments/{deployment}/chat/completions?api-version=...``. The
  deployment is the config's ``model``. ``api-version`` is mandatory there: the base URL's own
  ``?api-version=`` wins, then ``$OPENAI_API_VERSION`` (as the official SDK reads it), then
  :data:`DEFAULT_API_VERSION`.
* ``azure_openai_responses``: the Responses API at ``{endpoint}/openai/v1/responses`` (Azure's
  v1 API, which takes no ``api-version``); ``model`` is the deployment name.

The endpoint is the config's ``base_url`` or ``$AZURE_OPENAI_ENDPOINT``. The key is sent as
the ``api-key`` header, from ``$AZURE_OPENAI_API_KEY``; without it, a Microsoft Entra token in
``$AZURE_OPENAI_AD_TOKEN`` is sent as ``Authorization: Bearer``. A query string is never part
of a recording or a fingerprint (``endpoint_identity`` keeps host and path), so the api-version
can change without re-recording.
"""

from __future__ import annotations

import os
from typing import ClassVar, Final
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

from .._errors import InvalidExperimentError
from .._experiment._spec import PlannedCall
from ._base import WireRequest, endpoint_url
from ._openai import OpenAIChatProvider
from ._responses import ResponsesProvider

__all__ = ["DEFAULT_API_VERSION", "AzureChatProvider", "AzureResponsesProvider"]

#: The api-version sent when neither the base URL nor $OPENAI_API_VERSION gives one: the
#: latest generally available data-plane inference version.
DEFAULT_API_VERSION: Final = "2024-10-21"
API_KEY_ENV: Final = "AZURE_OPENAI_API_KEY"
AD_TOKEN_ENV: Final = "AZURE_OPENAI_AD_TOKEN"
# No public default: every Azure resource has its own host. A placeholder that says so.
_NO_ENDPOINT: Final = "https://azure-openai-endpoint.invalid"


class _AzureAuth:
    """What both Azure providers share: where the endpoint and the key come from."""

    default_base_url: ClassVar[str] = _NO_ENDPOINT
    default_api_key_env: ClassVar[str | None] = API_KEY_ENV
    base_url_env: ClassVar[str | None] = "AZURE_OPENAI_ENDPOINT"

    def key_env(self) -> str | None:
        # An API key wins; an Entra token is used only when no key is set.
        if not os.environ.get(API_KEY_ENV) and os.environ.get(AD_TOKEN_ENV):
            return AD_TOKEN_ENV
        return API_KEY_ENV

    def auth_headers(self, api_key: str) -> dict[str, str]:
        if api_key == os.environ.get(AD_TOKEN_ENV):
            return {"Authorization": f"Bearer {api_key}"}
        return {"api-key": api_key}


def _endpoint(base_url: str, call: PlannedCall) -> str:
    if base_url.rstrip("/") == _NO_ENDPOINT:
        raise InvalidExperimentError(
            f"model config '{call.config.display_name}' (provider '{call.config.provider}') has "
            "no Azure endpoint: set AZURE_OPENAI_ENDPOINT or the config's base_url to your "
            "resource, e.g. https://my-resource.openai.azure.com"
        )
    return base_url


def with_api_version(url: str) -> str:
    """``url`` with an ``api-version`` query parameter, unless it has one already."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    if any(name == "api-version" for name, _ in query):
        return url
    version = os.environ.get("OPENAI_API_VERSION") or DEFAULT_API_VERSION
    return urlunsplit(parts._replace(query=urlencode([*query, ("api-version", version)])))


class AzureChatProvider(_AzureAuth, OpenAIChatProvider):
    kind: ClassVar[str] = "azure_openai"

    def build_request(self, call: PlannedCall, *, base_url: str) -> WireRequest:
        wire = super().build_request(call, base_url=_endpoint(base_url, call))
        deployment = quote(call.config.model, safe="")
        path = f"openai/deployments/{deployment}/chat/completions"
        url = with_api_version(endpoint_url(base_url, path))
        return WireRequest(url=url, body=wire.body, headers=wire.headers)


class AzureResponsesProvider(_AzureAuth, ResponsesProvider):
    kind: ClassVar[str] = "azure_openai_responses"
    path: ClassVar[str] = "openai/v1/responses"

    def url_for(self, base_url: str, call: PlannedCall) -> str:
        return super().url_for(_endpoint(base_url, call), call)
